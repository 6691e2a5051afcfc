/** `<layers>/report.toml` (lc:platform/files ExportReport): what the export wrote. */
import { Fields, type Origin, parseToml, toToml } from "../toml.ts";

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

/** The image digest a report.toml names (undefined when it names none). */
export function reportDigest(text: string, origin: Origin): string | undefined {
  return new Fields(parseToml(text, origin), origin).sub("image")?.str("digest");
}
