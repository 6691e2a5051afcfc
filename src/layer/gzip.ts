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
  level?: number | undefined;
  /** Uncompressed bytes per block; default 1 MiB. Part of what makes the output what it is. */
  blockSize?: number;
  /** Blocks being deflated (or waiting to be pushed) before the stream stops taking input; default 4. */
  inFlight?: number;
  /**
   * Called with each input block once its deflate is done and nothing here reads it again (a `ChunkPool`'s
   * `give`, when this stream is the tar writer's only consumer).
   */
  recycle?: ((block: Buffer) => void) | undefined;
}

const DICT = 32 * 1024;
const MIN_OUT = 64 * 1024;

function deflateBlock(
  data: Buffer,
  dictionary: Buffer | undefined,
  level: number,
  last: boolean,
  outSize: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    deflateRaw(
      data,
      {
        level,
        // Output comes back in pieces of this size, one thread-pool round trip each (the default is 16 KiB),
        // then joined; it does not change the output.
        chunkSize: outSize,
        finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        dictionary,
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

/** A block being deflated; `out` or `err` once done. */
interface Pending {
  done: boolean;
  out?: Buffer;
  err?: Error;
}

export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #blockSize: number;
  readonly #inFlight: number;
  readonly #recycle: ((block: Buffer) => void) | undefined;
  #chunks: Buffer[] = [];
  #have = 0;
  #dict: Buffer | undefined;
  /**
   * The output buffer size for the next block: a little more than the last block gave, so that a block's
   * output usually fills one buffer, allocated once and not copied (zlib's output buffers are most of the
   * garbage a build makes, and V8 collects it only every 64 MiB).
   */
  #outSize = 256 * 1024;
  #crc = 0;
  #isize = 0;
  /** Blocks started and not yet pushed, in order. */
  #queue: Pending[] = [];
  /** The callback of the write (or the flush) waiting for room in the queue (or for the queue to empty). */
  #waiting: ((err?: Error) => void) | undefined;
  #waitFor = 0;
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
    this.#inFlight = Math.max(1, options.inFlight ?? 4);
    this.#recycle = options.recycle;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#isize = (this.#isize + chunk.length) >>> 0;
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    // Keep at least one byte back so the final block is never empty unless the input is.
    while (this.#have > this.#blockSize) this.#start(this.#take(this.#blockSize), false);
    // Take more input at once unless `inFlight` blocks are still being deflated or waiting to be pushed.
    this.#wait(this.#inFlight - 1, cb);
  }

  override _flush(cb: TransformCallback): void {
    while (this.#have > this.#blockSize) this.#start(this.#take(this.#blockSize), false);
    this.#start(this.#take(this.#have), true);
    this.#wait(0, (err) => {
      if (err) return cb(err);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#isize, 4);
      cb(null, trailer);
    });
  }

  /** Call `cb` once at most `pending` blocks are left (at once if there are). */
  #wait(pending: number, cb: (err?: Error) => void): void {
    this.#waitFor = pending;
    this.#waiting = cb;
    this.#pushDone();
  }

  /** Push the finished blocks at the head of the queue, in order; wake the waiting callback when due. */
  #pushDone(): void {
    let head = this.#queue[0];
    while (head?.done) {
      this.#queue.shift();
      if (head.err) {
        this.#fail(head.err);
        return;
      }
      this.push(head.out);
      head = this.#queue[0];
    }
    const waiting = this.#waiting;
    if (waiting !== undefined && this.#queue.length <= this.#waitFor) {
      this.#waiting = undefined;
      waiting();
    }
  }

  #fail(err: Error): void {
    this.#queue = [];
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) waiting(err);
    else this.destroy(err);
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
    const pending: Pending = { done: false };
    this.#queue.push(pending);
    deflateBlock(block, this.#dict, this.#level, last, this.#outSize).then(
      (out) => {
        this.#recycle?.(block);
        this.#outSize = Math.max(MIN_OUT, Math.ceil((out.length * 1.125) / 4096) * 4096);
        pending.out = out;
        pending.done = true;
        this.#pushDone();
      },
      (err: Error) => {
        pending.err = err;
        pending.done = true;
        this.#pushDone();
      },
    );
    // A copy: the block itself may be recycled (and overwritten) before the next block's deflate starts.
    this.#dict = block.length >= DICT ? Buffer.from(block.subarray(block.length - DICT)) : undefined;
  }
}
