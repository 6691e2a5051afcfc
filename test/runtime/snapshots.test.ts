/** Snapshots: cached by chain ID, shared between images, atomic; a cached image applies no layer. */
import { readdirSync, statSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readTar } from "../../src/layer/reader.ts";
import { type Image, loadImage, loadRoot, selectImage } from "../../src/oci/image.ts";
import { OciLayout } from "../../src/oci/layout/index.ts";
import { runContainer, Snapshots } from "../../src/runtime/index.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { ownerOfName, selfIdentity } from "../../src/util/owner.ts";
import { handImages } from "../dockerfile/helpers/image.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { type HandEntry, sha256, tarOf } from "../layer/helpers.ts";
import { busyboxImage } from "./helpers.ts";

let dir: string;
let layout: string;

beforeAll(async () => {
  dir = await tempDir("berth-snap-");
  layout = join(dir, "layout");
  await busyboxImage(layout, "two", { cmd: ["cat", "/msg"] }, [[{ path: "msg", content: "two\n" }]]);
  // "other" is "two" plus one layer: it shares both of two's snapshots.
  const bundle = join(dir, "other-bundle");
  await run("umoci", ["unpack", "--rootless", "--image", `${layout}:two`, bundle]);
  await writeFile(join(bundle, "rootfs", "msg"), "other\n");
  await run("umoci", ["repack", "--image", `${layout}:other`, bundle]);
});

async function image(tag: string) {
  const opened = await openSource(parseImageArgument(`oci:${layout}:${tag}`), { home: dir, env: {} });
  return selectImage(await loadRoot(opened.source, opened.root));
}

it("the second run of an image applies no layer; images share the snapshots of common layers", async () => {
  const home = join(dir, "home-lib");
  const two = await image("two");
  const first = await runContainer({ home, image: two });
  expect(first.exitCode).toBe(0);
  expect(first.stdoutTail).toBe("two\n");
  expect(first.snapshots).toEqual({ mode: "overlay", applied: 2, reused: 0 });
  const snapDir = join(home, "snapshots", "overlay");
  const before = readdirSync(snapDir).map((d) => [d, statSync(join(snapDir, d)).ino]);
  const second = await runContainer({ home, image: two });
  expect(second.stdoutTail).toBe("two\n");
  expect(second.snapshots).toEqual({ mode: "overlay", applied: 0, reused: 2 });
  // Nothing was made or replaced in the cache.
  expect(readdirSync(snapDir).map((d) => [d, statSync(join(snapDir, d)).ino])).toEqual(before);
  expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
  // "other" begins with two's layers (same chain IDs): only its own layer is applied.
  const other = await runContainer({ home, image: await image("other") });
  expect(other.stdoutTail).toBe("other\n");
  expect(other.snapshots.applied).toBe(1);
  expect(other.snapshots.reused).toBe(2);
  expect(readdirSync(snapDir)).toHaveLength(3);
  // The container's writes went to its own upper dir, removed afterwards.
  expect(readdirSync(join(home, "run", "containers"))).toEqual([]);
});

it("two prepares of one image at once apply each layer once: the second waits for the first's snapshots", async () => {
  const home = join(dir, "home-once");
  const two = await image("two");
  const [s1, s2] = [await Snapshots.open(home), await Snapshots.open(home)];
  const applied: number[] = [];
  const onApply = (i: number) => applied.push(i);
  const [a, b] = await Promise.all([s1.prepare(two, { onApply }), s2.prepare(two, { onApply })]);
  expect(applied.sort()).toEqual([0, 1]);
  expect(b.dirs).toEqual(a.dirs);
  expect(b.opaque).toEqual(a.opaque);
  expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
  // when the one waited for fails, the other makes the snapshot itself (each prepare claims its first layer
  // before its first await: the second one waits for the first's)
  const fresh = join(dir, "home-once-fail");
  const [f1, f2] = [await Snapshots.open(fresh), await Snapshots.open(fresh)];
  const failing = f1.prepare(two, {
    onApply: () => {
      throw new Error("stopped");
    },
  });
  const waiting = f2.prepare(two);
  await expect(failing).rejects.toThrow("stopped");
  expect(await waiting).toMatchObject({ applied: 2, reused: 0 });
  expect(readdirSync(join(fresh, "snapshots", "tmp"))).toEqual([]);
});

