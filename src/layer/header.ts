/**
 * USTAR header encoding and decoding (POSIX.1-1988 `ustar\0` + `00`), 512-byte blocks.
 * Fields that USTAR cannot hold are reported so the caller can put them in a PAX record instead.
 */
import { BerthError } from "../errors.ts";

export const BLOCK = 512;

/** Raw header fields as they sit in a block (typeflag as the character). */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  prefix: string;
  /** Whether the magic says ustar (POSIX) or GNU; prefix is only meaningful for POSIX. */
  magic: "ustar" | "gnu" | "v7";
}

const MAX_OCTAL: Record<number, number> = { 8: 0o7777777, 12: 0o77777777777 };

/** Whether a number fits the octal field of this width (width includes the terminating NUL). */
export function fitsOctal(value: number, width: 8 | 12): boolean {
  return Number.isInteger(value) && value >= 0 && value <= (MAX_OCTAL[width] ?? 0);
}

function writeOctal(block: Buffer, value: number, offset: number, width: number): void {
  const s = value.toString(8).padStart(width - 1, "0");
  block.write(s, offset, width - 1, "latin1");
  block[offset + width - 1] = 0;
}

function writeString(block: Buffer, value: string, offset: number, width: number): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > width)
    throw new BerthError("INTERNAL", `header field ${JSON.stringify(value)} too long`);
  bytes.copy(block, offset);
}

/** Split a path into USTAR prefix and name, or undefined when it cannot be held. */
export function splitUstarName(path: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.byteLength(path);
  if (bytes <= 100) return { prefix: "", name: path };
  if (bytes > 256) return undefined;
  // The name part must be at most 100 bytes and the prefix at most 155; split at a slash.
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) {
      return { prefix, name };
    }
  }
  return undefined;
}

/** Encode a USTAR header block; every field must already fit (see `fitsOctal`, `splitUstarName`). */
export function encodeHeader(h: Omit<RawHeader, "magic">): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, h.name, 0, 100);
  writeOctal(block, h.mode, 100, 8);
  writeOctal(block, h.uid, 108, 8);
  writeOctal(block, h.gid, 116, 8);
  writeOctal(block, h.size, 124, 12);
  writeOctal(block, h.mtime, 136, 12);
  block.write(h.typeflag, 156, 1, "latin1");
  writeString(block, h.linkname, 157, 100);
  block.write("ustar\u000000", 257, 8, "latin1");
  writeString(block, h.uname, 265, 32);
  writeString(block, h.gname, 297, 32);
  writeOctal(block, h.devmajor, 329, 8);
  writeOctal(block, h.devminor, 337, 8);
  writeString(block, h.prefix, 345, 155);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  writeOctal(block, sum, 148, 7);
  block[155] = 0x20;
  return block;
}

function readString(block: Buffer, offset: number, width: number): string {
  let end = offset;
  const limit = offset + width;
  while (end < limit && block[end] !== 0) end++;
  return block.toString("utf8", offset, end);
}

function readNumber(block: Buffer, offset: number, width: number, field: string): number {
  // GNU base-256: high bit of the first byte set.
  const first = block[offset]!;
  if (first & 0x80) {
    let value = first & 0x3f;
    if (first & 0x40) throw new BerthError("LAYER_INVALID", `tar header has a negative ${field}`);
    for (let i = 1; i < width; i++) {
      value = value * 256 + block[offset + i]!;
      if (value > Number.MAX_SAFE_INTEGER)
        throw new BerthError("LAYER_INVALID", `tar header ${field} too large`);
    }
    return value;
  }
  const s = block
    .toString("latin1", offset, offset + width)
    .replace(/[\0 ]+$/, "")
    .replace(/^[\0 ]+/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s))
    throw new BerthError("LAYER_INVALID", `tar header ${field} ${JSON.stringify(s)} is not octal`);
  return Number.parseInt(s, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Decode a header block, verifying its checksum. */
export function decodeHeader(block: Buffer): RawHeader {
  const stored = readNumber(block, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new BerthError("LAYER_INVALID", "tar header checksum does not match (not a tar, or corrupt)");
  }
  const magicField = block.toString("latin1", 257, 263);
  const magic = magicField === "ustar\u0000" ? "ustar" : magicField === "ustar " ? "gnu" : "v7";
  return {
    name: readString(block, 0, 100),
    mode: readNumber(block, 100, 8, "mode"),
    uid: readNumber(block, 108, 8, "uid"),
    gid: readNumber(block, 116, 8, "gid"),
    size: readNumber(block, 124, 12, "size"),
    mtime: readNumber(block, 136, 12, "mtime"),
    typeflag: block[156] === 0 ? "0" : String.fromCharCode(block[156]!),
    linkname: readString(block, 157, 100),
    uname: magic === "v7" ? "" : readString(block, 265, 32),
    gname: magic === "v7" ? "" : readString(block, 297, 32),
    devmajor: magic === "v7" ? 0 : readNumber(block, 329, 8, "devmajor"),
    devminor: magic === "v7" ? 0 : readNumber(block, 337, 8, "devminor"),
    prefix: magic === "ustar" ? readString(block, 345, 155) : "",
    magic,
  };
}
