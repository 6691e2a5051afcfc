/** Small images made by hand in an OCI layout (no umoci, no base image): one tar layer per list of entries. */
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import { type Desc, putBlob, writeIndex } from "../../helpers/layout.ts";
import { type HandEntry, sha256, tarOf } from "../../layer/helpers.ts";

/** An amd64 image of `layers` (their DiffIDs `diffIds`) whose container config is `config`, tagged `tag`. */
async function putImage(
  layout: string,
  config: Record<string, unknown>,
  layers: Desc[],
  diffIds: string[],
  tag: string,
): Promise<Descriptor> {
  const configDesc = await putBlob(
    layout,
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = await putBlob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: configDesc,
      layers,
    }),
    "application/vnd.oci.image.manifest.v1+json",
  );
  return { ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } };
}

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
    images.push(await putImage(layout, {}, descs.slice(0, n), tars.slice(0, n).map(sha256), String(n)));
  }
  await writeIndex(layout, images);
  return images;
}

/** An image with no layer whose config sets `env`, alone in the layout `layout`, tagged `1`. */
export async function envImage(layout: string, env: string[]): Promise<void> {
  await writeIndex(layout, [await putImage(layout, { Env: env }, [], [], "1")]);
}