it("observe sees the entries of the layers it applies, then end; of a layer found, or an apply aborted, end alone", async () => {
  const home = join(dir, "home-observe");
  const two = await image("two");
  const calls: string[] = [];
  const observe = (i: number) => ({
    begin: () => {
      calls.push(`${i} begin`);
      return (h: { path: string }) => {
        if (h.path.endsWith("msg")) calls.push(`${i} ${h.path}`);
        return undefined;
      };
    },
    applied: () => calls.push(`${i} applied`),
    end: () => calls.push(`${i} end`),
  });
  const snapshots = await Snapshots.open(home);
  const stop = new AbortController();
  // aborted while the first layer is applied: no snapshot is left, half-made or placed
  const aborted = snapshots.prepare(two, {
    signal: stop.signal,
    observe: (i) => ({
      ...observe(i),
      begin: () => {
        stop.abort();
        return observe(i).begin();
      },
    }),
  });
  await expect(aborted).rejects.toThrow();
  expect(calls).toEqual(["0 begin", "0 end"]);
  expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
  expect(readdirSync(join(home, "snapshots"))).not.toContain("overlay");
  calls.length = 0;
  await snapshots.prepare(two, { observe });
  expect(calls).toEqual(["0 begin", "0 applied", "0 end", "1 begin", "1 msg", "1 applied", "1 end"]);
  calls.length = 0;
  await snapshots.prepare(two, { observe });
  expect(calls).toEqual(["0 end", "1 end"]);
});

/** A tree as a list: each entry's path, type, mode, owner, mtime, content or target, and its hard-link group. */
async function treeOf(root: string): Promise<unknown[]> {
  const out: unknown[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, p));
      const group = st.nlink > 1 && !st.isDirectory() ? (inodes.get(st.ino) ?? p) : undefined;
      if (group === p) inodes.set(st.ino, p);
      const body = st.isSymbolicLink()
        ? await readlink(join(root, p))
        : st.isFile()
          ? await readFile(join(root, p), "utf8")
          : st.isCharacterDevice()
            ? st.rdev
            : undefined;
      out.push([p, st.mode, st.uid, st.gid, st.mtimeMs, body, group]);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk("");
  return out;
}

