import { watch } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../../src/errors.ts";
import { copy, isRoot } from "../../src/oci/copy.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { loadImage } from "../../src/oci/image.ts";
import { OciLayout, REF_NAME } from "../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../src/oci/layout/sink.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import type { BlobEvent, ImageSink } from "../../src/oci/sink.ts";
import { fileState, readIndex, writeIndex } from "../helpers/layout.ts";
import { errorOf, handLayout, type LayoutImage, layoutImage, putDocument } from "../helpers/oci.ts";
import { tempDir } from "../helpers/temp.ts";

const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64" };
let root: string;
let src: OciLayout;
let amd: LayoutImage;
let arm: LayoutImage;
let index: Descriptor;

beforeAll(async () => {
  root = await tempDir();
  const dir = join(root, "src");
  await writeIndex(dir, []);
  amd = await layoutImage(dir, "amd");
  arm = await layoutImage(dir, "arm");
  index = await putDocument(
    dir,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...amd.manifest, platform: amd64 },
        { ...arm.manifest, platform: arm64 },
      ],
    }),
    MediaType.OciIndex,
  );
  src = await OciLayout.open(dir);
});

let n = 0;
async function dest(tag = "t"): Promise<{ layout: OciLayout; sink: LayoutSink; dir: string }> {
  const dir = join(root, `dest${n++}`);
  const layout = await OciLayout.openOrCreate(dir);
  return { layout, sink: new LayoutSink(layout, tag), dir };
}
const blobsOf = (i: LayoutImage) => [i.config, i.layer];
const sizeOf = (ds: Descriptor[]) => ds.reduce((s, d) => s + d.size, 0);

