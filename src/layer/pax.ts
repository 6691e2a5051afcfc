/** PAX extended header records (`%d %s=%s\n`), written with sorted keys. */
import { BerthError } from "../errors.ts";

export type PaxRecords = Map<string, Buffer>;

function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  // The length prefix counts itself: find the fixed point.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Encode records with keys sorted bytewise, so the same entry always gives the same bytes. */
export function encodePax(records: PaxRecords): Buffer {
  const keys = [...records.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Buffer.concat(keys.map((k) => record(k, records.get(k)!)));
}

/** Decode a PAX extended header body; `what` names the entry in errors. */
export function decodePax(data: Buffer, what: string): PaxRecords {
  const out: PaxRecords = new Map();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // padding some writers leave
    const space = data.indexOf(0x20, pos);
    if (space < 0)
      throw new BerthError("LAYER_INVALID", `PAX header of layer entry ${JSON.stringify(what)} is malformed`);
    const len = Number.parseInt(data.toString("latin1", pos, space), 10);
    if (
      !Number.isInteger(len) ||
      len <= space - pos + 1 ||
      pos + len > data.length ||
      data[pos + len - 1] !== 0x0a
    ) {
      throw new BerthError("LAYER_INVALID", `PAX header of layer entry ${JSON.stringify(what)} is malformed`);
    }
    const rec = data.subarray(space + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0)
      throw new BerthError("LAYER_INVALID", `PAX header of layer entry ${JSON.stringify(what)} is malformed`);
    out.set(rec.toString("utf8", 0, eq), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}
