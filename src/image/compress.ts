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
import { BerthError } from "../errors.ts";
import { createCompressor } from "../layer/compress.ts";
import type { BlobSource } from "../oci/blob.ts";
import { decompressAs } from "../oci/compression.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import { type Compression, isDocker, layerCompression, MediaType, ociLayerType } from "../oci/mediatype.ts";

export interface CompressedImage {
  descriptor: Descriptor;
  manifest: Buffer;
  /** Serves the new layers from `dir` and every other blob from the image's own source. */
  source: BlobSource;
  /** How many layers were compressed. */
  compressed: number;
}

/** The compression layers are rewritten in (skopeo's `--dest-compress-format`, `--dest-compress-level`). */
export interface CompressTarget {
  compression: Compression;
  level?: number | undefined;
}

/**
 * The image with every uncompressed layer gzip-compressed into `dir` (which the caller removes), or undefined
 * when none is uncompressed. With a `target`, every layer not in the target's compression is rewritten in it
 * (decompressed first); a Docker manifest has no zstd layers, so that one is refused.
 */
export async function compressLayers(
  image: Image,
  dir: string,
  target?: CompressTarget,
): Promise<CompressedImage | undefined> {
  const layers = image.manifest.layers;
  const rewrite = (mt: string) =>
    target ? layerCompression(mt) !== target.compression : layerCompression(mt) === "none";
  if (!layers.some((l) => rewrite(l.mediaType))) return undefined;
  const compression = target?.compression ?? "gzip";
  const files = new Map<string, string>();
  const docker = isDocker(image.mediaType);
  if (docker && compression === "zstd") {
    throw new BerthError("USAGE", "zstd layers need an OCI manifest, and this image has Docker's", {
      hint: "use gzip, or copy to an OCI layout, archive or registry without --format v2s2",
    });
  }
  const out: Descriptor[] = [];
  for (const layer of layers) {
    const from = layerCompression(layer.mediaType);
    if (!rewrite(layer.mediaType) || from === undefined) {
      out.push(layer);
      continue;
    }
    const path = join(dir, `${files.size}.layer`);
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
      decompressAs(await image.source.openBlob(layer), from),
      createCompressor({ compression, level: target?.level }),
      count,
      createWriteStream(path),
    );
    const digest = `${algorithm}:${hash.digest("hex")}` as Digest;
    files.set(digest, path);
    const mediaType = layerType(layer.mediaType, docker, compression);
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

/** A layer's media type once in `compression`: Docker's types in a Docker manifest, nondistributable kept. */
function layerType(mt: string, docker: boolean, compression: Compression): string {
  if (docker) return compression === "none" ? MediaType.DockerLayerTar : MediaType.DockerLayer;
  const nondist = [
    MediaType.OciLayerNondist,
    MediaType.OciLayerNondistGzip,
    MediaType.OciLayerNondistZstd,
  ] as string[];
  if (!nondist.includes(mt)) return ociLayerType(compression);
  return compression === "gzip"
    ? MediaType.OciLayerNondistGzip
    : compression === "zstd"
      ? MediaType.OciLayerNondistZstd
      : MediaType.OciLayerNondist;
}