describe("streamed snapshots", () => {
  const below: HandEntry[] = [
    { path: "etc/", type: "dir" },
    { path: "etc/old", content: "old" },
  ];
  const layer: HandEntry[] = [
    { path: "app/", type: "dir", mode: 0o750, uid: 12, gid: 34, mtime: 1000 },
    { path: "app/bin", content: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0, mtime: 1001 },
    { path: "app/data", content: "data", mode: 0o600, uid: 5, gid: 6, mtime: 1002.5 },
    { path: "app/same", type: "hardlink", linkname: "app/data" },
    { path: "app/link", type: "symlink", linkname: "../etc/old", mtime: 1003 },
    { path: "etc/", type: "dir", mode: 0o700, mtime: 7 },
    { path: "etc/new", content: "new" },
  ];

  it("the snapshot of a layer made from its tar as written is the one prepare makes from the blob", async () => {
    const layout = join(dir, "streamed");
    const descs = await handImages(layout, [below, layer]);
    const img = await loadImage(await OciLayout.open(layout), descs[1]!);
    const tar = await tarOf(layer);
    const [d1] = img.imageConfig().rootfs.diff_ids;
    const home = join(dir, "home-streamed");
    const s = (await (await Snapshots.open(home)).streamed([d1!]))!;
    // its folder names its owner, for the sweep after a kill
    expect(readdirSync(join(home, "snapshots", "tmp")).map(ownerOfName)).toEqual([selfIdentity()]);
    s.input.end(tar);
    await s.finish(sha256(tar));
    const chain = await (await Snapshots.open(home)).prepare(img);
    expect(chain).toMatchObject({ applied: 1, reused: 1 });
    const cold = join(dir, "home-streamed-cold");
    const made = await (await Snapshots.open(cold)).prepare(img);
    expect(made).toMatchObject({ applied: 2, reused: 0 });
    expect(await treeOf(chain.dirs[1]!)).toEqual(await treeOf(made.dirs[1]!));
    expect(chain.opaque).toEqual(made.opaque);
    const meta = async (h: string, d: string) =>
      (await readFile(join(d, "..", "meta.json"), "utf8")).replaceAll(h, "HOME");
    expect(await meta(home, chain.dirs[1]!)).toBe(await meta(cold, made.dirs[1]!));
    expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
    // a prepare while the snapshot is being placed waits for it, and makes nothing itself
    const racing = join(dir, "home-streamed-racing");
    const r = (await (await Snapshots.open(racing)).streamed([d1!]))!;
    r.input.end(tar);
    const placed = r.finish(sha256(tar));
    const applied: number[] = [];
    const waited = await (await Snapshots.open(racing)).prepare(img, { onApply: (i) => applied.push(i) });
    expect(applied).toEqual([0]);
    expect(await treeOf(waited.dirs[1]!)).toEqual(await treeOf(made.dirs[1]!));
    await placed;
    expect(readdirSync(join(racing, "snapshots", "tmp"))).toEqual([]);
  });

  it("one made early, over its base alone, is placed over the layers given when it is taken (a step made early)", async () => {
    const layout = join(dir, "streamed-later");
    const mid: HandEntry[] = [{ path: "mid", content: "from a stage" }];
    const descs = await handImages(layout, [below, mid, layer]);
    const img = await loadImage(await OciLayout.open(layout), descs[2]!);
    const tar = await tarOf(layer);
    const [d1, d2] = img.imageConfig().rootfs.diff_ids;
    const home = join(dir, "home-streamed-later");
    // the key pass knows the base's layer only; the layer is taken over the base and another stage's copy
    const s = (await (await Snapshots.open(home)).streamed([d1!]))!;
    s.input.end(tar);
    await s.finish(sha256(tar), [d1!, d2!]);
    const chain = await (await Snapshots.open(home)).prepare(img);
    expect(chain).toMatchObject({ applied: 2, reused: 1 });
    const cold = join(dir, "home-streamed-later-cold");
    const made = await (await Snapshots.open(cold)).prepare(img);
    expect(await treeOf(chain.dirs[2]!)).toEqual(await treeOf(made.dirs[2]!));
    const meta = async (h: string, d: string) =>
      (await readFile(join(d, "..", "meta.json"), "utf8")).replaceAll(h, "HOME");
    expect(await meta(home, chain.dirs[2]!)).toBe(await meta(cold, made.dirs[2]!));
    // one applied as a base layer (anything taken, nothing checked against a parent) is not placed over parents
    const based = join(dir, "home-streamed-based");
    const b = (await (await Snapshots.open(based)).streamed([]))!;
    b.input.end(tar);
    await b.finish(sha256(tar), [d1!, d2!]);
    expect(await readdir(join(based, "snapshots", "overlay")).catch(() => [])).toEqual([]);
    expect(readdirSync(join(based, "snapshots", "tmp"))).toEqual([]);
  });

  it("none is made of a layer that needs what is below it, one that fails, or one abandoned: prepare makes it", async () => {
    const home = join(dir, "home-streamed-none");
    const snapshots = await Snapshots.open(home);
    const placed = () => readdir(join(home, "snapshots", "overlay")).catch(() => []);
    const parent = sha256(await tarOf(below));
    const cases: [string, HandEntry[]][] = [
      ["a whiteout", [{ path: "etc/", type: "dir" }, { path: "etc/.wh.old" }]],
      ["no parent directory", [{ path: "etc/new", content: "x" }]],
      // an attack: a link to the host's folder, then a file through it (refused by the apply; the host untouched)
      [
        "a write through a link",
        [
          { path: "out", type: "symlink", linkname: dir },
          { path: "out/planted", content: "x" },
        ],
      ],
    ];
    for (const [what, entries] of cases) {
      const tar = await tarOf(entries);
      const s = (await snapshots.streamed([parent]))!;
      s.input.end(tar);
      await s.finish(sha256(tar));
      expect(await placed(), what).toEqual([]);
    }
    expect(readdirSync(dir)).not.toContain("planted");
    const s = (await snapshots.streamed([parent]))!;
    s.input.write((await tarOf(layer)).subarray(0, 512));
    await s.abandon();
    // abandoned before any of the tar came (a RUN that failed at once)
    await (await snapshots.streamed([parent]))!.abandon();
    expect(await placed()).toEqual([]);
    expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
    // full snapshots (rootless, no overlayfs) are copies of their parents: none streamed
    expect(
      await (await Snapshots.open(join(dir, "home-full"), { mode: "full" })).streamed([parent]),
    ).toBeUndefined();
  });
});

