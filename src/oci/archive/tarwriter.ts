import { createWriteStream } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../../errors.ts";
import { tempName } from "../../util/fs.ts";

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK * 2);
/** Bytes buffered before a stream's data goes to the file (one write syscall per this much). */
const WRITE_BUFFER = 1024 * 1024;

type EntryType = "file" | "directory" | "symlink" | "pax";
const TYPEFLAG: Record<EntryType, number> = { file: 0x30, directory: 0x35, symlink: 0x32, pax: 0x78 };

interface Header {
  name: string;
  type: EntryType;
  mode: number;
  size: number;
  linkname?: string;
}

function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

function writeOctal(block: Buffer, value: number, offset: number, width: number): void {
  block.write(value.toString(8).padStart(width - 1, "0"), offset, width - 1, "latin1");
}

/** The size field: octal when it fits 11 digits, else GNU base-256 (as GNU tar, Go and tar-stream write it). */
function writeSize(block: Buffer, size: number): void {
  if (size <= 0o77777777777) {
    writeOctal(block, size, 124, 12);
    return;
  }
  block[124] = 0x80;
  let n = size;
  for (let i = 11; i > 0; i--) {
    block[124 + i] = n % 256;
    n = Math.floor(n / 256);
  }
}

/** USTAR name and prefix for an ASCII path, or undefined when it needs a PAX record. */
function ustarName(name: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(name) !== name.length) return undefined;
  if (name.length <= 100) return { name, prefix: "" };
  for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
    if (i <= 155 && name.length - i - 1 <= 100 && i < name.length - 1) {
      return { prefix: name.slice(0, i), name: name.slice(i + 1) };
    }
  }
  return undefined;
}

function encodeBlock(h: Header, name: string, prefix: string, linkname: string): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, "utf8");
  writeOctal(b, h.mode & 0o7777, 100, 8);
  writeOctal(b, 0, 108, 8);
  writeOctal(b, 0, 116, 8);
  writeSize(b, h.size);
  writeOctal(b, 0, 136, 12);
  b[156] = TYPEFLAG[h.type];
  b.write(linkname, 157, 100, "utf8");
  b.write("ustar\x0000", 257, 8, "latin1");
  writeOctal(b, 0, 329, 8);
  writeOctal(b, 0, 337, 8);
  b.write(prefix, 345, 155, "utf8");
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  writeOctal(b, sum, 148, 7);
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let len = bytes + String(bytes).length;
  if (String(len).length !== String(len - bytes).length) len = bytes + String(len).length;
  return `${len}${body}`;
}

/**
 * The header block(s) of an entry: mtime 0, uid/gid 0, no user names; a PAX `x` entry first when the name or
 * link target does not fit USTAR.
 */
function encodeHeader(h: Header): Buffer {
  const fullName = h.type === "directory" && !h.name.endsWith("/") ? `${h.name}/` : h.name;
  const split = ustarName(fullName);
  const linkname = h.linkname ?? "";
  const linkFits = Buffer.byteLength(linkname) === linkname.length && linkname.length <= 100;
  if (split && linkFits) return encodeBlock(h, split.name, split.prefix, linkname);
  let records = "";
  if (!split) records += paxRecord("path", fullName);
  if (!linkFits) records += paxRecord("linkpath", linkname);
  const pax = Buffer.from(records, "utf8");
  const paxHeader = encodeBlock(
    { name: "PaxHeader", type: "pax", mode: h.mode, size: pax.length },
    "PaxHeader",
    "",
    "",
  );
  const short = (s: string) =>
    Buffer.from(s, "utf8")
      .subarray(0, 100)
      .toString("latin1")
      .replace(/[^\x20-\x7e]/g, "_");
  return Buffer.concat([
    paxHeader,
    pax,
    ZEROS.subarray(0, padding(pax.length)),
    encodeBlock(
      h,
      split ? split.name : short(fullName),
      split ? split.prefix : "",
      linkFits ? linkname : short(linkname),
    ),
  ]);
}

/**
 * Writes a tar file atomically and deterministically: every header has mtime 0, uid/gid 0 and no user
 * names, so the same content gives the same bytes. The file appears at `path` only on `commit()`; `abort()`
 * (or any failure) leaves nothing there. Writes are positional, so an entry of unknown size (`addStreamUnsized`)
 * streams straight in and gets its header once its size is known.
 */
export class TarWriter {
  readonly path: string;
  readonly #tmp: string;
  readonly #fh: FileHandle;
  #pos = 0;
  #failed: unknown;
  #busy = false;

