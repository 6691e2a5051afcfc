import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestBytes } from "../../../src/oci/digest.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../../src/oci/layout/sink.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { mutate } from "../../../src/oci/mutate.ts";
import { tempDirSync } from "../../helpers/temp.ts";

const dir = tempDirSync("berth-layout-link-");

function layerFile(name: string, content: string) {
  const path = join(dir, name);
  const bytes = Buffer.from(content);
  writeFileSync(path, bytes);
  const digest = digestBytes(bytes);
  return { path, mediaType: MediaType.OciLayerGzip, digest, size: bytes.length, diffId: digest };
}

describe("layout sink and layers this process wrote", () => {
  it("links a written layer's file in, and copies (verifying) one that is not marked written", async () => {
    const fresh = layerFile("fresh", "fresh layer");
    const cached = layerFile("cached", "cached layer");
    const image = mutate(undefined, { layers: [{ ...fresh, written: true }, cached] });
    const layout = await OciLayout.openOrCreate(join(dir, "layout"));
    const sink = new LayoutSink(layout, "latest");
    for (const l of [fresh, cached]) {
      const desc = { mediaType: l.mediaType, digest: l.digest, size: l.size };
      await sink.putBlob(desc, () => image.source.openBlob(desc), { from: image.source });
    }
    const inode = (p: string) => statSync(p).ino;
    expect(inode(layout.blobPath(fresh.digest))).toBe(inode(fresh.path));
    expect(statSync(layout.blobPath(fresh.digest)).mode & 0o777).toBe(0o644);
    expect(inode(layout.blobPath(cached.digest))).not.toBe(inode(cached.path));
  });
});