it("a snapshot made in another boot is made again (nothing was synced: a crash may have left it short)", async () => {
  const home = join(dir, "home-boot");
  const two = await image("two");
  const snapshots = await Snapshots.open(home);
  const first = await snapshots.prepare(two);
  expect(first).toMatchObject({ applied: 2, reused: 0 });
  const meta = join(first.dirs[1]!, "..", "meta.json");
  const boot = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  expect(JSON.parse(await readFile(meta, "utf8")).boot).toBe(boot);
  expect((await snapshots.prepare(two)).applied).toBe(0);
  await writeFile(
    meta,
    JSON.stringify({ ...JSON.parse(await readFile(meta, "utf8")), boot: "another-boot" }),
  );
  expect(await snapshots.prepare(two)).toMatchObject({ applied: 1, reused: 1 });
  expect(JSON.parse(await readFile(meta, "utf8")).boot).toBe(boot);
  expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
});

it("meta.json lists a snapshot's opaque dirs (for reading roots as a union); one made before it did gets them once", async () => {
  const home = join(dir, "home-opaque");
  const two = await image("two");
  const snapshots = await Snapshots.open(home);
  const first = await snapshots.prepare(two);
  // Applied straight into their dirs: nothing below to hide.
  expect(first.opaque).toEqual([[], []]);
  const meta = join(first.dirs[1]!, "..", "meta.json");
  expect(JSON.parse(await readFile(meta, "utf8")).opaque).toEqual([]);
  // A snapshot from before: no `opaque` in its meta.json, an opaque dir in its tree.
  await mkdir(join(first.dirs[1]!, "etc", "deep"), { recursive: true });
  await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(first.dirs[1]!, "etc", "deep")]);
  // overlayfs mounted `userxattr` (in a user namespace) marks it `user.overlay.opaque`.
  await mkdir(join(first.dirs[1]!, "ns"));
  await run("setfattr", ["-n", "user.overlay.opaque", "-v", "y", join(first.dirs[1]!, "ns")]);
  const { opaque: _, ...old } = JSON.parse(await readFile(meta, "utf8"));
  await writeFile(meta, JSON.stringify(old));
  expect((await snapshots.prepare(two)).opaque).toEqual([[], ["etc/deep", "ns"]]);
  expect(JSON.parse(await readFile(meta, "utf8")).opaque).toEqual(["etc/deep", "ns"]);
  // A redirect (a directory renamed with redirect_dir on) cannot be followed by a union read: none is given.
  await run("setfattr", ["-n", "trusted.overlay.redirect", "-v", "/x", join(first.dirs[1]!, "etc")]);
  await writeFile(meta, JSON.stringify(old));
  expect((await snapshots.prepare(two)).opaque).toEqual([[], undefined]);
  expect(JSON.parse(await readFile(meta, "utf8")).opaque).toBeNull();
});

it("a layer naming every parent and deleting nothing is applied with no overlay mount; others through one", async () => {
  const layoutSc = join(dir, "layout-sc");
  // umoci names a parent it did not change only by its path: /new's are named, /etc is not.
  await busyboxImage(layoutSc, "adds", {}, [[{ path: "new/dir/file", content: "new\n" }]]);
  await busyboxImage(layoutSc, "etc", {}, [[{ path: "etc/extra", content: "extra\n" }]]);
  await busyboxImage(layoutSc, "deletes", {}, [[{ path: "etc/group", delete: true }]]);
  // mount(8) on PATH logs each call before making it.
  const bin = join(dir, "logging-mount");
  const log = join(bin, "log");
  await mkdir(bin);
  await writeFile(join(bin, "mount"), `#!/bin/sh\necho "$*" >> ${log}\nexec /usr/bin/mount "$@"\n`, {
    mode: 0o755,
  });
  const snapshotMounts = async () =>
    (await readFile(log, "utf8").catch(() => ""))
      .split("\n")
      .filter((l) => l.includes("/snapshots/tmp/") && !l.includes("/probe-")).length;
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    const home = join(dir, "home-sc");
    const snapshots = await Snapshots.open(home);
    const open = async (tag: string) => {
      const opened = await openSource(parseImageArgument(`oci:${layoutSc}:${tag}`), { home: dir, env: {} });
      return selectImage(await loadRoot(opened.source, opened.root));
    };
    const ls = async (image: Image, script: string) =>
      (await runContainer({ home, image, args: ["sh", "-c", script], network: "none" })).stdoutTail;
    // The images share busybox's layer when umoci made them within the same second: then only their own is applied.
    const expectLastApplied = (r: { applied: number; reused: number }) => {
      expect(r.applied + r.reused).toBe(2);
      expect(r.applied).toBeGreaterThanOrEqual(1);
    };
    const adds = await open("adds");
    expect(await snapshots.prepare(adds)).toMatchObject({ applied: 2 });
    expect(await snapshotMounts()).toBe(0);
    expect(await ls(adds, "cat /new/dir/file; ls /")).toBe(
      "new\nbin\ndev\netc\nhome\nnew\nproc\nroot\nsys\ntmp\n",
    );
    const etc = await open("etc");
    // umoci leaves /etc out of the layer unless it saw /etc's mtime change (within the same second it may not):
    // without it the layer needs the one below (a mount), with it the layer is whole (none)
    const etcNamed = await namesDir(etc, "etc");
    expectLastApplied(await snapshots.prepare(etc));
    expect(await snapshotMounts()).toBe(etcNamed ? 0 : 1);
    expect(await ls(etc, "test -f /etc/group && test -f /etc/passwd && cat /etc/extra")).toBe("extra\n");
    const deletes = await open("deletes");
    expectLastApplied(await snapshots.prepare(deletes));
    expect(await snapshotMounts()).toBe(etcNamed ? 1 : 2);
    expect(await ls(deletes, "test ! -e /etc/group && test -f /etc/passwd && echo gone")).toBe("gone\n");
  } finally {
    process.env.PATH = path;
  }
});

