import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyLayer } from "../../src/layer/apply.ts";
import { buildLayer } from "../../src/layer/build.ts";
import { writeLayer } from "../../src/layer/output.ts";
import { files, makeTree } from "./fixtures.ts";
import { cleanup, type HandEntry, snapshot, tempDir } from "./helpers.ts";
import { layoutWithLayers, umociUnpack } from "./ocilayout.ts";
import { createReadStream } from "node:fs";
import type { EntryHeader } from "../../src/layer/entry.ts";

afterAll(cleanup);

async function layerOf(entries: HandEntry[], file: string) {
  return writeLayer(file, {}, async (w) => {
    for (const e of entries) {
      const content = e.content === undefined ? undefined : Buffer.from(e.content);
      const h: EntryHeader = { type: "file", mode: e.type === "dir" ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 1000, ...e, size: content?.length ?? 0 };
      await w.add(h, content);
    }
  });
}

describe("interop with umoci 0.4.7", () => {
  it("umoci unpacks a berth-built layer with the files, modes, symlinks and hardlinks on disk", async () => {
    const src = tempDir();
    makeTree(src, files, 5);
    const out = tempDir();
    const desc = await buildLayer(src, join(out, "layer"));
    const layout = join(out, "oci");
    layoutWithLayers(layout, "t", [{ file: join(out, "layer"), desc }]);
    const rootfs = umociUnpack(layout, "t", join(out, "bundle"));
    const want = snapshot(src);
    const got = snapshot(rootfs);
    expect(got).toEqual(want);
    expect(got["etc/hard"]?.inodeGroup).toBe("etc/config");
    expect(got["bin/tool"]?.mode).toBe(0o4755);
    // and berth's own apply gives the same tree
    const mine = tempDir();
    await applyLayer(createReadStream(join(out, "layer")), mine);
    expect(snapshot(mine)).toEqual(want);
  });

  it("whiteouts and opaque directories agree with umoci unpack on a three-layer image", async () => {
    const out = tempDir();
    const layers: HandEntry[][] = [
      [
        { path: "a", type: "dir" },
        { path: "a/x", content: "ax" },
        { path: "a/y", content: "ay" },
        { path: "b", type: "dir", mode: 0o700 },
        { path: "b/keep", content: "lower" },
        { path: "b/sub", type: "dir" },
        { path: "b/sub/deep", content: "deep" },
        { path: "c", type: "dir" },
        { path: "c/file", content: "c" },
        { path: "d", type: "dir" },
        { path: "d/gone", content: "g" },
        { path: "d/stays", content: "s" },
        { path: "e", type: "dir" },
        { path: "e/f", content: "f", uid: 1000, gid: 1000 },
        { path: "link", type: "symlink", linkname: "a/x" },
        { path: "hl", type: "hardlink", linkname: "a/y" },
      ],
      [
        { path: "a/.wh.x", content: "" },
        { path: "a/z", content: "az" },
        { path: "b", type: "dir", mode: 0o755 },
        { path: "b/new", content: "upper" },
        { path: "b/sub", type: "dir" },
        { path: "b/sub/fresh", content: "fresh" },
        // The opaque marker after entries of its own layer: it still hides only lower content.
        { path: "b/.wh..wh..opq", content: "" },
        { path: "c", content: "c is a file now" },
        { path: "d/.wh.gone", content: "" },
        { path: "d/.wh.never-existed", content: "" },
      ],
      [
        { path: "a/x", type: "dir", mode: 0o750 },
        { path: "a/x/inside", content: "i" },
        { path: ".wh.link", content: "" },
        { path: "e/.wh.f", content: "" },
        { path: "c", type: "dir" },
        { path: "c/again", content: "again" },
        { path: ".wh.hl", content: "" },
      ],
    ];
    const built = [];
    for (const [i, entries] of layers.entries()) {
      const file = join(out, `layer${i}`);
      built.push({ file, desc: await layerOf(entries, file) });
    }
    const layout = join(out, "oci");
    layoutWithLayers(layout, "t", built);
    const rootfs = umociUnpack(layout, "t", join(out, "bundle"));
    const mine = tempDir();
    for (const { file } of built) await applyLayer(createReadStream(file), mine);
    const want = snapshot(rootfs);
    expect(snapshot(mine)).toEqual(want);
    expect(Object.keys(want).sort()).toEqual(
      ["a", "a/x", "a/x/inside", "a/y", "a/z", "b", "b/new", "b/sub", "b/sub/fresh", "c", "c/again", "d", "d/stays", "e"].sort(),
    );
  });
});
