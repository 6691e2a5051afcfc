/**
 * Standard output and error as the CLI writes them: straight to the descriptor while it is a pipe, a socket or a
 * file, Node's stream (`process.stdout`, `process.stderr`) otherwise and from the first use a plain write cannot
 * serve.
 *
 * Node makes a stream for fd 1 or 2 when it is first read (`process.stderr`): a pipe's is a `net.Socket`, whose
 * module and handle cost a no-change rebuild ~2–4 ms of its ~80 ms, for the ~30 lines it writes. Node's writes to
 * a pipe or a file are synchronous on Linux already (libuv blocks on them), so one `writeSync` a line keeps the
 * order and what the reader sees. A terminal (the progress display redraws, resizes) or anything else that is
 * not a pipe, socket or file gets the stream from the start; a write that fails (EAGAIN on a descriptor left
 * non-blocking, EPIPE, anything) is given to the stream instead, which then takes every later use: it fails or
 * queues as before, and nothing written after it can overtake it.
 */
import { fstatSync, writeSync } from "node:fs";
import type { Writable } from "node:stream";

/** The key under which a standard stream made by `stdio` gives Node's stream itself (for pipelines). */
export const STREAM: unique symbol = Symbol("berth.stdio.stream");

type Stdio = Writable & { isTTY?: boolean; columns?: number };

/** Whether plain writes serve `fd`: a pipe, a socket or a regular file (never a terminal). */
function plain(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket() || st.isFile();
  } catch {
    return false;
  }
}

/** Write all of `bytes` to `fd`; the count written before a write failed, or `undefined` when all were. */
function writeAll(fd: number, bytes: Uint8Array): number | undefined {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off);
    } catch {
      return off;
    }
  }
  return undefined;
}

/**
 * Standard output or error (`fd` 1 or 2) as a Writable: `stream()` gives Node's (read once, when first needed),
 * `onStream` is told when it is made (to add its error handler).
 */
export function stdio(fd: number, stream: () => Stdio, onStream: (s: Stdio) => void = () => {}): Stdio {
  let made: Stdio | undefined = plain(fd) ? undefined : stream();
  if (made) onStream(made);
  const real = (): Stdio => {
    if (!made) {
      made = stream();
      onStream(made);
    }
    return made;
  };
  const write = (chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const done = typeof encoding === "function" ? encoding : cb;
    const enc = typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8";
    if (made || !(typeof chunk === "string" || chunk instanceof Uint8Array)) {
      return real().write(chunk, enc, done as (err?: Error | null) => void);
    }
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, enc) : chunk;
    const written = writeAll(fd, bytes);
    if (written !== undefined) {
      return real().write(bytes.subarray(written), done as (err?: Error | null) => void);
    }
    if (typeof done === "function") process.nextTick(done as () => void);
    return true;
  };
  return new Proxy({} as Stdio, {
    get(_, key) {
      if (key === STREAM) return real();
      if (!made && key === "write") return write;
      // a pipe, socket or file: no terminal, no width
      if (!made && (key === "isTTY" || key === "columns")) return undefined;
      const s = real();
      const v: unknown = Reflect.get(s, key, s);
      return typeof v === "function" ? v.bind(s) : v;
    },
    has: (_, key) => key === STREAM || Reflect.has(real(), key),
  });
}

/** Node's stream behind a standard stream made by `stdio`; any other Writable as it is. */
export function streamOf(w: Writable): Writable {
  return (w as Writable & { [STREAM]?: Writable })[STREAM] ?? w;
}
