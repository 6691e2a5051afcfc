/**
 * Tar header blocks (512 bytes): encoding and decoding of POSIX USTAR (`ustar\0` + `00`), GNU (`ustar  \0`) and
 * v7 headers. Numbers are octal, or GNU base-256 (high bit of the first byte set) when they do not fit, as GNU
 * tar and Go write sizes over 8 GiB. The checksum is verified on decoding (unsigned or signed sum, as GNU tar
 * accepts). What to do with fields that do not fit (a PAX record, a GNU long name) is the writer's policy.
 */
import { BerthError } from "../errors.ts";

export const BLOCK = 512;

/** Header fields as they sit in a block (typeflag as the character; a NUL typeflag reads as `"0"`). */
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
  /** The USTAR prefix (POSIX only; GNU headers use those bytes for other things). */
  prefix: string;
}

export type NumericField = "checksum" | "mode" | "uid" | "gid" | "size" | "mtime" | "devmajor" | "devminor";

/** A field of a decoded header that does not hold a valid value (its value in the header is then 0). */
export interface HeaderProblem {
  field: NumericField;
  /** A sentence for an error message: `tar header size "9z" is not octal`. */
  message: string;
}

export interface DecodedHeader extends RawHeader {
  /** Whether the magic says ustar (POSIX) or GNU; prefix is only meaningful for POSIX. */
  magic: "ustar" | "gnu" | "v7";
  /** Invalid fields, in block order; a bad checksum first. Empty for a sound header. */
  problems: HeaderProblem[];
}

/** The largest number `width - 1` octal digits hold (the field's last byte is a NUL). */
function maxOctal(width: number): number {
  return 8 ** (width - 1) - 1;
}

/** Whether a number fits the octal field of this width (width includes the terminating NUL). */
export function fitsOctal(value: number, width: 8 | 12): boolean {
  return Number.isInteger(value) && value >= 0 && value <= maxOctal(width);
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

/** Cut a string to at most `max` UTF-8 bytes, on a character boundary. */
export function truncateBytes(s: string, max: number): string {
  if (s.length * 3 <= max) return s;
  const b = Buffer.from(s);
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.toString("utf8", 0, end);
}

function writeNumber(block: Buffer, value: number, offset: number, width: number): void {
  if (value <= maxOctal(width)) {
    // Octal digits, then a NUL (the block is zeroed).
    for (let i = offset + width - 2; i >= offset; i--) {
      block[i] = 0x30 + (value & 7);
      value = Math.floor(value / 8);
    }
    return;
  }
  block[offset] = 0x80;
  for (let i = offset + width - 1; i > offset; i--) {
    block[i] = value % 256;
    value = Math.floor(value / 256);
  }
}

function writeString(block: Buffer, value: string, offset: number, width: number): void {
  if (value === "") return;
  if (block.write(value, offset, width, "utf8") < Buffer.byteLength(value)) {
    throw new BerthError(
      "INTERNAL",
      `tar header field ${JSON.stringify(value)} is longer than ${width} bytes`,
    );
  }
}

/**
 * Encode a USTAR header block into `target` at `offset` (default: a new block) and return the block. Strings
 * must already fit their fields (see `splitUstarName`); numbers that do not fit octal are written base-256.
 */
export function encodeHeader(h: RawHeader, target?: Buffer, offset = 0): Buffer {
  const block = target ? target.subarray(offset, offset + BLOCK) : Buffer.alloc(BLOCK);
  if (target) block.fill(0);
  writeString(block, h.name, 0, 100);
  writeNumber(block, h.mode, 100, 8);
  writeNumber(block, h.uid, 108, 8);
  writeNumber(block, h.gid, 116, 8);
  writeNumber(block, h.size, 124, 12);
  writeNumber(block, h.mtime, 136, 12);
  block[156] = h.typeflag.charCodeAt(0);
  writeString(block, h.linkname, 157, 100);
  block.write("ustar\u000000", 257, 8, "latin1");
  writeString(block, h.uname, 265, 32);
  writeString(block, h.gname, 297, 32);
  writeNumber(block, h.devmajor, 329, 8);
  writeNumber(block, h.devminor, 337, 8);
  writeString(block, h.prefix, 345, 155);
  let sum = 8 * 0x20; // the checksum field counts as spaces
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  writeNumber(block, sum, 148, 7);
  block[155] = 0x20;
  return block;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function readString(block: Buffer, offset: number, width: number): string {
  let end = offset;
  const limit = offset + width;
  while (end < limit && block[end] !== 0) end++;
  return block.toString("utf8", offset, end);
}

/** A numeric field: its value, or why it is not valid. */
function readNumber(block: Buffer, offset: number, width: number, field: NumericField): number | string {
  const first = block[offset]!;
  if (first & 0x80) {
    if (first & 0x40) return `tar header has a negative ${field}`;
    let value = first & 0x3f;
    for (let i = 1; i < width; i++) {
      value = value * 256 + block[offset + i]!;
      if (value > Number.MAX_SAFE_INTEGER) return `tar header ${field} too large`;
    }
    return value;
  }
  const s = block
    .toString("latin1", offset, offset + width)
    .replace(/[\0 ]+$/, "")
    .replace(/^[\0 ]+/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) return `tar header ${field} ${JSON.stringify(s)} is not octal`;
  return Number.parseInt(s, 8);
}

/**
 * Decode a header block. Nothing is thrown: a bad checksum or a field that is not a number is reported in
 * `problems`, and the caller decides (a layer refuses any, an archive index only a bad checksum or size).
 */
export function decodeHeader(block: Buffer): DecodedHeader {
  const problems: HeaderProblem[] = [];
  const num = (offset: number, width: number, field: NumericField): number => {
    const v = readNumber(block, offset, width, field);
    if (typeof v === "number") return v;
    problems.push({ field, message: v });
    return 0;
  };
  const stored = readNumber(block, 148, 8, "checksum");
  if (typeof stored === "string") {
    problems.push({ field: "checksum", message: stored });
  } else {
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) {
      const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
      unsigned += b;
      signed += b > 127 ? b - 256 : b;
    }
    if (stored !== unsigned && stored !== signed) {
      problems.push({
        field: "checksum",
        message: "tar header checksum does not match (not a tar, or corrupt)",
      });
    }
  }
  const magicField = block.toString("latin1", 257, 263);
  const magic = magicField === "ustar\u0000" ? "ustar" : magicField === "ustar " ? "gnu" : "v7";
  const v7 = magic === "v7";
  return {
    name: readString(block, 0, 100),
    mode: num(100, 8, "mode"),
    uid: num(108, 8, "uid"),
    gid: num(116, 8, "gid"),
    size: num(124, 12, "size"),
    mtime: num(136, 12, "mtime"),
    typeflag: block[156] === 0 ? "0" : String.fromCharCode(block[156]!),
    linkname: readString(block, 157, 100),
    uname: v7 ? "" : readString(block, 265, 32),
    gname: v7 ? "" : readString(block, 297, 32),
    devmajor: v7 ? 0 : num(329, 8, "devmajor"),
    devminor: v7 ? 0 : num(337, 8, "devminor"),
    prefix: magic === "ustar" ? readString(block, 345, 155) : "",
    magic,
    problems,
  };
}

/** The entry's full name from a decoded header: the USTAR prefix joined to the name. */
export function headerPath(h: RawHeader): string {
  return h.prefix ? `${h.prefix}/${h.name}` : h.name;
}

/** Bytes of zero padding after `size` bytes of data. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
