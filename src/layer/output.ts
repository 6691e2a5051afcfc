/**
 * The one pass that turns tar entries into a layer blob: tar → sha256 (diffID) → [a copy of the uncompressed
 * tar] → compressor → sha256 (digest) and size → destination (a Writable, or a file written atomically: temp
 * file, then rename). With no destination, the same pass gives only the diffID (and the tar copy).
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform, type TransformCallback, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { wrapError } from "../errors.ts";
import { type Digest, DigestingStream } from "../oci/digest.ts";
import { type Compression, ociLayerType } from "../oci/mediatype.ts";
import { checkOutputFile } from "../util/fs.ts";
import { ChunkPool } from "./chunks.ts";
import { createCompressor } from "./compress.ts";
import { CHUNK, type TarNames, TarWriter } from "./writer.ts";

export interface LayerOutputOptions {
  /** gzip (default), zstd or none. */
  compression?: Compression;
  /** Compression level: gzip 1–9 (default 6), zstd 1–22 (default 3). */
  level?: number | undefined;
  /**
   * Also write the uncompressed tar to this file (created; removed again on failure), in the same pass: a
   * directory cache keeps layers as plain tars, and tarring the tree a second time for it cost a second walk
   * and read of every file.
   */
  tarCopy?: string | undefined;
  /**
   * Also give the uncompressed tar to this stream as it is written (a snapshot applied from it:
   * `Snapshots.streamed`), each chunk a copy; its back-pressure is kept, and once it is destroyed (its reader
   * stopped or failed) it gets nothing more: it never fails the layer. Ended with the tar.
   */
  tee?: Writable | undefined;
  /** How entry names are spelled (default "relative"; CNB export: "absolute", as the lifecycle's). */
  names?: TarNames | undefined;
  /**
   * The path destination is a name nothing else has, in a folder this process made for itself (a build's
   * temp folder): written in place, without the output check and the temp file renamed over it (two lstats, a
   * random name and a rename per layer), and removed again on failure.
   */
  fresh?: boolean | undefined;
  signal?: AbortSignal | undefined;
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

/**
 * A layer destination: a file path (written atomically), a Writable (ended when the layer is complete), or
 * null: no blob, nothing compressed (`digest` and `size` are then those of the uncompressed tar).
 */
export type LayerDestination = string | Writable | null;

export async function writeLayer(
  destination: LayerDestination,
  options: LayerOutputOptions,
  produce: (writer: TarWriter) => Promise<void>,
): Promise<LayerDescriptor> {
  const compression = options.compression ?? "gzip";
  const tarHash = new DigestingStream();
  // The compressor (or, with no destination, the discarding sink) is the last reader of the tar's chunks, so
  // it gives them back for the writer to refill.
  const pool = new ChunkPool(CHUNK);
  const recycle = (chunk: Buffer) => pool.give(chunk);
  const blobHash = new DigestingStream();
  const atomic = typeof destination === "string" && !options.fresh;
  if (atomic) await checkOutputFile(destination);
  const temp = atomic
    ? `${destination}.tmp-${randomBytes(6).toString("hex")}`
    : typeof destination === "string"
      ? destination
      : undefined;
  let copy: TarCopy | undefined;
  const stages: (Transform | Writable)[] = [tarHash];
  if (options.tee) stages.push(new TarTee(options.tee));
  try {
    if (options.tarCopy !== undefined) {
      copy = new TarCopy(options.tarCopy);
      stages.push(copy);
    }
  } catch (err) {
    throw wrapError(`writing ${options.tarCopy}`, err);
  }
  // The blob is the tar itself where nothing compresses it: no second hash of the same bytes, no pass-through
  // stage, and a file written synchronously is the chunks' last reader.
  const plain = compression === "none";
  let file: FileSink | undefined;
  if (destination === null) stages.push(new Discard(recycle));
  else {
    if (temp !== undefined) file = new FileSink(temp, atomic ? "w" : "wx", plain ? recycle : undefined);
    const sink = file ?? (destination as Writable);
    if (plain) stages.push(sink);
    else stages.push(createCompressor({ compression, level: options.level, recycle }), blobHash, sink);
  }
  const done = pipeline(stages, options.signal ? { signal: options.signal } : {});
  done.catch(() => {});
  try {
    const writer = new TarWriter(tarHash, pool, { names: options.names ?? "relative" });
    await produce(writer);
    await writer.finish();
    tarHash.end();
    await done;
    if (atomic) {
      await checkOutputFile(destination as string);
      await rename(temp as string, destination as string);
    }
  } catch (err) {
    tarHash.destroy(err as Error);
    await done.catch(() => {});
    // a fresh name is removed only once this made it (a file there before is not this layer's)
    if (temp !== undefined && (atomic || file?.made)) await rm(temp, { force: true });
    copy?.close();
    if (options.tarCopy !== undefined) await rm(options.tarCopy, { force: true });
    throw err;
  } finally {
    copy?.close();
  }
  if (destination === null || plain) {
    return {
      diffId: tarHash.digest,
      digest: tarHash.digest,
      size: tarHash.size,
      mediaType: ociLayerType("none"),
      uncompressedSize: tarHash.size,
    };
  }
  return {
    diffId: tarHash.digest,
    digest: blobHash.digest,
    size: blobHash.size,
    mediaType: ociLayerType(compression),
    uncompressedSize: tarHash.size,
  };
}

