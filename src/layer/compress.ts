/** The compressor for a layer: parallel gzip (default), zstd, or none. */
import { PassThrough, type Transform, type TransformCallback } from "node:stream";
import { constants, ZstdCompress, type ZstdOptions } from "node:zlib";
import { BerthError } from "../errors.ts";
import type { Compression } from "../oci/mediatype.ts";
import { ParallelGzip } from "./gzip.ts";

export interface CompressOptions {
  compression?: Compression;
  /** gzip 1–9 (default 6); zstd 1–22 (default 3). */
  level?: number | undefined;
  /** Given each input chunk the compressor is done with (see `ParallelGzip`); `none` gives none back. */
  recycle?: (chunk: Buffer) => void;
}

export function createCompressor(options: CompressOptions = {}): Transform {
  const compression = options.compression ?? "gzip";
  switch (compression) {
    case "gzip":
      return new ParallelGzip({
        level: options.level,
        recycle: options.recycle,
      });
    case "zstd": {
      const level = options.level ?? 3;
      if (!Number.isInteger(level) || level < 1 || level > 22) {
        throw new BerthError("USAGE", `zstd level ${level} is not between 1 and 22`);
      }
      return new RecyclingZstd(options.recycle, {
        // Output comes back in pieces of this size, each a trip through the event loop before zstd goes on
        // (the default, 16 KiB, kept zstd's thread waiting on the busy main thread ~15 times per MiB of tar);
        // it does not change the output.
        chunkSize: 256 * 1024,
        params: {
          [constants.ZSTD_c_compressionLevel]: level,
          [constants.ZSTD_c_checksumFlag]: 1,
        },
      });
    }
    case "none":
      return new PassThrough();
    default:
      throw new BerthError(
        "USAGE",
        `unknown compression ${JSON.stringify(compression)} (gzip, zstd or none)`,
      );
  }
}

/** Node's zstd stream, giving each input chunk back once zstd has taken it in (its write callback). */
class RecyclingZstd extends ZstdCompress {
  readonly #recycle: ((chunk: Buffer) => void) | undefined;

  constructor(recycle: ((chunk: Buffer) => void) | undefined, options: ZstdOptions) {
    super(options);
    this.#recycle = recycle;
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, cb: TransformCallback): void {
    super._transform(chunk, encoding, (err, data) => {
      if (!err) this.#recycle?.(chunk);
      cb(err, data);
    });
  }
}
