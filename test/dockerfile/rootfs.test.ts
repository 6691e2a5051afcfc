/** Paths inside a stage's filesystem, owners by name, and a stage's root on disk (src/dockerfile/rootfs.ts). */
import { mkdir, open, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  components,
  type FsView,
  removeStageRoots,
  resolveInRoot,
  resolveOwner,
  StageRoot,
  warmSnapshots,
} from "../../src/dockerfile/rootfs.ts";
import { matchSources } from "../../src/dockerfile/sources.ts";
import { loadImage } from "../../src/oci/image.ts";
import { OciLayout } from "../../src/oci/layout/index.ts";
import { Snapshots } from "../../src/runtime/snapshots.ts";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { tempDir } from "../helpers/temp.ts";
import { failureOf } from "./helpers/failure.ts";
import { handImages } from "./helpers/image.ts";

describe("components", () => {
  it("cleans a path lexically, never above the root", () => {
    expect(components("/a//b/./c/")).toEqual(["a", "b", "c"]);
    expect(components("../../a/../../b")).toEqual(["b"]);
    expect(components("")).toEqual([]);
  });
});

describe("resolveInRoot", () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir();
    await mkdir(join(root, "usr/lib"), { recursive: true });
    await symlink("usr/lib", join(root, "lib"));
    await symlink("/usr", join(root, "abs"));
    await symlink("../../../../etc", join(root, "usr/up"));
    await symlink("loop2", join(root, "loop1"));
    await symlink("loop1", join(root, "loop2"));
    await symlink("/lib/missing", join(root, "dangling"));
  });

  it("follows relative and absolute links from the root, the last one only when asked", async () => {
    expect(await resolveInRoot(root, "/lib/x.so")).toBe("usr/lib/x.so");
    expect(await resolveInRoot(root, "abs/lib")).toBe("usr/lib");
    expect(await resolveInRoot(root, "/lib")).toBe("usr/lib");
    expect(await resolveInRoot(root, "/lib", false)).toBe("lib");
    expect(await resolveInRoot(root, "/")).toBe("");
  });

  it("never climbs above the root, by .. or by a link", async () => {
    expect(await resolveInRoot(root, "/../../usr/up/passwd")).toBe("etc/passwd");
    expect(await resolveInRoot(root, "dangling")).toBe("usr/lib/missing");
  });

  it("refuses a loop of links, naming the path", async () => {
    expect(await failureOf(resolveInRoot(root, "/loop1/x"))).toEqual({
      code: "IO",
      message: "too many levels of symbolic links in /loop1/x",
    });
  });
});

describe("resolveOwner", () => {
  // A stage's files as an FsView (the interface COPY and WORKDIR read through), /etc a link to /real-etc.
  const files: Record<string, string> = {
    "real-etc/passwd": "# users\nroot:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n",
    "real-etc/group": "root:x:0:\nstaff:x:50:app\n",
  };
  const fsView: FsView = {
    lstat: async (rel) =>
      rel === "etc"
        ? { type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "/real-etc" }
        : rel in files
          ? { type: "file", mode: 0o644, uid: 0, gid: 0 }
          : undefined,
    readFile: async (rel) => files[rel],
  };
  const view = (spec: string) => resolveOwner(fsView, spec);

  it("numbers as given (the group defaulting to the uid), names from /etc/passwd and /etc/group", async () => {
    expect(await view("42")).toEqual({ uid: 42, gid: 42 });
    expect(await view("42:7")).toEqual({ uid: 42, gid: 7 });
    expect(await view("app")).toEqual({ uid: 1000, gid: 1001 });
    expect(await view("app:")).toEqual({ uid: 1000, gid: 1001 });
    expect(await view("app:staff")).toEqual({ uid: 1000, gid: 50 });
    expect(await view("0:staff")).toEqual({ uid: 0, gid: 50 });
  });

  it("a user or group the image lacks is no error, as BuildKit: the user 0:0, the group the user's", async () => {
    expect(await view("nobody")).toEqual({ uid: 0, gid: 0 });
    expect(await view("nobody:staff")).toEqual({ uid: 0, gid: 50 });
    expect(await view("app:wheel")).toEqual({ uid: 1000, gid: 1001 });
    expect(await view("7:wheel")).toEqual({ uid: 7, gid: 7 });
    expect(await view(":")).toEqual({ uid: 0, gid: 0 });
  });
});