  private constructor(path: string, tmp: string, fh: FileHandle) {
    this.path = path;
    this.#tmp = tmp;
    this.#fh = fh;
  }

  static async create(path: string): Promise<TarWriter> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempName(dirname(path), basename(path));
    return new TarWriter(path, tmp, await open(tmp, "wx", 0o644));
  }

  async addDirectory(name: string): Promise<void> {
    await this.#guard(() => this.#writeAll(encodeHeader({ name, type: "directory", mode: 0o755, size: 0 })));
  }

  async addBytes(name: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
    await this.#guard(async () => {
      const header = encodeHeader({ name, type: "file", mode, size: bytes.length });
      await this.#writeAll(Buffer.concat([header, bytes, ZEROS.subarray(0, padding(bytes.length))]));
    });
  }

  async addSymlink(name: string, target: string): Promise<void> {
    await this.#guard(() =>
      this.#writeAll(encodeHeader({ name, type: "symlink", mode: 0o777, size: 0, linkname: target })),
    );
  }

  /** Append a file whose size is known in advance; the stream must carry exactly `size` bytes. */
  async addStream(
    name: string,
    size: number,
    stream: Readable,
    mode = 0o644,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#guard(async () => {
      await this.#writeAll(encodeHeader({ name, type: "file", mode, size }));
      const got = await this.#pipe(stream, size, signal);
      if (got !== size) {
        throw new BerthError(
          "SIZE_MISMATCH",
          `tar entry ${name} got ${got} bytes where ${size} were expected`,
          { details: { expectedSize: size, actualSize: got } },
        );
      }
      await this.#writeAll(ZEROS.subarray(0, padding(size)));
    });
  }

  /**
   * Append a file of unknown size (a layer being decompressed): the data streams in first, and the header
   * before it is written once the stream has ended. Returns the size.
   */
  async addStreamUnsized(
    name: string,
    stream: Readable,
    mode = 0o644,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.#guard(async () => {
      const headerPos = this.#pos;
      // The header's length depends only on the name (PAX or not), not on the size.
      const placeholder = encodeHeader({ name, type: "file", mode, size: 0 });
      this.#pos += placeholder.length;
      const size = await this.#pipe(stream, undefined, signal);
      await this.#writeAll(ZEROS.subarray(0, padding(size)));
      const header = encodeHeader({ name, type: "file", mode, size });
      await this.#fh.write(header, 0, header.length, headerPos);
      return size;
    });
  }

  /** Stream into the file at the current position; returns the bytes written (stops past `limit`). */
  async #pipe(stream: Readable, limit: number | undefined, signal: AbortSignal | undefined): Promise<number> {
    let n = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        if (limit !== undefined && n > limit)
          cb(new BerthError("SIZE_MISMATCH", `more than the ${limit} bytes expected`));
        else cb(null, chunk);
      },
    });
    // A numeric fd: a stream over the FileHandle itself would hold it open until the stream is destroyed.
    const out = createWriteStream("", {
      fd: this.#fh.fd,
      start: this.#pos,
      autoClose: false,
      emitClose: false,
      highWaterMark: WRITE_BUFFER,
    });
    await pipeline(stream, counter, out, signal ? { signal } : {});
    this.#pos += n;
    return n;
  }

  async #writeAll(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.#fh.write(buf, off, buf.length - off, this.#pos);
      off += bytesWritten;
      this.#pos += bytesWritten;
    }
  }

  /** Run one entry's writes; entries are sequential, and after a failure the writer refuses more. */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    this.#check();
    if (this.#busy) throw new BerthError("INTERNAL", "tar entries must be added one at a time");
    this.#busy = true;
    try {
      return await fn();
    } catch (err) {
      this.#failed ??= err;
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  #check(): void {
    if (this.#failed) throw this.#failed;
  }

  /** Finish the archive, flush it to disk and rename it into place. */
  async commit(): Promise<void> {
    this.#check();
    try {
      await this.#writeAll(ZEROS);
      await this.#fh.truncate(this.#pos);
      await this.#fh.sync();
      await this.#fh.close();
      await rename(this.#tmp, this.path);
    } catch (err) {
      await this.#fh.close().catch(() => undefined);
      await rm(this.#tmp, { force: true });
      throw err;
    }
  }

  /** Give up: remove the temp file. */
  async abort(): Promise<void> {
    await this.#fh.close().catch(() => undefined);
    await rm(this.#tmp, { force: true });
  }
}
