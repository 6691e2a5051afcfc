/** `<layers>/report.toml` (lc:platform/files ExportReport): what the export wrote. */
import { toToml } from "../toml.ts";

export interface Report {
  tags: string[];
  digest: string;
  imageId: string;
  manifestSize: number;
}

export function encodeReport(r: Report): string {
  return toToml({
    image: { tags: r.tags, digest: r.digest, "image-id": r.imageId, "manifest-size": r.manifestSize },
  });
}