/**
 * Writes each chunk to a file as it passes, synchronously: a 1 MiB write to the page cache takes a fraction of a
 * millisecond on the main thread, while a write stream's write is a trip through libuv's thread pool, queued
 * behind the compressor's blocks, during which the tee held the whole pass (the writer waited for both).
 */
class TarCopy extends Transform {
  #fd: number | undefined;
  readonly #path: string;

  constructor(path: string) {
    super();
    this.#path = path;
    this.#fd = openSync(path, "w", 0o600);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      writeAll(this.#fd!, chunk);
    } catch (err) {
      cb(wrapError(`writing ${this.#path}`, err));
      return;
    }
    cb(null, chunk);
  }

  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

/**
 * Passes each chunk on and a copy of it to `side` (the pool refills the original), waiting while `side` is full;
 * a destroyed `side` is left out.
 */
class TarTee extends Transform {
  readonly #side: Writable;

  constructor(side: Writable) {
    super();
    this.#side = side;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const side = this.#side;
    if (side.destroyed || side.write(Buffer.from(chunk))) {
      cb(null, chunk);
      return;
    }
    const go = () => {
      side.off("drain", go);
      side.off("close", go);
      cb(null, chunk);
    };
    side.on("drain", go);
    side.on("close", go);
  }

  override _flush(cb: TransformCallback): void {
    if (!this.#side.destroyed) this.#side.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // the layer was not written: the copy ends short, and its reader fails or is abandoned
    if (err && !this.#side.destroyed) this.#side.destroy(err);
    cb(err);
  }
}

/**
 * The blob's file, written synchronously as `TarCopy` writes (a write stream's open, writes and close were
 * trips through libuv's thread pool, queued behind the compressor's blocks).
 */
class FileSink extends Writable {
  readonly #path: string;
  readonly #flags: string;
  #fd: number | undefined;

  readonly #recycle: ((chunk: Buffer) => void) | undefined;
  #made = false;

  /**
   * `flags`: "wx" where the name must be new (nothing there is opened, a link neither). `recycle`: each chunk
   * given back once written, where this is its last reader.
   */
  constructor(path: string, flags = "w", recycle?: (chunk: Buffer) => void) {
    super();
    this.#path = path;
    this.#flags = flags;
    this.#recycle = recycle;
  }

  /** Whether this opened (so made or truncated) its file. */
  get made(): boolean {
    return this.#made;
  }

  override _construct(cb: (err?: Error | null) => void): void {
    try {
      this.#fd = openSync(this.#path, this.#flags, 0o666);
      this.#made = true;
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      writeAll(this.#fd!, chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.#recycle?.(chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#close();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#close();
    cb(err);
  }

  #close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }
}

/** The end of a pass with no blob: drops the chunks, giving each back to the pool. */
class Discard extends Writable {
  readonly #recycle: (chunk: Buffer) => void;

  constructor(recycle: (chunk: Buffer) => void) {
    super();
    this.#recycle = recycle;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#recycle(chunk);
    cb();
  }
}
