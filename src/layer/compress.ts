/** The compressor for a layer: parallel gzip (default), zstd, or none. */
import { PassThrough, type Transform } from "node:stream";
import { constants, createZstdCompress } from "node:zlib";
import { BerthError } from "../errors.ts";
import type { Compression } from "../oci/mediatype.ts";
import { ParallelGzip } from "./gzip.ts";

export interface CompressOptions {
  compression?: Compression;
  /** gzip 1–9 (default 6); zstd 1–19 (default 3). */
  level?: number;
  /** Given each input chunk the compressor is done with (see `ParallelGzip`); only gzip gives any back. */
  recycle?: (chunk: Buffer) => void;
}

export function createCompressor(options: CompressOptions = {}): Transform {
  const compression = options.compression ?? "gzip";
  switch (compression) {
    case "gzip":
      return new ParallelGzip({
        ...(options.level === undefined ? {} : { level: options.level }),
        ...(options.recycle === undefined ? {} : { recycle: options.recycle }),
      });
    case "zstd": {
      const level = options.level ?? 3;
      if (!Number.isInteger(level) || level < 1 || level > 22) {
        throw new BerthError("USAGE", `zstd level ${level} is not between 1 and 22`);
      }
      return createZstdCompress({
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
