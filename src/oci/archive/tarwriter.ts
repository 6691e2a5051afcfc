import { createWriteStream } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../../errors.ts";
import { BLOCK, encodeHeader, padding, splitUstarName } from "../../tar/header.ts";
import { encodePaxRecord } from "../../tar/pax.ts";
import { checkOutputFile, tempName } from "../../util/fs.ts";

const ZEROS = Buffer.alloc(BLOCK * 2);
/** Bytes buffered before a stream's data goes to the file (one write syscall per this much). */
const WRITE_BUFFER = 1024 * 1024;

type EntryType = "file" | "directory" | "symlink" | "pax";
const TYPEFLAG: Record<EntryType, string> = { file: "0", directory: "5", symlink: "2", pax: "x" };

interface Header {
  name: string;
  type: EntryType;
  mode: number;
  size: number;
  linkname?: string;
}

/** USTAR name and prefix for an ASCII path, or undefined when it needs a PAX record. */
function ustarName(name: string): { name: string; prefix: string } | undefined {
  return Buffer.byteLength(name) === name.length ? splitUstarName(name) : undefined;
}

/** A USTAR block with owner 0:0, no user names and mtime 0; a size over 8 GiB is written base-256. */
function encodeBlock(h: Header, name: string, prefix: string, linkname: string): Buffer {
  return encodeHeader({
    name,
    prefix,
    mode: h.mode & 0o7777,
    uid: 0,
    gid: 0,
    size: h.size,
    mtime: 0,
    typeflag: TYPEFLAG[h.type],
    linkname,
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
  });
}

/**
 * The header block(s) of an entry: mtime 0, uid/gid 0, no user names; a PAX `x` entry first when the name or
 * link target does not fit USTAR.
 */
function encodeEntry(h: Header): Buffer {
  const fullName = h.type === "directory" && !h.name.endsWith("/") ? `${h.name}/` : h.name;
  const split = ustarName(fullName);
  const linkname = h.linkname ?? "";
  const linkFits = Buffer.byteLength(linkname) === linkname.length && linkname.length <= 100;
  if (split && linkFits) return encodeBlock(h, split.name, split.prefix, linkname);
  const pax = Buffer.concat([
    ...(split ? [] : [encodePaxRecord("path", fullName)]),
    ...(linkFits ? [] : [encodePaxRecord("linkpath", linkname)]),
  ]);
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
    await checkOutputFile(path);
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempName(dirname(path), basename(path));
    return new TarWriter(path, tmp, await open(tmp, "wx", 0o644));
  }

  async addDirectory(name: string): Promise<void> {
    await this.#guard(() => this.#writeAll(encodeEntry({ name, type: "directory", mode: 0o755, size: 0 })));
  }

  async addBytes(name: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
    await this.#guard(async () => {
      const header = encodeEntry({ name, type: "file", mode, size: bytes.length });
      await this.#writeAll(Buffer.concat([header, bytes, ZEROS.subarray(0, padding(bytes.length))]));
    });
  }

  async addSymlink(name: string, target: string): Promise<void> {
    await this.#guard(() =>
      this.#writeAll(encodeEntry({ name, type: "symlink", mode: 0o777, size: 0, linkname: target })),
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
      await this.#writeAll(encodeEntry({ name, type: "file", mode, size }));
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
      const placeholder = encodeEntry({ name, type: "file", mode, size: 0 });
      this.#pos += placeholder.length;
      const size = await this.#pipe(stream, undefined, signal);
      await this.#writeAll(ZEROS.subarray(0, padding(size)));
      const header = encodeEntry({ name, type: "file", mode, size });
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
      await checkOutputFile(this.path);
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
