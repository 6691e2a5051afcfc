/**
 * Applying a layer to a root: entries of every type, directories over directories, whiteouts and opaque
 * markers hiding lower content only, rootless ownership, `accept`, and the refusals that name the entry.
 * (Attacks on confinement are in test/layer/security/.)
 */
import { lstat, mkdir, readdir, readFile, readlink, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { applyLayer, rootlessXattr, selfContained } from "../../src/layer/apply.ts";
import type { EntryHeader } from "../../src/layer/entry.ts";
import { tempDir } from "../helpers/temp.ts";
import { type HandEntry, streamOf, tarOf } from "./helpers.ts";

async function apply(root: string, entries: HandEntry[], o: Parameters<typeof applyLayer>[2] = {}) {
  return applyLayer(streamOf(await tarOf(entries)), root, o);
}

const mode = async (p: string) => (await lstat(p)).mode & 0o7777;

describe("applyLayer", () => {
  it("creates every entry type with mode, owner and mtime, and counts them", async () => {
    const root = join(await tempDir(), "new-root");
    const stats = await applyLayer(
      streamOf(
        gzipSync(
          await tarOf([
            { path: "bin", type: "dir", mode: 0o555, mtime: 1000 },
            { path: "bin/tool", content: "#!/bin/sh\n", mode: 0o4755, uid: 1000, gid: 50, mtime: 2000 },
            { path: "bin/sh", type: "symlink", linkname: "tool", mtime: 3000 },
            { path: "bin/again", type: "hardlink", linkname: "bin/tool" },
            { path: "run/pipe", type: "fifo", mode: 0o600 },
          ]),
        ),
      ),
      root,
    );
    expect(stats).toMatchObject({
      entries: 5,
      files: 1,
      dirs: 1,
      symlinks: 1,
      hardlinks: 1,
      devices: 1,
      notes: [],
    });
    const tool = await lstat(join(root, "bin/tool"));
    expect([tool.mode & 0o7777, tool.uid, tool.gid, tool.mtimeMs, tool.nlink]).toEqual([
      0o4755, 1000, 50, 2_000_000, 2,
    ]);
    expect(await readFile(join(root, "bin/again"), "utf8")).toBe("#!/bin/sh\n");
    expect(await readlink(join(root, "bin/sh"))).toBe("tool");
    expect((await lstat(join(root, "bin/sh"))).mtimeMs).toBe(3_000_000);
    // Directory attributes are set last: still 0555 and mtime 1000 after its children were made.
    const bin = await lstat(join(root, "bin"));
    expect([bin.mode & 0o7777, bin.mtimeMs]).toEqual([0o555, 1_000_000]);
    expect((await lstat(join(root, "run/pipe"))).isFIFO()).toBe(true);
    expect(await mode(join(root, "run"))).toBe(0o755);
  });

  it("a directory over a directory keeps its content; anything else is replaced", async () => {
    const root = await tempDir();
    await apply(root, [
      { path: "d", type: "dir" },
      { path: "d/keep", content: "lower" },
      { path: "f", content: "was a file" },
      { path: "g", type: "dir" },
      { path: "g/child", content: "x" },
    ]);
    await apply(root, [
      { path: "d", type: "dir", mode: 0o700 },
      { path: "f", type: "dir" },
      { path: "g", type: "symlink", linkname: "d" },
    ]);
    expect(await readFile(join(root, "d/keep"), "utf8")).toBe("lower");
    expect(await mode(join(root, "d"))).toBe(0o700);
    expect((await lstat(join(root, "f"))).isDirectory()).toBe(true);
    expect(await readlink(join(root, "g"))).toBe("d");
  });

  it("whiteouts and opaque markers remove lower content, never what the same layer wrote", async () => {
    const root = await tempDir();
    await apply(root, [
      { path: "a", type: "dir" },
      { path: "a/old", content: "1" },
      { path: "a/gone", content: "2" },
      { path: "o", type: "dir" },
      { path: "o/lower", content: "3" },
      { path: "o/sub", type: "dir" },
      { path: "o/sub/lower", content: "4" },
    ]);
    const stats = await apply(root, [
      { path: "a/.wh.gone" },
      { path: "a/.wh.never-there" },
      { path: "missing/.wh.x" },
      { path: "o/sub", type: "dir" },
      { path: "o/sub/new", content: "5" },
      { path: "o/implicit/new", content: "6" },
      { path: "o/.wh..wh..opq" },
      { path: "a/.wh..wh.plnk" },
    ]);
    expect(stats).toMatchObject({ whiteouts: 3, opaques: 1 });
    expect((await readdir(join(root, "a"))).sort()).toEqual(["old"]);
    expect((await readdir(join(root, "o"))).sort()).toEqual(["implicit", "sub"]);
    expect(await readdir(join(root, "o/implicit"))).toEqual(["new"]);
    expect(await readdir(join(root, "o/sub"))).toEqual(["new"]);
    await expect(lstat(join(root, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("rootless: ownership recorded (and given as user.rootlesscontainers), device nodes skipped with a note", async () => {
    const root = await tempDir();
    const set: [string, string, Buffer][] = [];
    const stats = await apply(
      root,
      [
        { path: "home", type: "dir", uid: 1000, gid: 1000 },
        { path: "home/f", content: "x", uid: 0, gid: 0 },
        { path: "home/l", type: "symlink", linkname: "f", uid: 5, gid: 5 },
        { path: "dev/null", type: "char", devmajor: 1, devminor: 3 },
      ],
      { rootless: true, setXattr: async (p, n, v) => void set.push([p, n, v]) },
    );
    expect([...stats.ownership]).toEqual([
      ["home", { uid: 1000, gid: 1000 }],
      ["home/l", { uid: 5, gid: 5 }],
    ]);
    // Symlinks cannot carry user.* xattrs: recorded only.
    expect(set).toEqual([
      [join(await realpath(root), "home"), "user.rootlesscontainers", rootlessXattr(1000, 1000)],
    ]);
    expect(stats.notes).toEqual([{ entry: "dev/null", reason: "char device 1:3 not created (rootless)" }]);
    expect((await lstat(join(root, "home"))).uid).toBe(process.getuid?.());
  });

  it("xattrs in the layer without a way to set them are noted", async () => {
    const root = await tempDir();
    const stats = await apply(root, [{ path: "f", content: "", xattrs: { "user.a": Buffer.from("1") } }]);
    expect(stats.notes).toEqual([{ entry: "f", reason: "xattr user.a not set (no xattr support given)" }]);
  });

  it("accept stops the apply at the first entry it refuses", async () => {
    const root = await tempDir();
    const stats = await apply(
      root,
      [
        { path: "a", content: "" },
        { path: "b", content: "" },
        { path: "c", content: "" },
      ],
      {
        accept: (h) => h.path !== "b",
      },
    );
    expect(stats.stopped).toBe("b");
    expect(await readdir(root)).toEqual(["a"]);
  });

  it("bad entries are one sentence naming the entry", async () => {
    const root = await tempDir();
    await apply(root, [{ path: "dir", type: "dir" }]);
    const cases: [HandEntry, string, string][] = [
      [
        { path: "./", type: "symlink", linkname: "x" },
        "LAYER_INVALID",
        'layer entry "." replaces the root with a symlink',
      ],
      [
        { path: "h", type: "hardlink", linkname: "nope" },
        "LAYER_UNSAFE",
        'layer entry "h" links to "nope", which does not exist in the root',
      ],
      [
        { path: "h", type: "hardlink", linkname: "dir" },
        "LAYER_INVALID",
        'layer entry "h" is a hardlink to directory "dir"',
      ],
      [
        { path: "h", type: "hardlink", linkname: "." },
        "LAYER_INVALID",
        'layer entry "h" is a hardlink to the root',
      ],
      [{ path: "dir/.wh." }, "LAYER_INVALID", 'layer entry "dir/.wh." is a whiteout with no name'],
    ];
    for (const [entry, code, message] of cases) {
      await expect(apply(root, [entry])).rejects.toMatchObject({ code, message });
    }
  });
});

describe("selfContained", () => {
  const hdr = (path: string, type: EntryHeader["type"] = "file", linkname?: string): EntryHeader => ({
    path,
    type,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    ...(linkname ? { linkname } : {}),
  });

  it("true while every parent and hard link target came before; false at a whiteout or a missing parent", () => {
    const accept = selfContained();
    expect(accept(hdr("top"))).toBe(true);
    expect(accept(hdr("app", "dir"))).toBe(true);
    expect(accept(hdr("/app/./f"))).toBe(true);
    expect(accept(hdr("app/h", "hardlink", "/app/f"))).toBe(true);
    expect(accept(hdr("app/h2", "hardlink", "app/missing"))).toBe(false);
    expect(accept(hdr("usr/bin/x"))).toBe(false);
    expect(accept(hdr("app/.wh.f"))).toBe(false);
    // A directory replaced by a file is no parent any more.
    const again = selfContained();
    again(hdr("d", "dir"));
    again(hdr("d"));
    expect(again(hdr("d/x"))).toBe(false);
  });
});

describe("rootlessXattr", () => {
  it("protobuf Resource { uid = 1; gid = 2 } with varints, zero fields left out", () => {
    expect(rootlessXattr(0, 0)).toEqual(Buffer.alloc(0));
    expect(rootlessXattr(1000, 0)).toEqual(Buffer.from([0x08, 0xe8, 0x07]));
    expect(rootlessXattr(0, 5)).toEqual(Buffer.from([0x10, 0x05]));
    expect(rootlessXattr(2 ** 32 - 1, 127)).toEqual(
      Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x7f]),
    );
  });
});

it("a root folder is made when missing", async () => {
  const root = join(await tempDir(), "a", "b");
  await mkdir(join(root, ".."), { recursive: true });
  await writeFile(join(root, "..", "sibling"), "");
  await apply(root, [{ path: "x", content: "1" }]);
  expect(await readdir(root)).toEqual(["x"]);
});
