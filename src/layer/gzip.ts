/**
 * Parallel gzip, the pigz way: the input is cut into fixed-size blocks, each compressed with raw deflate using
 * the previous block's last 32 KiB as its dictionary and ending with a sync flush (the last with a finish), and
 * the pieces are concatenated after a fixed gzip header, then CRC32 and ISIZE. The result is one standard gzip
 * member that any tool reads, identical for the same (content, level, block size). zlib's async functions run
 * on libuv's thread pool, so keeping a few blocks in flight uses several cores without worker threads; memory
 * stays bounded because the transform waits for the oldest block once `inFlight` blocks are pending.
 */
import { Transform, type TransformCallback } from "node:stream";
import { constants, crc32, deflateRaw } from "node:zlib";
import { BerthError } from "../errors.ts";

export interface ParallelGzipOptions {
  /** 1 (fastest) … 9 (smallest); default 6, as gzip and pigz. */
  level?: number;
  /** Uncompressed bytes per block; default 1 MiB. Part of what makes the output what it is. */
  blockSize?: number;
  /** Blocks compressed at once; default 3. */
  inFlight?: number;
  /**
   * Called with each input block once its deflate is done and nothing here reads it again (a `ChunkPool`'s
   * `give`, when this stream is the tar writer's only consumer).
   */
  recycle?: (block: Buffer) => void;
}

const DICT = 32 * 1024;
const OUT_CHUNK = 256 * 1024;

function deflateBlock(
  data: Buffer,
  dictionary: Buffer | undefined,
  level: number,
  last: boolean,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    deflateRaw(
      data,
      {
        level,
        // Output comes back in pieces of this size, one thread-pool round trip each (the default is 16 KiB);
        // it does not change the output.
        chunkSize: OUT_CHUNK,
        finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        ...(dictionary ? { dictionary } : {}),
      },
      (err, out) => (err ? reject(err) : resolve(out)),
    );
  });
}

/** The gzip header berth writes: no name, MTIME 0, XFL by level as zlib does, OS 3 (Unix). */
export function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #inFlight: number;
  readonly #recycle: ((block: Buffer) => void) | undefined;
  #chunks: Buffer[] = [];
  #have = 0;
  #dict: Buffer | undefined;
  #crc = 0;
  #isize = 0;
  #queue: Promise<Buffer>[] = [];
  #started = false;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    const level = options.level ?? 6;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new BerthError("USAGE", `gzip level ${level} is not between 0 and 9`);
    }
    this.#level = level;
    this.#blockSize = options.blockSize ?? 1024 * 1024;
    if (this.#blockSize < DICT)
      throw new BerthError("USAGE", `gzip block size must be at least ${DICT} bytes`);
    this.#inFlight = Math.max(1, options.inFlight ?? 3);
    this.#recycle = options.recycle;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#isize = (this.#isize + chunk.length) >>> 0;
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    this.#drainFull().then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    (async () => {
      await this.#drainFull();
      this.#start(this.#take(this.#have), true);
      while (this.#queue.length > 0) this.push(await this.#queue.shift()!);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#isize, 4);
      this.push(trailer);
    })().then(() => cb(), cb);
  }

  async #drainFull(): Promise<void> {
    // Keep at least one byte back so the final block is never empty unless the input is.
    while (this.#have > this.#blockSize) {
      this.#start(this.#take(this.#blockSize), false);
      while (this.#queue.length >= this.#inFlight) this.push(await this.#queue.shift()!);
    }
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      // The common case (the tar writer's chunks are block-sized): no copy.
      const block = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#have -= n;
      return block;
    }
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#have);
    const block = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#have = rest.length;
    return block;
  }

  #start(block: Buffer, last: boolean): void {
    if (!this.#started) {
      this.push(gzipHeader(this.#level));
      this.#started = true;
    }
    const p = deflateBlock(block, this.#dict, this.#level, last);
    p.catch(() => {}); // awaited in order; avoid an unhandled rejection meanwhile
    this.#queue.push(p);
    // A copy: the block itself may be recycled (and overwritten) before the next block's deflate starts.
    this.#dict = block.length >= DICT ? Buffer.from(block.subarray(block.length - DICT)) : undefined;
    const recycle = this.#recycle;
    if (recycle !== undefined)
      p.then(
        () => recycle(block),
        () => {},
      );
  }
}