/**
 * Two images of a stage: one's layer has links to a host folder (made, with a secret in it), two's layer
 * changes a file, deletes one and adds one.
 */
async function stageImages() {
  const dir = await tempDir();
  // a host folder the stage's links name: reading through them must stay in the stage
  const host = join(dir, "host");
  await mkdir(host);
  await writeFile(join(host, "secret"), "host only");
  const layout = join(dir, "layout");
  const images = await handImages(layout, [
    [
      { path: "etc/", type: "dir" },
      { path: "etc/a", content: "one" },
      { path: "etc/gone", content: "deleted by layer 2" },
      { path: "hostdir", type: "symlink", linkname: host },
      { path: "hostfile", type: "symlink", linkname: join(host, "secret") },
    ],
    [{ path: "etc/a", content: "two" }, { path: "etc/.wh.gone" }, { path: "etc/b", content: "b" }],
  ]);
  const source = await OciLayout.open(layout);
  const [one, two] = [await loadImage(source, images[0]!), await loadImage(source, images[1]!)];
  return { dir, home: join(dir, "home"), host, one, two };
}

/** The stage's links to `host` resolve inside `root`, where the host's folder is not: `--from` finds nothing. */
async function staysInside(root: string, host: string): Promise<void> {
  expect(await resolveInRoot(root, "/hostdir/secret")).toBe(`${host.slice(1)}/secret`);
  for (const path of ["/hostdir/secret", "/hostfile"]) {
    expect((await failureOf(matchSources(root, [path], undefined, "--from=stage"))).code).toBe(
      "DOCKERFILE_SOURCE_NOT_FOUND",
    );
  }
}

describe("warmSnapshots", () => {
  it("makes an image's snapshots and announces its first layer; a layer that fails is left to the step that needs it", async () => {
    const { dir, home, host, two } = await stageImages();
    const unpacked: number[] = [];
    await warmSnapshots(two, { home, onUnpack: (n) => unpacked.push(n) });
    expect(unpacked).toEqual([2]);
    expect(await (await Snapshots.open(home)).prepare(two)).toMatchObject({ applied: 0, reused: 2 });
    // a layer writing through its own link to the host's folder: nothing thrown, nothing made, the host untouched;
    // the step's own prepare then says what is wrong, as without the warm-up
    const layout = join(dir, "evil");
    const [evil] = await handImages(layout, [
      [
        { path: "out", type: "symlink", linkname: host },
        { path: "out/planted", content: "x" },
      ],
    ]);
    const image = await loadImage(await OciLayout.open(layout), evil!);
    const cold = join(dir, "cold");
    const without = await failureOf((await Snapshots.open(cold)).prepare(image));
    await expect(warmSnapshots(image, { home })).resolves.toBeUndefined();
    expect(await readdir(join(home, "snapshots", "overlay"))).toHaveLength(2);
    expect(await readdir(join(home, "snapshots", "tmp"))).toEqual([]);
    expect(await readdir(host)).toEqual(["secret"]);
    expect(await failureOf((await Snapshots.open(home)).prepare(image))).toEqual(without);
    expect(without.message).toMatch(/^applying layer 0 /);
  });
});

