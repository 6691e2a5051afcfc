import { createReadStream } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyLayer } from "../../src/layer/apply.ts";
import { buildLayer } from "../../src/layer/build.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { files, layerOf, makeTree, threeLayers } from "./fixtures.ts";
import { snapshot } from "./helpers.ts";
import { layoutWithLayers, umociUnpack } from "./ocilayout.ts";

describe("interop with umoci 0.4.7", () => {
  it("umoci unpacks a berth-built layer with the files, modes, symlinks and hardlinks on disk", async () => {
    const src = tempDirSync();
    makeTree(src, files, 5);
    const out = tempDirSync();
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
    const mine = tempDirSync();
    await applyLayer(createReadStream(join(out, "layer")), mine);
    expect(snapshot(mine)).toEqual(want);
  });

  it("whiteouts and opaque directories agree with umoci unpack on a three-layer image", async () => {
    const out = tempDirSync();
    const built = [];
    for (const [i, entries] of threeLayers.entries()) {
      const file = join(out, `layer${i}`);
      built.push({ file, desc: await layerOf(entries, file) });
    }
    const layout = join(out, "oci");
    layoutWithLayers(layout, "t", built);
    const rootfs = umociUnpack(layout, "t", join(out, "bundle"));
    const mine = tempDirSync();
    for (const { file } of built) await applyLayer(createReadStream(file), mine);
    const want = snapshot(rootfs);
    expect(snapshot(mine)).toEqual(want);
    expect(Object.keys(want).sort()).toEqual(
      [
        "a",
        "a/x",
        "a/x/inside",
        "a/y",
        "a/z",
        "b",
        "b/new",
        "b/sub",
        "b/sub/fresh",
        "c",
        "c/again",
        "d",
        "d/stays",
        "e",
      ].sort(),
    );
  });
});
