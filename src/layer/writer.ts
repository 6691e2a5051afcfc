/**
 * A tar writer for reproducible layers: USTAR headers, a PAX header only when a field does not fit USTAR
 * (long path or link name, large size or id, fractional mtime, long user/group name, xattrs), with its keys
 * sorted; no atime or ctime. Writes to a Writable with back-pressure, coalescing small writes.
 */
import type { Writable } from "node:stream";
import { BerthError } from "../errors.ts";
import { BLOCK, encodeHeader, fitsOctal, padding, splitUstarName, truncateBytes } from "../tar/header.ts";
import { encodePax, type PaxRecords } from "../tar/pax.ts";
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
const FLUSH_AT = 256 * 1024;
/** Bodies at least this large are written as they are, not copied into the coalescing buffer. */
const DIRECT = 32 * 1024;

/** Encode the header block(s) of an entry: an optional PAX `x` entry, then the USTAR header. */
export function encodeEntryHeader(h: EntryHeader): Buffer {
  const pax: PaxRecords = new Map();
  const tarName = h.type === "dir" ? `${h.path}/` : h.path;
  let split = splitUstarName(tarName);
  if (!split) {
    pax.set("path", Buffer.from(tarName));
    split = { prefix: "", name: truncateBytes(tarName, 100) };
  }
  let linkname = h.linkname ?? "";
  if (Buffer.byteLength(linkname) > 100) {
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
  const header = {
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
  for (const [k, v] of Object.entries(h.xattrs ?? {})) pax.set(`SCHILY.xattr.${k}`, v);
  const ustar = encodeHeader(header);
  if (pax.size === 0) return ustar;
  const body = encodePax(pax);
  const paxHeader = encodeHeader({
    name: truncateBytes(`PaxHeaders.0/${baseName(h.path)}`, 100),
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
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), ustar]);
}

export class TarWriter {
  readonly #out: Writable;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #bytes = 0;

  constructor(out: Writable) {
    this.#out = out;
  }

  /** Bytes of tar written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Write one entry; `body` must hold exactly `header.size` bytes for files. */
  async add(header: EntryHeader, body?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    await this.#push(encodeEntryHeader(header));
    if (header.type !== "file") return;
    let got = 0;
    if (body === undefined) {
      got = 0;
    } else if (Buffer.isBuffer(body)) {
      got = body.length;
      if (got === header.size) await this.#push(body);
    } else {
      for await (const chunk of body) {
        got += chunk.length;
        if (got > header.size) break;
        await this.#push(chunk);
      }
    }
    if (got !== header.size) {
      throw new BerthError(
        "LAYER_INVALID",
        `layer entry ${JSON.stringify(header.path)} has ${got > header.size ? "more than" : got} bytes where ${header.size} were expected (did the file change while the layer was built?)`,
        { details: { entry: header.path } },
      );
    }
    const pad = padding(header.size);
    if (pad > 0) await this.#push(ZERO.subarray(0, pad));
  }

  /** Write the end-of-archive marker (two zero blocks) and flush; does not end the output. */
  async finish(): Promise<void> {
    await this.#push(ZERO);
    await this.#flush();
  }

  async #push(buf: Buffer): Promise<void> {
    this.#bytes += buf.length;
    if (buf.length >= DIRECT) {
      await this.#flush();
      await this.#write(buf);
      return;
    }
    this.#pending.push(buf);
    this.#pendingBytes += buf.length;
    if (this.#pendingBytes >= FLUSH_AT) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const buf =
      this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#write(buf);
  }

  #write(buf: Buffer): Promise<void> {
    const out = this.#out;
    if (out.destroyed)
      return Promise.reject(out.errored ?? new BerthError("IO", "layer output closed early"));
    if (out.write(buf)) return Promise.resolve();
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
