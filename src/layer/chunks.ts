/**
 * Fixed-size buffers lent by the tar writer's pool and given back by whoever consumed them last (the parallel
 * gzip, once a block's deflate is done). A layer build then reuses a handful of chunks instead of allocating one
 * per MiB of tar: the garbage of fresh chunks made V8 run a full collection every few dozen MiB and let the
 * process grow by as much before it did.
 */
export class ChunkPool {
  readonly size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];
  /** Memory lent out and not given back; weak, so a chunk nobody gives back is simply collected. */
  readonly #lent = new WeakSet<ArrayBufferLike>();

  /** `keep`: the most free chunks held for reuse. */
  constructor(size: number, keep = 8) {
    this.size = size;
    this.#keep = keep;
  }

  /** A chunk of `size` bytes (contents undefined). */
  take(): Buffer {
    const buf = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    this.#lent.add(buf.buffer);
    return buf;
  }

  /**
   * Give back a chunk this pool lent, or a view of all of it, when nothing will read it again. Anything else
   * (a part of a chunk, a buffer from elsewhere, a chunk given back twice) is ignored.
   */
  give(buf: Buffer): void {
    const memory = buf.buffer;
    if (!this.#lent.has(memory) || buf.byteOffset !== 0 || buf.byteLength !== this.size) return;
    if (memory.byteLength !== this.size) return;
    this.#lent.delete(memory);
    if (this.#free.length < this.#keep) this.#free.push(Buffer.from(memory, 0, this.size));
  }
}
