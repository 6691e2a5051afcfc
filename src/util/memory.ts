/**
 * Keeps memory flat while large transfers stream through sockets and file streams.
 *
 * Every socket read (and every fs stream read) gets a fresh Buffer, whose memory lives outside V8's heap and is
 * freed only when V8 collects the small object that owns it. Those objects die young, but little else is
 * allocated on the JS heap during a transfer, so V8's own young-generation collections come rarely: at about
 * 1 GB/s, 50–100 MiB of dead buffers piled up between two of them (the registry pull peaked at 180 MiB, of which
 * 58 are the process and undici). A young-generation collection after every few MiB moved frees them while they
 * are few; it takes a fraction of a millisecond, as the objects are few and almost all dead.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Bytes moved between two collections: 8 MiB kept the pull at ~100 MiB for ~128 collections per GiB. */
const COLLECT_EVERY = 8 * 1024 * 1024;

type Collect = (options: { type: "minor" | "major" }) => void;
let collect: Collect | null | undefined;
let moved = 0;

/**
 * V8's `gc`, taken from a fresh context with `--expose-gc` set only for that moment (the global scope of the
 * program is not touched); null if this V8 does not offer it.
 */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    collect = typeof gc === "function" ? (gc as Collect) : null;
  } catch {
    collect = null;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
  return collect;
}

/**
 * Count `bytes` that just went through a short-lived Buffer (a socket or file read); after every 8 MiB, across
 * all transfers of the process, run a young-generation collection.
 */
export function transferred(bytes: number): void {
  moved += bytes;
  if (moved < COLLECT_EVERY) return;
  moved = 0;
  collector()?.({ type: "minor" });
}
