/** Small images made by hand in an OCI layout (no umoci, no base image): one tar layer per list of entries. */
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import { putBlob, writeIndex } from "../../helpers/layout.ts";
import { type HandEntry, sha256, tarOf } from "../../layer/helpers.ts";

/**
 * Write one image per prefix of `layers` (the first has layer 1, the next layers 1-2, …) to `layout`, tagged
 * `1`, `2`, …; returns their manifest descriptors.
 */
export async function handImages(layout: string, layers: HandEntry[][]): Promise<Descriptor[]> {
  const tars = await Promise.all(layers.map((entries) => tarOf(entries)));
  const descs = [];
  for (const t of tars) descs.push(await putBlob(layout, t, "application/vnd.oci.image.layer.v1.tar"));
  const images: Descriptor[] = [];
  for (let n = 1; n <= tars.length; n++) {
    const config = await putBlob(
      layout,
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: tars.slice(0, n).map(sha256) },
      }),
      "application/vnd.oci.image.config.v1+json",
    );
    const manifest = await putBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config,
        layers: descs.slice(0, n),
      }),
      "application/vnd.oci.image.manifest.v1+json",
    );
    images.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": String(n) } });
  }
  await writeIndex(layout, images);
  return images;
}