describe("StageRoot", () => {
  it("a read-only overlay of the image's snapshots, made once per image, kept in the stage; remove unmounts", async () => {
    const { dir, home, host, one, two } = await stageImages();
    const stage = new StageRoot(join(dir, "stage"), home);
    const [a, b] = await Promise.all([stage.sync(one), stage.sync(one)]);
    expect([a, b]).toEqual([stage.dir, stage.dir]);
    expect(await mountsUnder(dir)).toEqual([stage.dir]);
    expect(await readFile(join(a, "etc/a"), "utf8")).toBe("one");
    await expect(writeFile(join(a, "etc/a"), "by hand")).rejects.toMatchObject({ code: "EROFS" });
    await staysInside(a, host);
    // The image grew: the root is made again, over its two snapshots.
    await stage.sync(two);
    expect(await mountsUnder(dir)).toEqual([stage.dir]);
    expect((await readdir(join(a, "etc"))).sort()).toEqual(["a", "b"]);
    expect(await readFile(join(a, "etc/a"), "utf8")).toBe("two");
    expect(await readdir(join(home, "snapshots", "overlay"))).toHaveLength(2);
    await stage.remove();
    expect(await mountsUnder(dir)).toEqual([]);
    expect(await readdir(dir)).not.toContain("stage");
    expect(await readFile(join(host, "secret"), "utf8")).toBe("host only");
  });

  it("full snapshots (no overlayfs): the top one in place when all are there, else the last one there copied and the rest applied, no snapshot made", async () => {
    const { dir, home, host, one, two } = await stageImages();
    const snapshotDirs = () => readdir(join(home, "snapshots", "full")).catch(() => []);
    const stage = new StageRoot(join(dir, "stage"), home, { mode: "full" });
    const check = async (root: string) => {
      expect((await readdir(join(root, "etc"))).sort()).toEqual(["a", "b"]);
      expect(await readFile(join(root, "etc/a"), "utf8")).toBe("two");
      await staysInside(root, host);
    };
    // No snapshot there: both layers applied in the stage's dir, none made.
    expect(await stage.sync(two)).toBe(stage.dir);
    await check(stage.dir);
    expect(await snapshotDirs()).toEqual([]);
    // One's snapshot there (a RUN step made it): read in place for one; for two, copied and layer 2 applied.
    const snapshots = await Snapshots.open(home, { mode: "full" });
    const [top] = (await snapshots.prepare(one)).dirs;
    expect(await stage.sync(one)).toBe(top);
    // two's tree, applied before, is gone
    expect(await readdir(stage.dir)).toEqual([]);
    expect(await stage.sync(two)).toBe(stage.dir);
    await check(stage.dir);
    expect(await snapshotDirs()).toHaveLength(1);
    expect(await readFile(join(top!, "etc/gone"), "utf8")).toBe("deleted by layer 2");
    // Every snapshot there: the top one in place.
    const chain = await snapshots.prepare(two);
    await stage.remove();
    expect(await stage.sync(two)).toBe(chain.dirs[1]);
    await check(chain.dirs[1]!);
    await stage.remove();
    expect(await readdir(dir)).not.toContain("stage");
    expect(await mountsUnder(dir)).toEqual([]);
    expect(await readFile(join(host, "secret"), "utf8")).toBe("host only");
  });

  it("removeStageRoots: the mounted roots undone together (one busy one detached), the others released, every dir gone", async () => {
    const { dir, home, one, two } = await stageImages();
    const a = new StageRoot(join(dir, "a"), home);
    const b = new StageRoot(join(dir, "b"), home);
    const full = new StageRoot(join(dir, "full"), home, { mode: "full" });
    const unused = new StageRoot(join(dir, "unused"), home);
    await Promise.all([a.sync(one), b.sync(two), full.sync(two)]);
    expect((await mountsUnder(dir)).sort()).toEqual([a.dir, b.dir]);
    // a file held open in one: its umount fails (busy), it is detached
    const held = await open(join(b.dir, "etc/a"));
    try {
      await removeStageRoots([a, b, full, unused]);
    } finally {
      await held.close();
    }
    expect(await mountsUnder(dir)).toEqual([]);
    expect((await readdir(dir)).filter((d) => ["a", "b", "full", "unused"].includes(d))).toEqual([]);
  });

  it("an image of more layers than one mount's options name (60) still gets its root", async () => {
    const dir = await tempDir();
    const layout = join(dir, "layout");
    const layers = Array.from({ length: 60 }, (_, i) => [
      { path: `f${i}`, content: String(i) },
      { path: "top", content: String(i) },
    ]);
    const images = await handImages(layout, layers);
    const image = await loadImage(await OciLayout.open(layout), images[59]!);
    const stage = new StageRoot(join(dir, "stage"), join(dir, "home"));
    try {
      const root = await stage.sync(image);
      expect((await readdir(root)).length).toBe(61);
      expect(await readFile(join(root, "top"), "utf8")).toBe("59");
    } finally {
      await stage.remove();
    }
    expect(await mountsUnder(dir)).toEqual([]);
  });
});
