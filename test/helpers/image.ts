/** For test/image/: an OCI layout's image as berth reads it, and the entries of a tar stream. */
import { Readable } from "node:stream";
import { extract } from "tar-stream";
import { type Image, loadRoot, selectImage } from "../../src/oci/image.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";

/** The image (this machine's, from an index) a layout's tag names. */
export async function layoutImage(dir: string, tag: string): Promise<Image> {
  const layout = await OciLayout.open(dir);
  return selectImage(await loadRoot(layout, await layout.resolve(tag)));
}

/** Each entry of an uncompressed tar as `name` → its text (a folder or link: its type in brackets). */
export async function tarEntries(tar: Readable | Buffer): Promise<Record<string, string>> {
  const ex = extract();
  const out: Record<string, string> = {};
  (Buffer.isBuffer(tar) ? Readable.from([tar]) : tar).pipe(ex);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out[entry.header.name] =
      entry.header.type === "file" ? Buffer.concat(chunks).toString("utf8") : `[${entry.header.type}]`;
  }
  return out;
}
