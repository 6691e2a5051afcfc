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

/** `0.4 s`, `12 s`, `3 min 05 s`: how transfers and build phases say how long they took. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - m * 60)).padStart(2, "0")} s`;
}
