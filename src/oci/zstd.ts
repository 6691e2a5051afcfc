/**
 * A zstd decoder for streams of several frames. The zstd format (RFC 8878 §3.1) lets a stream be any sequence of
 * frames, and skippable frames, one after the other; `zstd -d` and containerd decode them all, and
 * `zstd:chunked` layers are made that way. Node's decompressor stops at the end of the first frame and drops
 * the rest without an error (nodejs/node#64741), so this transform finds where each frame ends, from the
 * frame and block headers, and gives each frame to a decoder of its own, in order; skippable frames are
 * dropped. Bytes after the last frame that are not a frame are an error, as is a stream that ends inside one.
 */
import { Transform, type TransformCallback } from "node:stream";
import { createZstdDecompress, type ZstdDecompress } from "node:zlib";
import { BerthError } from "../errors.ts";

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50; // to 0x184d2a5f

/** What the next bytes are. Fixed-size fields are gathered whole; block contents and skipped bytes stream. */
type Step = "magic" | "descriptor" | "header" | "block-header" | "block" | "checksum" | "skip-size" | "skip";

export class ZstdFrames extends Transform {
  readonly #chunkSize: number;
  #step: Step = "magic";
  /** Bytes of the fixed-size field being gathered. */
  #field = Buffer.alloc(8);
  #have = 0;
  #want = 4;
  /** Bytes left in a block's content or a skippable frame. */
  #remaining = 0;
  #lastBlock = false;
  #checksum = false;
  #decoder: ZstdDecompress | undefined;
  #decoderEnded: Promise<void> | undefined;
  #frames = 0;

  constructor(options: { chunkSize?: number } = {}) {
    super();
    this.#chunkSize = options.chunkSize ?? 64 * 1024;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#consume(chunk).then(() => done(), done);
  }

  override _read(size: number): void {
    this.#decoder?.resume();
    super._read(size);
  }

  override _flush(done: TransformCallback): void {
    if (this.#step !== "magic" || this.#have !== 0) {
      done(this.#invalid(`it ends inside frame ${this.#frames} (truncated)`));
      return;
    }
    done();
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    this.#decoder?.destroy();
    done(err);
  }

  async #consume(chunk: Buffer): Promise<void> {
    let i = 0;
    while (i < chunk.length) {
      if (this.#step === "block" || this.#step === "skip") {
        const n = Math.min(this.#remaining, chunk.length - i);
        if (this.#step === "block") await this.#feed(chunk.subarray(i, i + n), false);
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) await this.#afterContent();
        continue;
      }
      const n = Math.min(this.#want - this.#have, chunk.length - i);
      chunk.copy(this.#field, this.#have, i, i + n);
      this.#have += n;
      i += n;
      if (this.#have === this.#want) {
        const field = this.#field.subarray(0, this.#want);
        this.#have = 0;
        await this.#onField(field);
      }
    }
  }

  /** A fixed-size field is complete: pass it to the frame's decoder where it belongs, and decide what follows. */
  async #onField(field: Buffer): Promise<void> {
    switch (this.#step) {
      case "magic": {
        const magic = field.readUInt32LE(0);
        if (magic === FRAME_MAGIC) {
          this.#startFrame();
          await this.#feed(field);
          this.#next("descriptor", 1);
        } else if ((magic & 0xfffffff0) === SKIPPABLE_MAGIC) {
          this.#next("skip-size", 4);
        } else {
          throw this.#invalid(`frame ${this.#frames + 1} does not start with a zstd magic number`);
        }
        return;
      }
      case "descriptor": {
        await this.#feed(field);
        const d = field[0]!;
        if (d & 0x08) throw this.#invalid(`frame ${this.#frames} sets the reserved header bit`);
        const single = (d >> 5) & 1;
        const fcs = d >> 6;
        this.#checksum = ((d >> 2) & 1) === 1;
        const rest = (single ? 0 : 1) + [0, 1, 2, 4][d & 3]! + (fcs === 0 ? single : [0, 2, 4, 8][fcs]!);
        if (rest > 0) this.#next("header", rest);
        else this.#next("block-header", 3);
        return;
      }
      case "header":
        await this.#feed(field);
        this.#next("block-header", 3);
        return;
      case "block-header": {
        await this.#feed(field);
        const v = field[0]! | (field[1]! << 8) | (field[2]! << 16);
        this.#lastBlock = (v & 1) === 1;
        const type = (v >> 1) & 3;
        if (type === 3) throw this.#invalid(`frame ${this.#frames} has a block of the reserved type`);
        this.#remaining = type === 1 ? 1 : v >>> 3;
        this.#step = "block";
        if (this.#remaining === 0) await this.#afterContent();
        return;
      }
      case "checksum":
        await this.#feed(field);
        await this.#endFrame();
        return;
      case "skip-size":
        this.#remaining = field.readUInt32LE(0);
        this.#step = "skip";
        if (this.#remaining === 0) this.#next("magic", 4);
        return;
      default:
        return;
    }
  }

  async #afterContent(): Promise<void> {
    if (this.#step === "skip") {
      this.#next("magic", 4);
    } else if (!this.#lastBlock) {
      this.#next("block-header", 3);
    } else if (this.#checksum) {
      this.#next("checksum", 4);
    } else {
      await this.#endFrame();
    }
  }

  #next(step: Step, want: number): void {
    this.#step = step;
    this.#want = want;
  }

  #startFrame(): void {
    this.#frames++;
    const decoder = createZstdDecompress({ chunkSize: this.#chunkSize });
    // Output waits for the reader: a paused decoder stops taking input, which holds back _transform.
    decoder.on("data", (c: Buffer) => {
      if (!this.push(c)) decoder.pause();
    });
    decoder.on("error", (err) => this.destroy(this.#invalid(`frame ${this.#frames}: ${err.message}`)));
    this.#decoderEnded = new Promise((resolve, reject) => {
      decoder.once("end", resolve);
      decoder.once("error", reject);
    });
    this.#decoderEnded.catch(() => undefined); // reported through destroy() above
    this.#decoder = decoder;
  }

  /** Give bytes of the current frame to its decoder; `field` bytes are copied (their buffer is reused). */
  async #feed(bytes: Buffer, field = true): Promise<void> {
    if (!this.#decoder!.write(field ? Buffer.from(bytes) : bytes)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          this.#decoder!.off("drain", onDrain);
          reject(err);
        };
        const onDrain = () => {
          this.#decoder!.off("error", onError);
          resolve();
        };
        this.#decoder!.once("drain", onDrain);
        this.#decoder!.once("error", onError);
      });
    }
  }

  /** The frame is complete: let its decoder finish (its output comes before the next frame's). */
  async #endFrame(): Promise<void> {
    this.#decoder!.end();
    await this.#decoderEnded;
    this.#decoder = undefined;
    this.#next("magic", 4);
  }

  #invalid(why: string): BerthError {
    return new BerthError("LAYER_INVALID", `invalid zstd stream: ${why}`);
  }
}
