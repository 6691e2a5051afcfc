/** files/layer.ts: `<layer>.toml` read from a buildpack's layers directory, and restored `[metadata]`. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeLayerMetadata, parseLayerToml, readLayerTomls } from "../../../src/cnb/files/layer.ts";
import { ConfinedTree } from "../../../src/util/confined.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("parseLayerToml", () => {
  it("reads [types] (false when absent) and keeps [metadata] only when present", () => {
    expect(parseLayerToml("[types]\nlaunch = true\ncache = true\n[metadata]\nv = 1\n", "f", "s")).toEqual({
      build: false,
      launch: true,
      cache: true,
      metadata: { v: 1 },
    });
    expect(parseLayerToml("", "f", "s")).toEqual({ build: false, launch: false, cache: false });
    expect(parseLayerToml("[metadata]\n", "f", "s").metadata).toEqual({});
  });

  it("refuses the pre-0.6 top-level flags, naming the flag, the buildpack and the file", () => {
    expect(() => parseLayerToml("launch = true\n", "/layers/a/node.toml", 'buildpack "a"')).toThrow(
      'buildpack "a": /layers/a/node.toml: the launch, cache and build flags must be in the [types] table, but "launch" is at the top level',
    );
    expect(() => parseLayerToml('[types]\nbuild = "yes"\n', "f", "s")).toThrow(
      /types\.build must be true or false, not string "yes"$/,
    );
  });
});

describe("readLayerTomls", () => {
  it("reads every <layer>.toml sorted by name, skipping the buildpack's own files and directories", async () => {
    const dir = await tempDir("berth-cnb-layer-");
    await writeFile(join(dir, "zeta.toml"), "[types]\nbuild = true\n");
    await writeFile(join(dir, "alpha.toml"), "[metadata]\nk = 'v'\n");
    for (const own of ["launch.toml", "build.toml", "store.toml"]) await writeFile(join(dir, own), "x = 1\n");
    await mkdir(join(dir, "dir.toml"));
    await writeFile(join(dir, "notes.txt"), "");
    const tree = new ConfinedTree(dir, { owner: 'buildpack "a"' });
    expect(await readLayerTomls(tree, "/layers/a", 'buildpack "a"')).toEqual([
      { name: "alpha", build: false, launch: false, cache: false, metadata: { k: "v" } },
      { name: "zeta", build: true, launch: false, cache: false },
    ]);
    await writeFile(join(dir, "bad.toml"), "launch = true\n");
    await expect(readLayerTomls(tree, "/layers/a", 'buildpack "a"')).rejects.toThrow(
      /^buildpack "a": \/layers\/a\/bad\.toml: /,
    );
  });
});

describe("encodeLayerMetadata", () => {
  it("writes only [metadata] as the lifecycle does, and nothing without data", () => {
    expect(encodeLayerMetadata({ version: "1", n: 2 })).toBe('[metadata]\n  n = 2.0\n  version = "1"\n');
    expect(encodeLayerMetadata({})).toBe("");
    expect(encodeLayerMetadata(null)).toBe("");
    expect(encodeLayerMetadata(undefined)).toBe("");
  });
});
