/** Random images for registry tests, written into OCI layouts with berth's own layout code. */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import { digestBytes } from "../../../src/oci/digest.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import type { Platform } from "../../../src/oci/platform.ts";

export interface RandomImageOptions {
  layers?: number;
  /** Bytes of random content per layer (before gzip, which does not shrink random data). */
  layerSize?: number;
  platform?: Platform | undefined;
}

function json(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc));
}

/** Write one random image (gzip layers of random bytes, a config, a manifest) into a layout. */
async function writeRandomImage(layout: OciLayout, o: RandomImageOptions = {}): Promise<Descriptor> {
  const platform = o.platform ?? { os: "linux", architecture: "amd64" };
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < (o.layers ?? 2); i++) {
    const raw = randomBytes(o.layerSize ?? 4096);
    diffIds.push(digestBytes(raw));
    layers.push(await layout.writeBlobBytes(gzipSync(raw, { level: 1 }), MediaType.OciLayerGzip));
  }
  const config = await layout.writeBlobBytes(
    json({
      architecture: platform.architecture,
      os: platform.os,
      config: {},
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
    MediaType.OciConfig,
  );
  const manifest = json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers });
  const desc = await layout.writeBlobBytes(manifest, MediaType.OciManifest);
  return { ...desc, platform };
}

/** Write a layout at `dir` holding a random image (or, with several platforms, an index) tagged `tag`. */
export async function randomLayout(
  dir: string,
  tag: string,
  o: { platforms?: Platform[]; layers?: number; layerSize?: number } = {},
): Promise<{ layout: OciLayout; root: Descriptor }> {
  const layout = await OciLayout.openOrCreate(dir);
  let root: Descriptor;
  if (o.platforms && o.platforms.length > 1) {
    const manifests: Descriptor[] = [];
    for (const platform of o.platforms) manifests.push(await writeRandomImage(layout, { ...o, platform }));
    root = await layout.writeBlobBytes(
      json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }),
      MediaType.OciIndex,
    );
  } else {
    const m = await writeRandomImage(layout, { ...o, platform: o.platforms?.[0] });
    root = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  }
  await layout.tag(root, tag);
  return { layout, root };
}
