/**
 * The one pass that turns tar entries into a layer blob: tar → sha256 (diffID) → compressor → sha256 (digest)
 * and size → destination (a Writable, or a file written atomically: temp file, then rename).
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Digest, DigestingStream } from "../oci/digest.ts";
import { type Compression, ociLayerType } from "../oci/mediatype.ts";
import { checkOutputFile } from "../util/fs.ts";
import { ChunkPool } from "./chunks.ts";
import { createCompressor } from "./compress.ts";
import { CHUNK, TarWriter } from "./writer.ts";

export interface LayerOutputOptions {
  /** gzip (default), zstd or none. */
  compression?: Compression;
  /** Compression level: gzip 1–9 (default 6), zstd 1–22 (default 3). */
  level?: number;
  signal?: AbortSignal;
}

export interface LayerDescriptor {
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  /** sha256 of the blob as written. */
  digest: Digest;
  /** Bytes of the blob as written. */
  size: number;
  mediaType: string;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
}

/** A layer destination: a file path (written atomically) or a Writable (ended when the layer is complete). */
export type LayerDestination = string | Writable;

export async function writeLayer(
  destination: LayerDestination,
  options: LayerOutputOptions,
  produce: (writer: TarWriter) => Promise<void>,
): Promise<LayerDescriptor> {
  const compression = options.compression ?? "gzip";
  const tarHash = new DigestingStream();
  // The compressor is the only reader of the tar's chunks, so it gives them back for the writer to refill.
  const pool = new ChunkPool(CHUNK);
  const compressor = createCompressor({
    compression,
    ...(options.level === undefined ? {} : { level: options.level }),
    recycle: (chunk) => pool.give(chunk),
  });
  const blobHash = new DigestingStream();
  if (typeof destination === "string") await checkOutputFile(destination);
  const temp =
    typeof destination === "string" ? `${destination}.tmp-${randomBytes(6).toString("hex")}` : undefined;
  const sink = temp === undefined ? (destination as Writable) : createWriteStream(temp);
  const done = pipeline(
    tarHash,
    compressor,
    blobHash,
    sink,
    options.signal ? { signal: options.signal } : {},
  );
  done.catch(() => {});
  try {
    const writer = new TarWriter(tarHash, pool);
    await produce(writer);
    await writer.finish();
    tarHash.end();
    await done;
    if (temp !== undefined) {
      await checkOutputFile(destination as string);
      await rename(temp, destination as string);
    }
  } catch (err) {
    tarHash.destroy(err as Error);
    await done.catch(() => {});
    if (temp !== undefined) await rm(temp, { force: true });
    throw err;
  }
  return {
    diffId: tarHash.digest,
    digest: blobHash.digest,
    size: blobHash.size,
    mediaType: ociLayerType(compression),
    uncompressedSize: tarHash.size,
  };
}
