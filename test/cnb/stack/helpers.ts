/** Reading the gzip layers the stack code writes: each entry's header fields and its text. */
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { readTar } from "../../../src/layer/index.ts";

export interface ReadEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  text: string;
}

export async function layerEntries(file: string): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const e of readTar(createReadStream(file).pipe(createGunzip()))) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(Buffer.from(c));
    const { path, type, mode, uid, gid, mtime } = e.header;
    out.push({ path, type, mode, uid, gid, mtime, text: Buffer.concat(chunks).toString("utf8") });
  }
  return out;
}
