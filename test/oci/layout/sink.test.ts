import { readFileSync, statSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import { digestBytes } from "../../../src/oci/digest.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../../src/oci/layout/sink.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { mutate } from "../../../src/oci/mutate.ts";
import { handLayout } from "../../helpers/oci.ts";
import { tempDirSync } from "../../helpers/temp.ts";

const dir = tempDirSync("berth-layout-sink-");

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

describe("LayoutSink after a failed copy", () => {
  it("removes the blobs it wrote that nothing references and no other lease holds, and only those", async () => {
    const srcDir = join(dir, "src");
    const {
      layout: src,
      images: [img, img2],
    } = await handLayout(srcDir, "img", "img2");
    const layout = await OciLayout.openOrCreate(join(dir, "failed"));
    const put = (d: Descriptor) => layout.writeBlob(d, () => src.openBlob(d));
    // Already there: img's config (tagged through another manifest), img's manifest and img2's layer (loose).
    await put(img.config);
    await put(img.manifest);
    await put(img2.layer);
    const other = await layout.writeBlobBytes(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: img.config,
          layers: [],
        }),
      ),
      MediaType.OciManifest,
    );
    await layout.tag(other, "other");
    // Another live copy holds img2's config.
    const theirs = layout.lease();
    await theirs.add(img2.config.digest);

    const sink = new LayoutSink(layout, "img");
    for (const d of [img.config, img.layer, img2.layer, img2.config]) {
      await sink.putBlob(d, () => src.openBlob(d), { from: src });
    }
    await sink.putManifest(img.manifest, img.bytes);
    await sink.close(true);
    const left = async (d: Descriptor) => layout.hasBlob(d);
    expect(
      await Promise.all([img.config, img.layer, img.manifest, img2.layer, img2.config].map(left)),
    ).toEqual([true, false, true, true, true]);
    expect(await readdir(layout.leasesDir)).toEqual([theirs.name]);
    await theirs.release();
  });

  it("removes a layout it created, and keeps everything after success", async () => {
    const srcDir = join(dir, "src2");
    const {
      layout: src,
      images: [img],
    } = await handLayout(srcDir, "img");
    const fresh = await OciLayout.openOrCreate(join(dir, "created"));
    const sink = new LayoutSink(fresh, "img", true);
    await sink.putBlob(img.layer, () => src.openBlob(img.layer), { from: src });
    await sink.close(true);
    expect(await readdir(dir)).not.toContain("created");

    const ok = await OciLayout.openOrCreate(join(dir, "ok"));
    const good = new LayoutSink(ok, "img", true);
    for (const d of [img.config, img.layer]) await good.putBlob(d, () => src.openBlob(d), { from: src });
    await good.putManifest(img.manifest, img.bytes);
    await good.commit(img.manifest);
    await good.close(false);
    expect((await ok.resolve("img")).digest).toBe(img.manifest.digest);
    expect(await readdir(join(dir, "ok"))).not.toContain(".berth-leases");
  });

  it("records in its lease the blobs it creates, apart from those it found (what a sweep after a kill removes)", async () => {
    const {
      layout: src,
      images: [img],
    } = await handLayout(join(dir, "src3"), "img");
    const layout = await OciLayout.openOrCreate(join(dir, "recorded"));
    await layout.writeBlob(img.config, () => src.openBlob(img.config));
    const sink = new LayoutSink(layout, "img");
    for (const d of [img.config, img.layer]) {
      await sink.hasBlob(d);
      await sink.putBlob(d, () => src.openBlob(d), { from: src });
    }
    await sink.putManifest(img.manifest, img.bytes);
    const [name] = await readdir(layout.leasesDir);
    const lines = readFileSync(join(layout.leasesDir, name!), "utf8").split("\n");
    const [config, layer, manifest] = [img.config, img.layer, img.manifest].map((d) => d.digest);
    expect(lines).toEqual([config, layer, `+${layer}`, manifest, `+${manifest}`, ""]);
    await sink.close(false);
  });
});