describe("copy", () => {
  it("copies one platform's image out of an index, reporting plan, events and totals", async () => {
    const { layout, sink, dir } = await dest();
    const events: BlobEvent[] = [];
    let plan: readonly Descriptor[] = [];
    const result = await copy(src, index, sink, {
      platform: arm64,
      jobs: 1,
      onBlob: (e) => events.push(e),
      onPlan: (p) => (plan = p),
    });
    expect(result).toEqual({
      root: {
        mediaType: MediaType.OciManifest,
        digest: arm.manifest.digest,
        size: arm.manifest.size,
        platform: arm64,
      },
      blobs: { written: 2, exists: 0, mounted: 0, bytes: sizeOf(blobsOf(arm)) },
    });
    expect(plan.map((d) => d.digest)).toEqual(blobsOf(arm).map((d) => d.digest));
    expect(events.filter((e) => e.type !== "progress").map((e) => [e.type, e.descriptor.digest])).toEqual([
      ["start", arm.config.digest],
      ["done", arm.config.digest],
      ["start", arm.layer.digest],
      ["done", arm.layer.digest],
    ]);
    expect((await readIndex(dir)).manifests.map((m) => m.digest)).toEqual([arm.manifest.digest]);
    expect(await layout.hasBlob(amd.layer)).toBe(false);

    const again = await copy(src, index, new LayoutSink(layout, "t2"), { platform: arm64 });
    expect(again.blobs).toEqual({ written: 0, exists: 2, mounted: 0, bytes: 0 });
  });

  it("copies a whole index with all, manifest digests kept", async () => {
    const { layout, sink } = await dest();
    const result = await copy(src, index, sink, { all: true });
    expect(result.root.digest).toBe(index.digest);
    expect(result.blobs.written).toBe(4);
    for (const d of [index, amd.manifest, arm.manifest, ...blobsOf(amd), ...blobsOf(arm)]) {
      expect(await layout.hasBlob(d)).toBe(true);
    }
  });

  it("rootAnnotations go on the root's entry in the layout's index.json, not when a platform is picked out of an index", async () => {
    const { dir, sink } = await dest("whole");
    await copy(src, index, sink, { all: true, rootAnnotations: { "index.note": "1" } });
    expect((await readIndex(dir)).manifests.map((m) => m.annotations)).toEqual([
      { "index.note": "1", [REF_NAME]: "whole" },
    ]);
    const picked = await dest("picked");
    await copy(src, index, picked.sink, { platform: arm64, rootAnnotations: { "index.note": "1" } });
    expect((await readIndex(picked.dir)).manifests.map((m) => [m.digest, m.annotations])).toEqual([
      [arm.manifest.digest, { [REF_NAME]: "picked" }],
    ]);
  });

  it("copies a loaded Image, and refuses one of another platform than asked", async () => {
    const image = await loadImage(src, amd.manifest);
    expect(isRoot(image)).toBe(true);
    expect(isRoot(src)).toBe(false);
    const { sink } = await dest();
    expect((await copy(image, sink)).root.digest).toBe(amd.manifest.digest);
    const other = await dest();
    const err = await errorOf(() => copy(image, other.sink, { platform: arm64 }));
    expect(err.code).toBe("PLATFORM_NOT_FOUND");
    expect(await other.layout.hasBlob(amd.layer)).toBe(false);
  });

  it("uses a descriptor's embedded data rather than the source", async () => {
    const cfgBytes = await src.readBlob(amd.config);
    const dir = join(root, "embedded");
    await writeIndex(dir, []);
    const layerBytes = await src.readBlob(amd.layer);
    const layer = await putDocument(dir, layerBytes, MediaType.OciLayerGzip);
    const m = await putDocument(
      dir,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { ...amd.config, data: cfgBytes.toString("base64") },
        layers: [layer],
      }),
      MediaType.OciManifest,
    );
    const { layout, sink } = await dest();
    await copy(await OciLayout.open(dir), m, sink);
    expect((await layout.readBlob(amd.config)).equals(cfgBytes)).toBe(true);
  });

  it("writes nothing when the destination's name already holds the image: no lease, lock or index.json", async () => {
    const { layout, dir } = await dest();
    await copy(src, amd.manifest, new LayoutSink(layout, "t"));
    const before = await fileState(join(dir, "index.json"));
    const seen = new Set<string>();
    const watcher = watch(dir, { recursive: true }, (_, name) => seen.add(String(name)));
    const events: BlobEvent[] = [];
    const again = await copy(src, amd.manifest, new LayoutSink(layout, "t"), {
      onBlob: (e) => events.push(e),
    });
    await new Promise((r) => setTimeout(r, 50));
    watcher.close();
    expect([...seen]).toEqual([]);
    expect(await fileState(join(dir, "index.json"))).toEqual(before);
    expect(again).toEqual({ root: amd.manifest, blobs: { written: 0, exists: 2, mounted: 0, bytes: 0 } });
    expect(events.map((e) => [e.type, e.descriptor.digest, "how" in e && e.how])).toEqual(
      blobsOf(amd).map((d) => ["done", d.digest, "exists"]),
    );
    // a blob gone from under the tag is put back (the copy does its work)
    await layout.removeBlob(amd.layer.digest);
    expect((await copy(src, amd.manifest, new LayoutSink(layout, "t"))).blobs.written).toBe(1);
    expect(await layout.hasBlob(amd.layer)).toBe(true);
    // another name is a change
    await copy(src, amd.manifest, new LayoutSink(layout, "t2"));
    expect((await readIndex(dir)).manifests.map((m) => m.annotations?.[REF_NAME])).toEqual(["t", "t2"]);
  });

  it("fails on a blob missing from the source, naming it, and tags nothing", async () => {
    const dir = join(root, "broken");
    const {
      layout: broken,
      images: [img],
    } = await handLayout(dir, "broken");
    await broken.removeBlob(img.layer.digest);
    const { dir: out, layout } = await dest();
    const err = await errorOf(() => copy(broken, img.manifest, new LayoutSink(layout, "t")));
    expect([err.code, err.details.digest]).toEqual(["BLOB_NOT_FOUND", img.layer.digest]);
    expect((await readIndex(out)).manifests).toEqual([]);
    expect(await layout.hasBlob(img.config)).toBe(false);
  });

  it("stops when aborted", async () => {
    const { sink, dir } = await dest();
    const err = await copy(src, amd.manifest, sink, { signal: AbortSignal.abort() }).catch((e: Error) => e);
    expect((err as Error).name).toBe("AbortError");
    expect((await readIndex(dir)).manifests).toEqual([]);
  });

  it("puts blobs back and commits again when the sink finds them gone at commit, up to three times", async () => {
    const { layout, sink } = await dest();
    let commits = 0;
    let closed: boolean | undefined;
    /** A fault injector: the first `failures` commits lose the layer and report it missing. */
    const faulty = (failures: number): ImageSink => ({
      hasBlob: (d) => sink.hasBlob(d),
      putBlob: (d, o, opts) => sink.putBlob(d, o, opts),
      putManifest: (d, b) => sink.putManifest(d, b),
      async commit(r) {
        if (++commits <= failures) {
          await layout.removeBlob(amd.layer.digest);
          throw new BerthError("BLOB_NOT_FOUND", "gone", { details: { missing: [amd.layer.digest] } });
        }
        return sink.commit(r);
      },
      async close(failed) {
        closed = failed;
      },
    });
    const result = await copy(src, amd.manifest, faulty(2));
    expect([commits, result.blobs.written, closed]).toEqual([3, 4, false]);
    expect(await layout.hasBlob(amd.layer)).toBe(true);
    commits = 0;
    const err = await errorOf(() => copy(src, amd.manifest, faulty(3)));
    expect([err.message, commits, closed]).toEqual(["gone", 3, true]);
  });
});
