import { randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { type FileHandle, lstat, mkdir, mkdtemp, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import { ownerTag } from "./owner.ts";

/**
 * `rm(path, { recursive: true, force: true })`, answered with one synchronous rmdir where that is all it takes:
 * what a finished build leaves to remove is mostly nothing or an empty folder, and rm spends a hop through
 * libuv's pool per lstat and rmdir. Anything else (a file, a link, a folder with entries) goes to rm; rmdir
 * follows no link.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    rmdirSync(path);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
  }
  await rm(path, { recursive: true, force: true });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * Check that an output file (`-o PATH`, an archive destination) may be made by a temp file renamed over it:
 * nothing is there yet, or a regular file is (replaced whole). A symbolic link or a device is refused, never
 * written through nor replaced: the rename would swap the system's `/dev/stdout` link for a file.
 */
export async function checkOutputFile(path: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (st.isFile()) return;
  const kind = st.isSymbolicLink()
    ? "a symbolic link"
    : st.isCharacterDevice() || st.isBlockDevice()
      ? "a device"
      : st.isDirectory()
        ? "a directory"
        : st.isFIFO()
          ? "a named pipe"
          : "not a regular file";
  throw new BerthError(
    "USAGE",
    `the output ${path} is ${kind}: berth writes a new file there and renames it into place, so it neither writes through nor replaces ${kind === "a directory" ? "a directory" : "anything but a regular file"}`,
    {
      hint: "give -o - to write to standard output, or name a path that is a regular file or is not there yet",
    },
  );
}

/**
 * A temp file name in `dir` that carries this process's identity (`ownerTag`), so that a later berth removes
 * it when this process was killed before it could (`sweepDeadOwners`).
 */
export function tempName(dir: string, base: string): string {
  // unique: the process (ownerTag), a random word drawn once per process (another pid namespace may share the
  // folder), then a counter; a random name per file cost a CSPRNG call each (~25 per build)
  tempSession ??= randomBytes(4).toString("hex");
  return join(dir, `.${base}.${ownerTag()}.${tempSession}${(++tempCount).toString(36)}.tmp`);
}

let tempSession: string | undefined;
let tempCount = 0;

/** `mkdtemp` in `parent` (created if missing), the folder's name carrying this process's identity. */
export async function ownedTempDir(parent: string, prefix: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  return mkdtemp(join(parent, `${prefix}${ownerTag()}-`));
}

/**
 * Write a file atomically: a temp file in the same folder, flushed, then renamed over the target.
 * `sync: false` skips the flush, for a cache a reader re-makes when it finds the file short or unparsable
 * (an fsync is a journal commit: 1–30 ms each on a busy disk, one per Dockerfile step).
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  mode = 0o644,
  options: { sync?: boolean | undefined } = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = tempName(dir, "write");
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    if (options.sync !== false) await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * `writeFileAtomic` with `sync: false`, in synchronous calls: for a small cache file (a step record, a layer's
 * entries), where each of the asynchronous version's calls is a trip through libuv's thread pool, queued there
 * behind the compressors' blocks.
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, mode = 0o644): void {
  const dir = dirname(path);
  const tmp = tempName(dir, "write");
  try {
    try {
      writeFileSync(tmp, data, { mode, flag: "wx" });
    } catch (err) {
      // the folder made only when missing (a step cache's records: one mkdir per step otherwise)
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, data, { mode, flag: "wx" });
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Bytes gathered before one `writev`: network streams arrive in 16–64 KiB pieces, one syscall each otherwise. */
const WRITE_BATCH = 1024 * 1024;

/** Write a stream to an open file, gathering its chunks into `writev` calls of about 1 MiB, one in flight. */
async function writeBatched(stream: Readable, fh: FileHandle): Promise<void> {
  let batch: Buffer[] = [];
  let bytes = 0;
  let inFlight: Promise<void> | undefined;
  const flush = async (chunks: Buffer[]) => {
    let written = (await fh.writev(chunks)).bytesWritten;
    // writev may stop short (a signal, a huge batch): write what is left.
    for (const c of chunks) {
      if (written >= c.length) {
        written -= c.length;
        continue;
      }
      await fh.write(c.subarray(written));
      written = 0;
    }
  };
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      batch.push(buf);
      bytes += buf.length;
      if (bytes >= WRITE_BATCH) {
        await inFlight;
        inFlight = flush(batch);
        inFlight.catch(() => {});
        batch = [];
        bytes = 0;
      }
    }
  } finally {
    await inFlight;
  }
  if (bytes > 0) await flush(batch);
}

/**
 * Make `path` atomically: `write` fills a new temp file in `tmpDir`, which is renamed to `path` only when `write`
 * succeeds, and removed otherwise.
 */
async function writeViaTemp(
  path: string,
  tmpDir: string,
  mode: number,
  write: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  await mkdir(tmpDir, { recursive: true });
  const tmp = tempName(tmpDir, "blob");
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      await write(fh);
    } finally {
      await fh.close();
    }
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Stream into a file atomically: written to `tmp`, renamed to `path` only when the stream ended without error. */
export async function streamToFileAtomic(
  stream: Readable,
  path: string,
  tmpDir: string,
  mode = 0o644,
): Promise<void> {
  // The stream may fail before the file is open (a small blob read to its end, failing its digest check):
  // keep that error for the read below instead of letting it go unhandled.
  const held = () => {};
  stream.on("error", held);
  try {
    await writeViaTemp(path, tmpDir, mode, (fh) => writeBatched(stream, fh));
  } finally {
    stream.off("error", held);
  }
}

const COPY_BUFFER = 1024 * 1024;

/**
 * Copy `size` bytes at `start` of file `from` into `path` atomically, through two fixed buffers (one read
 * while the other is written), passing each piece to `inspect` (a hash) before it is written. Nothing is
 * allocated per piece, so a large copy keeps memory flat. `check` runs before the rename and may throw.
 */
export async function copyRangeAtomic(
  from: { path: string; start: number; size: number },
  path: string,
  tmpDir: string,
  inspect: (piece: Buffer) => void,
  check: () => void,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  const src = await open(from.path, "r");
  try {
    await writeViaTemp(path, tmpDir, 0o644, async (out) => {
      const buffers = [Buffer.allocUnsafe(COPY_BUFFER), Buffer.allocUnsafe(COPY_BUFFER)];
      let done = 0;
      let writing: Promise<unknown> = Promise.resolve();
      for (let i = 0; done < from.size; i++) {
        const buf = buffers[i % 2]!;
        const want = Math.min(buf.length, from.size - done);
        const { bytesRead } = await src.read(buf, 0, want, from.start + done);
        if (bytesRead === 0) throw new Error(`${from.path} ended ${from.size - done} bytes early`);
        const piece = buf.subarray(0, bytesRead);
        inspect(piece);
        await writing;
        writing = out.write(piece);
        // a failed write (ENOSPC) is thrown by the await above on the next turn, not left unhandled meanwhile
        writing.catch(() => {});
        done += bytesRead;
        onProgress?.(done);
      }
      await writing;
      check();
    });
  } finally {
    await src.close();
  }
}

/** `size` bytes at `start` of a file as a stream of pieces of at most `piece` bytes. */
export function readRange(from: { path: string; start: number; size: number }, piece: number): Readable {
  if (from.size === 0) return Readable.from([]);
  return createReadStream(from.path, {
    start: from.start,
    end: from.start + from.size - 1,
    highWaterMark: piece,
  });
}
