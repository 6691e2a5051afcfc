/** Decoding of tar header blocks: POSIX ustar, GNU extensions, PAX records. */

export const BLOCK = 512;

export type RawType =
  | "file"
  | "link"
  | "symlink"
  | "directory"
  | "longname"
  | "longlink"
  | "pax"
  | "paxGlobal"
  | "other";

export interface RawHeader {
  name: string;
  linkname: string;
  size: number;
  mode: number;
  type: RawType;
  typeflag: string;
}

/** Whether a block is all zeros (the end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function cString(block: Buffer, start: number, len: number): string {
  const end = block.indexOf(0, start);
  return block.toString("utf8", start, end < 0 || end > start + len ? start + len : end);
}

/** An octal field, or a base-256 one (high bit set) as GNU tar and Go write for sizes over 8 GiB. */
export function numericField(block: Buffer, start: number, len: number): number | undefined {
  const first = block[start]!;
  if (first & 0x80) {
    if (first === 0xff) return undefined; // negative
    let value = first & 0x7f;
    for (let i = start + 1; i < start + len; i++) {
      value = value * 256 + block[i]!;
    }
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const text = block
    .toString("latin1", start, start + len)
    .replace(/[\0 ]+$/, "")
    .replace(/^[\0 ]+/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = numericField(block, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function typeOf(flag: string): RawType {
  switch (flag) {
    case "0":
    case "\0":
    case "":
    case "7":
      return "file";
    case "1":
      return "link";
    case "2":
      return "symlink";
    case "5":
      return "directory";
    case "L":
      return "longname";
    case "K":
      return "longlink";
    case "x":
      return "pax";
    case "g":
      return "paxGlobal";
    default:
      return "other";
  }
}

/** Decode a header block; undefined when its checksum or size field is not valid. */
export function decodeHeader(block: Buffer): RawHeader | undefined {
  if (!checksumOk(block)) return undefined;
  const size = numericField(block, 124, 12);
  if (size === undefined) return undefined;
  const magic = block.toString("latin1", 257, 263);
  let name = cString(block, 0, 100);
  // POSIX ustar has a prefix field; GNU ("ustar  \0") uses those bytes for other things.
  if (magic === "ustar\0") {
    const prefix = cString(block, 345, 155);
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  const flag = block.toString("latin1", 156, 157);
  return {
    name,
    linkname: cString(block, 157, 100),
    size,
    mode: numericField(block, 100, 8) ?? 0o644,
    type: typeOf(flag),
    typeflag: flag,
  };
}

/** Parse PAX extended header records (`"%d %s=%s\n"`). */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(data.toString("latin1", pos, space), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > data.length) break;
    const record = data.toString("utf8", space + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}
