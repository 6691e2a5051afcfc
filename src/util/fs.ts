import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

export function tempName(dir: string, base: string): string {
  return join(dir, `.${base}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Write a file atomically: a temp file in the same folder, flushed, then renamed over the target. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = tempName(dir, "write");
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
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

/** Stream into a file atomically: written to `tmp`, renamed to `path` only when the stream ended without error. */
export async function streamToFileAtomic(
  stream: Readable,
  path: string,
  tmpDir: string,
  mode = 0o644,
): Promise<void> {
  await mkdir(tmpDir, { recursive: true });
  const tmp = tempName(tmpDir, "blob");
  try {
    await pipeline(stream, createWriteStream(tmp, { flags: "wx", mode }));
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
