import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assemble, assembleIndex, contentLayers } from "../../src/oci/assemble.ts";
import { type BlobSource, readDocument } from "../../src/oci/blob.ts";
import { parseConfig } from "../../src/oci/config.ts";
import { copy } from "../../src/oci/copy.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { loadImage } from "../../src/oci/image.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../src/oci/layout/sink.ts";
import { parseManifest } from "../../src/oci/manifest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { mutate } from "../../src/oci/mutate.ts";
import type { ImageSink } from "../../src/oci/sink.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { randomLayout } from "../registry/helpers/images.ts";

const dir = tempDirSync("berth-assemble-");

/** A layout sink that records the source each blob was said to come from. */
function recording(sink: ImageSink, from: Map<string, BlobSource | undefined>): ImageSink {
  return {
    hasBlob: (d) => sink.hasBlob(d),
    putBlob: (d, open, o) => {
      from.set(d.digest, o?.from);
      return sink.putBlob(d, open, o);
    },
    putManifest: (d, b) => sink.putManifest(d, b),
    commit: (r) => sink.commit(r),
    close: (f) => sink.close(f),
  };
}

describe("one image shape", () => {
  it("mutate returns an Image whose parsed manifest and config are its bytes; copy takes it as any image", async () => {
    const { layout, root } = await randomLayout(join(dir, "base"), "1", { layers: 2 });
    const base = await loadImage(layout, root);
    const bytes = Buffer.from("added layer");
    const path = join(dir, "added");
    writeFileSync(path, bytes);
    const digest = digestBytes(bytes);
    const image = mutate(base, {
      layers: [{ path, mediaType: MediaType.OciLayerGzip, digest, size: bytes.length, diffId: digest }],
      config: (c) => ({ ...c, Env: ["A=1"] }),
    });
    expect(image.kind).toBe("image");
    expect(image.manifest).toEqual(parseManifest(image.rawManifest));
    expect(image.config).toEqual(parseConfig(image.rawConfig!));
    expect(image.config!.rootfs.diff_ids).toEqual([...base.config!.rootfs.diff_ids, digest]);
    expect(image.layers().map((l) => l.diffId)).toEqual(image.config!.rootfs.diff_ids);

    const from = new Map<string, BlobSource | undefined>();
    const out = await OciLayout.openOrCreate(join(dir, "out"));
    const result = await copy(image, recording(new LayoutSink(out, "2"), from));
    expect(result.root.digest).toBe(image.digest);
    const back = await loadImage(out, await out.resolve("2"));
    expect(back.rawManifest.equals(image.rawManifest)).toBe(true);
    expect(back.rawConfig!.equals(image.rawConfig!)).toBe(true);
    // The base's blobs are named as coming from the base's layout (a registry sink could mount them).
    for (const l of base.manifest.layers) expect(from.get(l.digest)).toBe(layout);
    expect(from.get(digest)).toBe(image.source);
  });

  it("assemble lists descriptors as given (contentLayers cuts them to content fields) in the asked family", async () => {
    const { layout, root } = await randomLayout(join(dir, "base2"), "1", { layers: 1 });
    const base = await loadImage(layout, root);
    const annotated = base.layers().map((l, i) => ({
      descriptor: { ...l.descriptor, annotations: { n: String(i) } },
      diffId: l.diffId!,
      from: base.source,
    }));
    const kept = assemble(base.imageConfig(), annotated);
    expect(kept.manifest.layers[0]!.annotations).toEqual({ n: "0" });
    const cut = assemble(base.imageConfig(), contentLayers(annotated), { docker: true });
    expect(cut.manifest.layers[0]).toEqual({
      mediaType: MediaType.DockerLayer,
      digest: base.manifest.layers[0]!.digest,
      size: base.manifest.layers[0]!.size,
    });
    expect(cut.mediaType).toBe(MediaType.DockerManifest);
    expect(cut.manifest.config.mediaType).toBe(MediaType.DockerConfig);
  });

  it("serves its manifest, config and index whole (readBlob, no stream), checked against the descriptor asked", async () => {
    const { layout, root } = await randomLayout(join(dir, "docs"), "1", { layers: 1 });
    const image = mutate(await loadImage(layout, root), { config: (c) => ({ ...c, Env: ["B=2"] }) });
    const index = assembleIndex([image]);
    for (const [source, desc, raw] of [
      [image.source, image.manifest.config, image.rawConfig!],
      [image.source, image.descriptor, image.rawManifest],
      [index.source, index.descriptor, index.rawManifest],
    ] as const) {
      expect(typeof source.readBlob).toBe("function");
      const read = await readDocument(source, desc, "doc");
      expect(read.equals(raw)).toBe(true);
      read.fill(0);
      expect((await source.readBlob!(desc)).equals(raw)).toBe(true);
      await expect(source.readBlob!({ ...desc, size: desc.size + 1 })).rejects.toMatchObject({
        code: "SIZE_MISMATCH",
      });
    }
    // a layer is not a document: read through its stream, as before
    const layer = image.manifest.layers[0]!;
    expect((await image.source.readBlob!(layer)).length).toBe(layer.size);
  });
  it("assembleIndex: an entry's annotations, without a platform the image's own; empty annotations left out", async () => {
    const { layout, root } = await randomLayout(join(dir, "entries"), "1", { layers: 1 });
    const image = mutate(await loadImage(layout, root), { platform: { os: "linux", architecture: "arm64" } });
    const index = assembleIndex([{ image, annotations: { d: "1" } }], { i: "1" });
    expect(index.index.manifests[0]).toEqual({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.descriptor.size,
      annotations: { d: "1" },
      platform: { os: "linux", architecture: "arm64" },
    });
    expect(index.index.annotations).toEqual({ i: "1" });
    const bare = assembleIndex([{ image, annotations: {} }], {});
    expect(bare.rawManifest.toString()).not.toContain("annotations");
    expect(bare.digest).toBe(assembleIndex([image]).digest);
  });
});
