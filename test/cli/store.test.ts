import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";

let dir: string;
let home: string;

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  const src = join(dir, "src");
  for (let i = 0; i < 8; i++) {
    await umociImage(src, `i${i}`, [[{ path: `file-${i}`, content: `image ${i}\n`.repeat(100 + i) }]]);
  }
});

describe("the local store", () => {
  it("8 berth processes tagging different images at once lose no tag", async () => {
    const src = join(dir, "src");
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        berth(["copy", `oci:${src}:i${i}`, `team/app-${i}:v${i}`], { home }),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const images = JSON.parse((await berth(["images", "--json"], { home })).stdout).images as {
      name: string;
      digest: string;
    }[];
    expect(images.map((i) => i.name).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `docker.io/team/app-${i}:v${i}`).sort(),
    );
    const srcIndex = await readIndex(src);
    for (let i = 0; i < 8; i++) {
      const want = srcIndex.manifests.find(
        (m) => m.annotations?.["org.opencontainers.image.ref.name"] === `i${i}`,
      )!.digest;
      expect(images.find((x) => x.name === `docker.io/team/app-${i}:v${i}`)!.digest).toBe(want);
    }
    const fsck = await berth(["store", "fsck", "--json"], { home });
    expect(fsck.code, fsck.stdout).toBe(0);
    expect(JSON.parse(fsck.stdout).problems).toEqual([]);
  });

  it("tags, removes and collects garbage", async () => {
    expect((await berth(["tag", "team/app-0:v0", "localhost:5000/zero:latest"], { home })).code).toBe(0);
    let images = JSON.parse((await berth(["images", "--json"], { home })).stdout).images as {
      name: string;
    }[];
    expect(images.map((i) => i.name)).toContain("localhost:5000/zero:latest");
    // Removing one of two names keeps the blobs; removing the last frees them.
    let r = await berth(["rmi", "team/app-0:v0"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Deleted/);
    r = await berth(["rmi", "localhost:5000/zero"], { home });
    expect(r.stderr).toMatch(/Deleted 3 blobs/);
    images = JSON.parse((await berth(["images", "--json"], { home })).stdout).images;
    expect(images).toHaveLength(7);
    const missing = await berth(["rmi", "nothing:here"], { home });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("no image nothing:here in the local store");
    const gc = await berth(["store", "gc", "--json"], { home });
    expect(JSON.parse(gc.stdout).removed).toEqual([]);
  });

  it("names a missing image clearly", async () => {
    const r = await berth(["inspect", "absent"], { home });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      "berth: no image docker.io/library/absent:latest in the local store\nhint: list the store's images with `berth images`, or pull the image first\n",
    );
  });
});

describe("store gc and stale temporary files (issue 16)", () => {
  it("removes ownerless temporary entries older than a day, keeps fresh ones", async () => {
    const h = join(dir, "gc-home");
    expect((await berth(["images"], { home: h })).code).toBe(0);
    const old = join(h, "tmp", "build-from-an-older-berth");
    const fresh = join(h, "tmp", "fresh-ownerless");
    await mkdir(join(old, "sub"), { recursive: true });
    await writeFile(join(old, "sub", "f"), "x");
    await mkdir(fresh);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    await utimes(old, twoDaysAgo, twoDaysAgo);
    const r = await berth(["store", "gc", "--json"], { home: h });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).staleTemp).toEqual([old]);
    expect(await readdir(join(h, "tmp"))).toEqual(["fresh-ownerless"]);
  });
});
