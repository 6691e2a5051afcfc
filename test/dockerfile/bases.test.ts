/** The images a build reads, opened once (src/dockerfile/bases.ts). */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BaseImages } from "../../src/dockerfile/bases.ts";
import { removeStageRoots } from "../../src/dockerfile/rootfs.ts";
import { hostPlatform } from "../../src/oci/platform.ts";
import { tempDir } from "../helpers/temp.ts";
import { failureOf } from "./helpers/failure.ts";
import { localBase } from "./helpers/local.ts";

describe("BaseImages", () => {
  it("opens an image once per reference and platform, its filesystem once for the steps reading it; closes what it opened", async () => {
    const dir = await tempDir();
    const base = await localBase(join(dir, "base"));
    const bases = new BaseImages({ home: join(dir, "home"), env: {} }, false);
    const first = bases.open(base, hostPlatform());
    expect(bases.open(base, hostPlatform())).toBe(first);
    const image = await first;
    expect(image.config?.config?.Env).toEqual(["PATH=/bin"]);
    // a step reading the image: one filesystem per image, made when asked for, removed with the build's roots
    const source = bases.source(image, "busybox", (d) => join(dir, `image-${d.slice(7, 19)}`));
    expect(source).toMatchObject({ id: image.digest, what: "image busybox" });
    bases.source(image, "again", (d) => join(dir, `other-${d}`));
    expect(bases.roots()).toHaveLength(1);
    const root = await source.root();
    expect(root.startsWith(join(dir, "image-"))).toBe(true);
    expect((await lstat(join(root, "bin", "busybox"))).isFile()).toBe(true);
    await removeStageRoots(bases.roots());
    await bases.close();
  });

  it("config: the image's container config, a --build-context image's in its place, none for a files context", async () => {
    const dir = await tempDir();
    const base = await localBase(join(dir, "base"));
    const bases = new BaseImages({ home: join(dir, "home"), env: {} }, false);
    const p = hostPlatform();
    expect((await bases.config(base, p))?.Env).toEqual(["PATH=/bin"]);
    const image = { name: "alpine", text: `alpine=${base}`, kind: "image" as const, image: base };
    expect((await bases.config("alpine", p, image))?.Env).toEqual(["PATH=/bin"]);
    const files = { name: "alpine", text: "alpine=./dir", kind: "dir" as const, dir };
    expect(await bases.config("alpine", p, files)).toBeUndefined();
    await bases.close();
  });

  it("an image neither in the store nor in its registry is IMAGE_NOT_FOUND; with --pull the store is not asked; a failure is not kept", async () => {
    const dir = await tempDir();
    const ctx = { home: join(dir, "home"), env: {} };
    // port 1 of the loopback: nothing listens, the connection is refused at once
    const ref = "127.0.0.1:1/nothing/here:1";
    const bases = new BaseImages(ctx, false);
    const first = bases.open(ref, hostPlatform());
    const missing = await failureOf(first);
    expect(missing.code).toBe("IMAGE_NOT_FOUND");
    expect(missing.message).toMatch(/is neither in the local store nor reachable in its registry/);
    const again = bases.open(ref, hostPlatform());
    expect(again).not.toBe(first);
    await again.catch(() => undefined);
    const pulled = await failureOf(new BaseImages(ctx, true).open(ref, hostPlatform()));
    expect(pulled).toMatchObject({
      code: "IMAGE_NOT_FOUND",
      hint: "leave out --pull to use the store's copy",
    });
    expect(pulled.message).toMatch(/is not reachable in its registry, where --pull reads it/);
    await bases.close();
  });
});
