/** Helpers of the oci/ and tar/ mirror tests. */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { BerthError } from "../../src/errors.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { putBlob, writeIndex } from "./layout.ts";

/** The BerthError `fn` throws (or rejects with); fails the test if it throws nothing or something else. */
export async function errorOf(fn: () => unknown): Promise<BerthError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error("expected a BerthError, but nothing was thrown");
}

/** A small image written by hand into the OCI layout at `dir` (blobs only; index.json is the caller's). */
export interface LayoutImage {
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
  /** The manifest's bytes, as written. */
  bytes: Buffer;
}

/** Write bytes as a blob of the layout at `dir`, by hand (test/helpers/layout.ts); returns its descriptor. */
export async function putDocument(
  dir: string,
  bytes: Buffer | string,
  mediaType: string,
): Promise<Descriptor> {
  const { digest, size } = await putBlob(dir, bytes, mediaType);
  return { mediaType, digest, size };
}

export async function layoutImage(dir: string, seed: string): Promise<LayoutImage> {
  const raw = Buffer.from(`layer of ${seed}\n`);
  const layer = await putDocument(dir, gzipSync(raw), MediaType.OciLayerGzip);
  const config = await putDocument(
    dir,
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [`sha256:${createHash("sha256").update(raw).digest("hex")}`] },
    }),
    MediaType.OciConfig,
  );
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }),
  );
  const manifest = await putDocument(dir, bytes, MediaType.OciManifest);
  return { manifest, config, layer, bytes };
}

/** An OCI layout at `dir` (written by hand, empty index) holding one `layoutImage` per seed, opened by berth. */
export async function handLayout<const S extends string[]>(
  dir: string,
  ...seeds: S
): Promise<{ layout: OciLayout; images: { [K in keyof S]: LayoutImage } }> {
  await writeIndex(dir, []);
  const images: LayoutImage[] = [];
  for (const seed of seeds) images.push(await layoutImage(dir, seed));
  return { layout: await OciLayout.open(dir), images: images as { [K in keyof S]: LayoutImage } };
}