it("berth run reports layers applied (BERTH_DEBUG) and applies none on the second run", async () => {
  const home = join(dir, "home-cli");
  const img = `oci:${layout}:two`;
  const a = await berth(["run", img], { home, env: { BERTH_DEBUG: "1" } });
  expect(a.stdout).toBe("two\n");
  expect(a.stderr).toContain("2 layers applied, 0 cached");
  const b = await berth(["run", img], { home, env: { BERTH_DEBUG: "1" } });
  expect(b.stdout).toBe("two\n");
  expect(b.stderr).toContain("0 layers applied, 2 cached");
  expect(b.stderr).not.toContain("applying layer");
});

it("concurrent runs of one image do not interfere (cold cache, writes in each container)", async () => {
  const home = join(dir, "home-conc");
  const img = `oci:${layout}:two`;
  const runs = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      berth(["run", img, "sh", "-c", `echo ${i} > /msg2; sleep 0.2; cat /msg /msg2; ls /tmp`], { home }),
    ),
  );
  runs.forEach((r, i) => {
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`two\n${i}\n`);
    expect(r.code).toBe(0);
  });
  expect(readdirSync(join(home, "snapshots", "overlay"))).toHaveLength(2);
  expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
  expect(readdirSync(join(home, "run", "containers"))).toEqual([]);
  expect(readdirSync(join(home, "run", "state"))).toEqual([]);
});

it("full snapshots (the rootless/no-overlay mode) hold whole trees and give the same container", async () => {
  const home = join(dir, "home-full");
  const snaps = await Snapshots.open(home, { mode: "full" });
  // nothing made yet: no cached prefix, and asking makes no snapshot
  expect((await snaps.cachedPrefix(await image("other"))).dirs).toEqual([]);
  const chain = await snaps.prepare(await image("two"));
  expect(chain.applied).toBe(2);
  expect(readdirSync(chain.dirs[1]!)).toContain("msg");
  expect(readdirSync(chain.dirs[1]!)).toContain("bin");
  expect((await snaps.prepare(await image("two"))).applied).toBe(0);
  // "other" is "two" plus one layer: its cached prefix is two's snapshots
  const prefix = await snaps.cachedPrefix(await image("other"));
  expect(prefix.dirs).toEqual(chain.dirs);
  expect(prefix.chainIds).toEqual(chain.chainIds);
  expect(readdirSync(join(home, "snapshots", "full"))).toHaveLength(2);
});

it("--keep keeps the writable layer", async () => {
  const home = join(dir, "home-keep");
  const r = await berth(["run", "--keep", `oci:${layout}:two`, "sh", "-c", "echo kept > /new"], { home });
  expect(r.code).toBe(0);
  const m = /kept the container's folder (\S+)/.exec(r.stderr);
  expect(m).not.toBeNull();
  expect(readdirSync(join(m![1]!, "upper"))).toContain("new");
});

/** Whether the image's last layer has an entry for the directory `dir` itself. */
async function namesDir(image: Image, dir: string): Promise<boolean> {
  const layer = image.layers().at(-1)!;
  let named = false;
  for await (const e of readTar(await layer.uncompressed())) {
    if (e.header.type === "dir" && e.header.path.replace(/^\.?\//, "").replace(/\/$/, "") === dir)
      named = true;
  }
  return named;
}
