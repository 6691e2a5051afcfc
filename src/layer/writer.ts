/**
 * A tar writer for reproducible layers: USTAR headers, a PAX header only when a field does not fit USTAR
 * (long path or link name, large size or id, fractional mtime, long user/group name, xattrs), with its keys
 * sorted; no atime or ctime. Writes to a Writable with back-pressure, in chunks of 1 MiB.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import type { Writable } from "node:stream";
import { BerthError } from "../errors.ts";
import {
  BLOCK,
  encodeHeader,
  fitsOctal,
  padding,
  type RawHeader,
  splitUstarName,
  truncateBytes,
} from "../tar/header.ts";
import { encodePax, type PaxRecords } from "../tar/pax.ts";
import { ChunkPool } from "./chunks.ts";
import { baseName, type EntryHeader, type EntryType } from "./entry.ts";

const TYPEFLAG: Record<EntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

const ZERO = Buffer.alloc(BLOCK * 2);
/**
 * Bytes written to the output at a time. The same as the parallel gzip's block size, so each chunk becomes one
 * block without being copied again (the gzip output does not depend on it).
 */
export const CHUNK = 1024 * 1024;

/**
 * How entry names are spelled: "relative" (`a/b`, directories `a/b/`, as BuildKit and umoci write them), or
 * "absolute" (`/a/b` for every type, as the CNB lifecycle's layer writer does: Go's tar.FileInfoHeader with the
 * name replaced by the absolute path).
 */
export type TarNames = "relative" | "absolute";

/** The USTAR header of an entry, and the PAX records it needs (empty when everything fits USTAR). */
function entryFields(h: EntryHeader, names: TarNames = "relative"): { header: RawHeader; pax: PaxRecords } {
  const pax: PaxRecords = new Map();
  const tarName = names === "absolute" ? `/${h.path}` : h.type === "dir" ? `${h.path}/` : h.path;
  let split = splitUstarName(tarName);
  if (!split) {
    pax.set("path", Buffer.from(tarName));
    split = { prefix: "", name: truncateBytes(tarName, 100) };
  }
  let linkname = h.linkname ?? "";
  if (linkname.length > 33 && Buffer.byteLength(linkname) > 100) {
    pax.set("linkpath", Buffer.from(linkname));
    linkname = truncateBytes(linkname, 100);
  }
  const size = h.type === "file" ? h.size : 0;
  const num = (key: string, value: number, width: 8 | 12): number => {
    if (fitsOctal(value, width)) return value;
    if (!Number.isFinite(value) || value < 0) {
      throw new BerthError(
        "LAYER_INVALID",
        `layer entry ${JSON.stringify(h.path)} has an invalid ${key} ${value}`,
      );
    }
    pax.set(key, Buffer.from(Number.isInteger(value) ? String(value) : value.toFixed(9).replace(/0+$/, "")));
    return fitsOctal(Math.floor(value), width) ? Math.floor(value) : 0;
  };
  const header: RawHeader = {
    name: split.name,
    prefix: split.prefix,
    mode: h.mode & 0o7777,
    uid: num("uid", h.uid, 8),
    gid: num("gid", h.gid, 8),
    size: num("size", size, 12),
    mtime: num("mtime", h.mtime, 12),
    typeflag: TYPEFLAG[h.type],
    linkname,
    uname: h.uname ?? "",
    gname: h.gname ?? "",
    devmajor: 0,
    devminor: 0,
  };
  if (h.type === "char" || h.type === "block") {
    header.devmajor = num("SCHILY.devmajor", h.devmajor ?? 0, 8);
    header.devminor = num("SCHILY.devminor", h.devminor ?? 0, 8);
  }
  if (Buffer.byteLength(header.uname) > 32) {
    pax.set("uname", Buffer.from(header.uname));
    header.uname = "";
  }
  if (Buffer.byteLength(header.gname) > 32) {
    pax.set("gname", Buffer.from(header.gname));
    header.gname = "";
  }
  if (h.xattrs) for (const [k, v] of Object.entries(h.xattrs)) pax.set(`SCHILY.xattr.${k}`, v);
  return { header, pax };
}

/** The `x` entry (header block, records, padding) that goes before an entry's own header. */
function paxEntry(path: string, pax: PaxRecords): Buffer {
  const body = encodePax(pax);
  const paxHeader = encodeHeader({
    name: truncateBytes(`PaxHeaders.0/${baseName(path)}`, 100),
    prefix: "",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: "x",
    linkname: "",
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length))]);
}

/** Encode the header block(s) of an entry: an optional PAX `x` entry, then the USTAR header. */
export function encodeEntryHeader(h: EntryHeader): Buffer {
  const { header, pax } = entryFields(h);
  const ustar = encodeHeader(header);
  return pax.size === 0 ? ustar : Buffer.concat([paxEntry(h.path, pax), ustar]);
}

/**
 * Writes entries to a Writable in chunks of `CHUNK` bytes: headers are encoded, and small bodies copied (or
 * read from their file), straight into the chunk being filled, so a tree of small files costs no allocation
 * per entry; a full chunk is written out with back-pressure.
 */
