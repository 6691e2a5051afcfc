/** PAX extended header records (`"%d %s=%s\n"`, the length counting itself): encoding and decoding. */

/** Records by key; values are bytes (xattrs are binary), most are UTF-8 text. */
export type PaxRecords = Map<string, Buffer>;

/** One record. */
export function encodePaxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  // The length prefix counts itself: find the fixed point.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Encode records with keys sorted bytewise, so the same entry always gives the same bytes. */
export function encodePax(records: PaxRecords): Buffer {
  const keys = [...records.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Buffer.concat(keys.map((k) => encodePaxRecord(k, records.get(k)!)));
}

export interface DecodedPax {
  records: PaxRecords;
  /** Whether decoding stopped at a malformed record (the records before it are kept). */
  malformed: boolean;
}

/** Decode a PAX extended header body; NUL padding that some writers leave ends it. */
export function decodePax(data: Buffer): DecodedPax {
  const records: PaxRecords = new Map();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space < 0) return { records, malformed: true };
    const len = Number.parseInt(data.toString("latin1", pos, space), 10);
    if (
      !Number.isInteger(len) ||
      len <= space - pos + 1 ||
      pos + len > data.length ||
      data[pos + len - 1] !== 0x0a
    ) {
      return { records, malformed: true };
    }
    const rec = data.subarray(space + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) return { records, malformed: true };
    records.set(rec.toString("utf8", 0, eq), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return { records, malformed: false };
}
