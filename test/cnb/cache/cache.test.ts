/** cache/cache.ts: the directory cache (committed tars and metadata, swapped in whole) and the image cache. */
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { beforeEach, describe, expect, it } from "vitest";
import { DirectoryCache, ImageCache } from "../../../src/cnb/cache/cache.ts";
import type { CacheMetadata } from "../../../src/cnb/files/labels.ts";
import { BerthError } from "../../../src/errors.ts";
import { buildLayer } from "../../../src/layer/index.ts";
import type { Digest } from "../../../src/oci/digest.ts";
import { Image } from "../../../src/oci/image.ts";
import { mutate } from "../../../src/oci/mutate.ts";
import { tempDir } from "../../helpers/temp.ts";

const D = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const md = (sha: Digest): CacheMetadata => ({
  buildpacks: [{ key: "a", version: "1", layers: { deps: { sha, cache: true, data: { v: 1 } } } }],
});

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-cache-");
});

describe("DirectoryCache", () => {
  it("is empty before the first save", async () => {
    const c = new DirectoryCache(join(dir, "cache"));
    expect(await c.metadata()).toEqual({ buildpacks: [] });
    expect(await c.hasLayer(D("1"))).toBe(false);
    await expect(c.openLayer(D("1"))).rejects.toMatchObject({
      code: "BLOB_NOT_FOUND",
      message: `the cache ${join(dir, "cache")} has no layer ${D("1")}`,
    });
  });

  it("saves new tars and metadata, keeps reused tars by link, drops the rest and the staging folder", async () => {
    const c = new DirectoryCache(join(dir, "cache"));
    const staging = await c.stagingDir();
    await writeFile(join(staging, "one.tar"), "tar one");
    await writeFile(join(staging, "two.tar"), "tar two");
    await c.save(md(D("1")), [
      { diffId: D("1"), tarPath: join(staging, "one.tar") },
      { diffId: D("2"), tarPath: join(staging, "two.tar") },
    ]);
    expect(await c.metadata()).toEqual(md(D("1")));
    expect(await text(await c.openLayer(D("2")))).toBe("tar two");
    const ino = (await stat(c.tarPath(D("1")))).ino;

    const staging2 = await c.stagingDir();
    await writeFile(join(staging2, "three.tar"), "tar three");
    await c.save(md(D("3")), [{ diffId: D("1") }, { diffId: D("3"), tarPath: join(staging2, "three.tar") }]);
    expect((await readdir(c.committed)).sort()).toEqual(
      [`${"1".repeat(64)}.tar`, `${"3".repeat(64)}.tar`, "io.buildpacks.lifecycle.cache.metadata"].sort(),
    );
    expect((await stat(c.tarPath(D("1")))).ino).toBe(ino);
    expect(await c.hasLayer(D("2"))).toBe(false);
    expect((await readdir(join(dir, "cache"))).sort()).toEqual(["committed"]);
  });

  it("reads as empty when cleared, and a committed folder without metadata has no layers", async () => {
    const c = new DirectoryCache(join(dir, "cache"));
    await writeFile(join(await c.stagingDir(), "t"), "x");
    await c.save(md(D("1")), [{ diffId: D("1"), tarPath: join(dir, "cache", "staging", "t") }]);
    const cleared = new DirectoryCache(join(dir, "cache"), { clear: true });
    expect(await cleared.metadata()).toEqual({ buildpacks: [] });
    expect(await cleared.hasLayer(D("1"))).toBe(false);
    await rm(join(c.committed, "io.buildpacks.lifecycle.cache.metadata"));
    expect(await c.hasLayer(D("1"))).toBe(false);
  });

  it("names the cache of metadata that is not JSON, and of a save that fails, leaving the old generation", async () => {
    const c = new DirectoryCache(join(dir, "cache"));
    await mkdir(c.committed, { recursive: true });
    await writeFile(join(c.committed, "io.buildpacks.lifecycle.cache.metadata"), "{");
    await expect(c.metadata()).rejects.toThrow(
      new RegExp(`^cache ${join(dir, "cache")}: label io\\.buildpacks\\.lifecycle\\.cache\\.metadata `),
    );
    await writeFile(join(c.committed, "io.buildpacks.lifecycle.cache.metadata"), "{}");
    await expect(c.save(md(D("9")), [{ diffId: D("9") }])).rejects.toThrow(
      new RegExp(`^saving the cache ${join(dir, "cache")}: `),
    );
    expect(await readFile(join(c.committed, "io.buildpacks.lifecycle.cache.metadata"), "utf8")).toBe("{}");
    expect((await readdir(join(dir, "cache"))).filter((n) => n.startsWith("next-"))).toEqual([]);
  });
});

describe("ImageCache", () => {
  it("reads metadata and layers from the cache image; a missing image is an empty cache", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "layers", "a", "deps"), { recursive: true });
    await writeFile(join(tree, "layers", "a", "deps", "f"), "cached");
    const blob = join(dir, "layer.tar.gz");
    const l = await buildLayer(tree, blob);
    const image = mutate(undefined, {
      layers: [{ path: blob, mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: l.diffId }],
      config: (c) => ({
        ...c,
        Labels: { "io.buildpacks.lifecycle.cache.metadata": JSON.stringify(md(l.diffId)) },
      }),
    });
    const c = new ImageCache("r/cache", image);
    expect(await c.metadata()).toEqual(md(l.diffId));
    expect(c.layer(l.diffId)?.digest).toBe(l.digest);
    expect(await c.hasLayer(D("1"))).toBe(false);
    expect((await text(await c.openLayer(l.diffId))).includes("cached")).toBe(true);
    await expect(c.openLayer(D("1"))).rejects.toThrow(`the cache image r/cache has no layer ${D("1")}`);

    // The same image from a registry that dropped the blob (a source injecting the fault): not reused again.
    const dropped = new ImageCache(
      "r/cache",
      new Image(image.descriptor, image.rawManifest, image.manifest, image.rawConfig, image.config, {
        openBlob: async (d) => {
          throw new BerthError("REGISTRY_BLOB_UNKNOWN", `blob ${d.digest} unknown`);
        },
      }),
    );
    expect(await dropped.hasLayer(l.diffId)).toBe(true);
    await expect(dropped.openLayer(l.diffId).then(text)).rejects.toMatchObject({
      code: "REGISTRY_BLOB_UNKNOWN",
    });
    expect(await dropped.hasLayer(l.diffId)).toBe(false);
    expect(dropped.layer(l.diffId)).toBeUndefined();

    const empty = new ImageCache("r/cache", undefined);
    expect(await empty.metadata()).toEqual({ buildpacks: [] });
    expect(await empty.hasLayer(l.diffId)).toBe(false);
  });
});
