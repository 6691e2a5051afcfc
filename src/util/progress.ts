import { Transform } from "node:stream";

/** A pass-through stream that reports the running byte count. */
export function progressCounter(report: (bytes: number) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      report(bytes);
      cb(null, chunk);
    },
  });
}
