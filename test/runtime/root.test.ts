/**
 * A container's root: an overlay over the snapshot chain, or a copy of the top full snapshot; a read-only root:
 * an overlay of the chain's dirs alone, or the top full snapshot.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unmount } from "../../src/runtime/mount.ts";
import { createRoot, readOnlyRoot } from "../../src/runtime/root.ts";
import { type SnapshotChain, Snapshots } from "../../src/runtime/snapshots.ts";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { tempDir } from "../helpers/temp.ts";

const chain = (mode: SnapshotChain["mode"], dirs: string[]): SnapshotChain => ({
  mode,
  chainIds: [],
  dirs,
  applied: 0,
  reused: 0,
});

/** Snapshot dirs `names` under `base`, each holding `name.txt` and a shared `f` saying which it is. */
async function trees(base: string, names: string[]): Promise<string[]> {
  const dirs: string[] = [];
  for (const n of names) {
    const d = join(base, n);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, `${n}.txt`), n);
    await writeFile(join(d, "f"), n);
    dirs.push(d);
  }
  return dirs;
}

describe("createRoot, full snapshots", () => {
  it("copies the top snapshot into rootfs/; changes land in the copy", async () => {
    const home = await tempDir();
    const snapshots = await Snapshots.open(home, { mode: "full" });
    const dirs = await trees(join(home, "snaps"), ["base", "top"]);
    const dir = join(home, "c1");
    await mkdir(dir);
    const r = await createRoot(snapshots, chain("full", dirs), dir);
    expect(r).toEqual({
      rootfs: join(dir, "rootfs"),
      mounted: false,
      upperDir: join(dir, "rootfs"),
      lowerDirs: [dirs[1]],
    });
    expect((await readdir(r.rootfs)).sort()).toEqual(["f", "top.txt"]);
    await writeFile(join(r.rootfs, "f"), "changed");
    expect(await readFile(join(dirs[1]!, "f"), "utf8")).toBe("top");
  });

  it("a given upper dir is the copy, made only when empty; no snapshots: an empty root", async () => {
    const home = await tempDir();
    const snapshots = await Snapshots.open(home, { mode: "full" });
    const dirs = await trees(join(home, "snaps"), ["top"]);
    const upper = join(home, "kept");
    await mkdir(upper);
    await writeFile(join(upper, "mine"), "");
    const r = await createRoot(snapshots, chain("full", dirs), join(home, "c"), upper);
    expect(r.rootfs).toBe(upper);
    expect(await readdir(upper)).toEqual(["mine"]);
    const empty = await createRoot(snapshots, chain("full", []), join(home, "e"));
    expect(empty.lowerDirs).toEqual([]);
    expect(await readdir(empty.rootfs)).toEqual([]);
  });
});

describe("createRoot, overlay snapshots", () => {
  it("mounts the chain top first under upper/ and work/; no layers: the empty lower dir", async () => {
    const home = await tempDir();
    const snapshots = await Snapshots.open(home, { mode: "overlay" });
    const dirs = await trees(join(snapshots.root, "overlay"), ["base", "top"]);
    const dir = join(home, "c1");
    await mkdir(dir);
    const r = await createRoot(snapshots, chain("overlay", dirs), dir, undefined, true);
    try {
      expect(r).toEqual({
        rootfs: join(dir, "rootfs"),
        mounted: true,
        upperDir: join(dir, "upper"),
        lowerDirs: [dirs[1], dirs[0]],
      });
      expect((await readdir(r.rootfs)).sort()).toEqual(["base.txt", "f", "top.txt"]);
      expect(await readFile(join(r.rootfs, "f"), "utf8")).toBe("top");
      await writeFile(join(r.rootfs, "new"), "x");
      expect(await readdir(r.upperDir)).toEqual(["new"]);
    } finally {
      await unmount(r.rootfs);
    }
    const dir2 = join(home, "c2");
    await mkdir(dir2);
    const e = await createRoot(snapshots, chain("overlay", []), dir2);
    await unmount(e.rootfs);
    expect(e.lowerDirs).toEqual([join(snapshots.root, "empty")]);
  });

  it("a failed mount drops the remembered overlay probe, so the next process tries afresh", async () => {
    const home = await tempDir();
    const snapshots = await Snapshots.open(home, { mode: "overlay" });
    await writeFile(join(snapshots.root, "overlay-probe.json"), "{}");
    const dir = join(home, "c");
    await mkdir(dir);
    await expect(
      createRoot(snapshots, chain("overlay", [join(snapshots.root, "missing")]), dir),
    ).rejects.toMatchObject({ code: "RUNTIME_FAILED" });
    expect(await readdir(snapshots.root)).not.toContain("overlay-probe.json");
  });
});

describe("readOnlyRoot", () => {
  it("overlay: the chain mounted read-only at the target, top first; release unmounts it", async () => {
    const home = await tempDir();
    const snapshots = await Snapshots.open(home, { mode: "overlay" });
    const dirs = await trees(join(snapshots.root, "overlay"), ["base", "top"]);
    const target = join(home, "stage");
    const r = await readOnlyRoot(snapshots, chain("overlay", dirs), target);
    try {
      expect(r.rootfs).toBe(target);
      expect(await mountsUnder(home)).toEqual([target]);
      expect((await readdir(target)).sort()).toEqual(["base.txt", "f", "top.txt"]);
      expect(await readFile(join(target, "f"), "utf8")).toBe("top");
      await expect(writeFile(join(target, "f"), "x")).rejects.toMatchObject({ code: "EROFS" });
    } finally {
      await r.release();
    }
    expect(await mountsUnder(home)).toEqual([]);
    expect(await readdir(target)).toEqual([]);
    // One snapshot: the empty dir goes below it (overlayfs needs two lower dirs).
    const one = await readOnlyRoot(snapshots, chain("overlay", dirs.slice(0, 1)), target);
    try {
      expect((await readdir(target)).sort()).toEqual(["base.txt", "f"]);
      await expect(writeFile(join(target, "new"), "x")).rejects.toMatchObject({ code: "EROFS" });
    } finally {
      await one.release();
    }
    expect(await mountsUnder(home)).toEqual([]);
  });

  it("full: the top snapshot itself, nothing copied or mounted; no layers: the empty dir", async () => {
    const home = await tempDir();
    const snapshots = await Snapshots.open(home, { mode: "full" });
    const dirs = await trees(join(home, "snaps"), ["base", "top"]);
    const target = join(home, "stage");
    const r = await readOnlyRoot(snapshots, chain("full", dirs), target);
    expect(r.rootfs).toBe(dirs[1]);
    await r.release();
    expect(await readdir(home)).not.toContain("stage");
    const empty = await readOnlyRoot(snapshots, chain("overlay", []), target);
    expect(empty.rootfs).toBe(join(snapshots.root, "empty"));
    expect(await readdir(empty.rootfs)).toEqual([]);
    expect(await mountsUnder(home)).toEqual([]);
  });
});
