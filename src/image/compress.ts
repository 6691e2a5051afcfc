/**
 * Compress an image's uncompressed layers (a `docker save` archive's `layer.tar`s, loaded as they were) with
 * berth's gzip, as docker and skopeo do before a push. The same layers give the same bytes (fixed-size blocks,
 * fixed header: layer/gzip.ts), so pushing one image twice gives one manifest digest. The config, and with it
 * the DiffIDs, stays as it is.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createCompressor } from "../layer/compress.ts";
import type { BlobSource } from "../oci/blob.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import { isDocker, layerCompression, MediaType } from "../oci/mediatype.ts";

export interface CompressedImage {
  descriptor: Descriptor;
  manifest: Buffer;
  /** Serves the new layers from `dir` and every other blob from the image's own source. */
  source: BlobSource;
  /** How many layers were compressed. */
  compressed: number;
}

/**
 * The image with every uncompressed layer gzip-compressed into `dir` (which the caller removes), or undefined
 * when none is uncompressed.
 */
export async function compressLayers(image: Image, dir: string): Promise<CompressedImage | undefined> {
  const layers = image.manifest.layers;
  if (!layers.some((l) => layerCompression(l.mediaType) === "none")) return undefined;
  const files = new Map<string, string>();
  const docker = isDocker(image.mediaType);
  const out: Descriptor[] = [];
  for (const layer of layers) {
    if (layerCompression(layer.mediaType) !== "none") {
      out.push(layer);
      continue;
    }
    const path = join(dir, `${files.size}.tar.gz`);
    // the layer's own algorithm (a sha512 image stays sha512-addressed)
    const algorithm = layer.digest.slice(0, layer.digest.indexOf(":"));
    const hash = createHash(algorithm);
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(
      await image.source.openBlob(layer),
      createCompressor({ compression: "gzip" }),
      count,
      createWriteStream(path),
    );
    const digest = `${algorithm}:${hash.digest("hex")}` as Digest;
    files.set(digest, path);
    const mediaType =
      layer.mediaType === MediaType.OciLayerNondist
        ? MediaType.OciLayerNondistGzip
        : docker
          ? MediaType.DockerLayer
          : MediaType.OciLayerGzip;
    out.push({ mediaType, digest, size, ...(layer.annotations ? { annotations: layer.annotations } : {}) });
  }
  const manifest = Buffer.from(JSON.stringify({ ...image.manifest, layers: out }));
  const descriptor: Descriptor = {
    mediaType: image.mediaType,
    digest: `sha256:${createHash("sha256").update(manifest).digest("hex")}` as Digest,
    size: manifest.length,
  };
  const base = image.source;
  const source: BlobSource = {
    openBlob: async (desc) => {
      if (desc.digest === descriptor.digest) return Readable.from([manifest]);
      const file = files.get(desc.digest);
      return file ? createReadStream(file) : base.openBlob(desc);
    },
    originOf: (desc) =>
      files.has(desc.digest) || desc.digest === descriptor.digest
        ? undefined
        : (base.originOf?.(desc) ?? base),
  };
  return { descriptor, manifest, source, compressed: files.size };
}