export class TarWriter {
  readonly #out: Writable;
  readonly #pool: ChunkPool;
  readonly #names: TarNames;
  #chunk: Buffer;
  #used = 0;
  #bytes = 0;

  /**
   * `pool`: where chunks come from, when the consumer gives them back once done (`writeLayer`); chunks must
   * be `CHUNK` bytes. Without one, every chunk is new and never reused.
   */
  constructor(out: Writable, pool?: ChunkPool, options: { names?: TarNames } = {}) {
    this.#out = out;
    this.#names = options.names ?? "relative";
    this.#pool = pool ?? new ChunkPool(CHUNK, 0);
    if (this.#pool.size !== CHUNK) throw new BerthError("INTERNAL", `tar chunks must be ${CHUNK} bytes`);
    this.#chunk = this.#pool.take();
  }

  /** Bytes of tar written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Write one entry; `body` must hold exactly `header.size` bytes for files. */
  async add(header: EntryHeader, body?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    await this.#header(header);
    if (header.type !== "file") return;
    let got = 0;
    if (body === undefined) {
      got = 0;
    } else if (Buffer.isBuffer(body)) {
      got = body.length;
      if (got === header.size) await this.#copy(body);
    } else {
      for await (const chunk of body) {
        got += chunk.length;
        if (got > header.size) break;
        await this.#copy(chunk);
      }
    }
    if (got !== header.size) throw sizeChanged(header, got);
    await this.#pad(header.size);
  }

  /**
   * Write a file entry whose content is the host file `hostPath`, read synchronously straight into the
   * chunk being filled, a chunk at a time (see `writeEntries`).
   */
  async addFile(header: EntryHeader, hostPath: string): Promise<void> {
    await this.#header(header);
    // The file was planned as a regular file: if it became a symlink or a FIFO since (a tree another user
    // writes to), fail instead of following it or blocking on it.
    const fd = openSync(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    let got = 0;
    try {
      if (!fstatSync(fd).isFile()) {
        throw new BerthError("LAYER_INVALID", `${hostPath} is no longer a regular file`);
      }
      for (;;) {
        if (this.#used === CHUNK) await this.#flush();
        // Ask for one byte more than expected, to notice a file that grew.
        const want = Math.min(CHUNK - this.#used, header.size + 1 - got);
        const n = readSync(fd, this.#chunk, this.#used, want, null);
        if (n === 0) break;
        got += n;
        if (got > header.size) break;
        this.#used += n;
        this.#bytes += n;
      }
    } finally {
      closeSync(fd);
    }
    if (got !== header.size) throw sizeChanged(header, got);
    await this.#pad(header.size);
  }

  /** Write the end-of-archive marker (two zero blocks) and flush; does not end the output. */
  async finish(): Promise<void> {
    await this.#copy(ZERO);
    await this.#flush();
  }

  async #header(h: EntryHeader): Promise<void> {
    const { header, pax } = entryFields(h, this.#names);
    if (pax.size > 0) await this.#copy(paxEntry(h.path, pax));
    if (CHUNK - this.#used < BLOCK) await this.#flush();
    encodeHeader(header, this.#chunk, this.#used);
    this.#used += BLOCK;
    this.#bytes += BLOCK;
  }

  async #pad(size: number): Promise<void> {
    const pad = padding(size);
    if (pad > 0) await this.#copy(ZERO.subarray(0, pad));
  }

  /** Copy bytes into the chunk, writing out each chunk that fills. */
  async #copy(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      if (this.#used === CHUNK) await this.#flush();
      const n = buf.copy(this.#chunk, this.#used, off);
      off += n;
      this.#used += n;
      this.#bytes += n;
    }
  }

  /** Write out the filled part of the chunk and start a new one. */
  #flush(): Promise<void> | undefined {
    if (this.#used === 0) return undefined;
    const buf = this.#used === CHUNK ? this.#chunk : this.#chunk.subarray(0, this.#used);
    this.#chunk = this.#pool.take();
    this.#used = 0;
    return this.#write(buf);
  }

  #write(buf: Buffer): Promise<void> | undefined {
    const out = this.#out;
    if (out.destroyed)
      return Promise.reject(out.errored ?? new BerthError("IO", "layer output closed early"));
    if (out.write(buf)) return undefined;
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        out.off("drain", onDrain);
        out.off("error", onError);
        out.off("close", onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onClose = () => {
        cleanup();
        reject(out.errored ?? new BerthError("IO", "layer output closed early"));
      };
      out.on("drain", onDrain);
      out.on("error", onError);
      out.on("close", onClose);
    });
  }
}

function sizeChanged(header: EntryHeader, got: number): BerthError {
  return new BerthError(
    "LAYER_INVALID",
    `layer entry ${JSON.stringify(header.path)} has ${got > header.size ? "more than" : got} bytes where ${header.size} were expected (did the file change while the layer was built?)`,
    { details: { entry: header.path } },
  );
}
