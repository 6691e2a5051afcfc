/**
 * The restore phase's metadata rules without a cache (src/cnb/phase/restore.ts): the spec's layer-reuse table for
 * what the previous image records, store.toml, `--clear-cache`, and readying a kept layers directory. Restoring
 * contents from a cache is driven with real exports by test/cnb/cli/export.test.ts.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { LayerIndex } from "../../../src/cnb/cache/fingerprint.ts";
import type { LayersMetadata } from "../../../src/cnb/files/labels.ts";
import { pruneLayersDir, type RestoreInputs, Restorer } from "../../../src/cnb/phase/restore.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let layers: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-restore-");
  layers = join(dir, "layers");
  await mkdir(layers);
});

const GROUP = [
  { id: "acme/node", version: "1.0.0", api: "0.10" },
  { id: "acme/npm", version: "1.0.0", api: "0.10" },
];

const PREVIOUS: LayersMetadata = {
  buildpacks: [
    {
      key: "acme/node",
      version: "1.0.0",
      store: { metadata: { counter: 3 } },
      layers: {
        runtime: { sha: "sha256:1", launch: true, data: { v: "20" } },
        "build-only": { sha: "sha256:2", launch: true, build: true, data: { v: "x" } },
        cached: { sha: "sha256:3", launch: true, cache: true, data: { v: "c" } },
        plain: { sha: "sha256:4", launch: true, data: null },
      },
    },
    { key: "gone/bp", version: "1.0.0", layers: { l: { sha: "sha256:5", launch: true } } },
  ],
};

function restorer(o: Partial<RestoreInputs> = {}) {
  const lines: string[] = [];
  const r = new Restorer({
    layersDir: layers,
    group: GROUP,
    previous: PREVIOUS,
    cache: undefined,
    index: new LayerIndex(join(dir, "index")),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    chown: false,
    log: (l) => lines.push(l),
    ...o,
  });
  return { r, lines };
}

describe("Restorer without a cache", () => {
  it("launch layers get their [metadata] back from the app image; build=true cache=false and cache=true layers do not", async () => {
    const { r, lines } = restorer();
    expect(await r.restore()).toEqual({ metadata: 2, restored: 0, kept: 0, skipped: 0, sboms: 0 });
    expect((await readdir(join(layers, "acme_node"))).sort()).toEqual([
      "plain.toml",
      "runtime.toml",
      "store.toml",
    ]);
    expect(await readFile(join(layers, "acme_node", "runtime.toml"), "utf8")).toBe(
      '[metadata]\n  v = "20"\n',
    );
    expect(await readFile(join(layers, "acme_node", "plain.toml"), "utf8")).toBe("");
    expect(await readFile(join(layers, "acme_node", "store.toml"), "utf8")).toBe(
      "[metadata]\n  counter = 3.0\n", // a JSON number is a Go float64 to the lifecycle
    );
    expect(lines).toContain('Restoring metadata for "acme/node:runtime" from app image');
    // A group buildpack with nothing recorded gets an empty directory; one not in the group gets nothing.
    expect(await readdir(join(layers, "acme_npm"))).toEqual([]);
    expect((await readdir(layers)).sort()).toEqual(["acme_node", "acme_npm"]);
  });

  it("--clear-cache (skipLayers) restores only store.toml", async () => {
    const { r, lines } = restorer({ skipLayers: true });
    expect(await r.restore()).toMatchObject({ metadata: 0 });
    expect(await readdir(join(layers, "acme_node"))).toEqual(["store.toml"]);
    expect(lines).toContain("Skipping buildpack layer analysis");
  });

  it("reuse: directories of buildpacks no longer in the group and of layers not restored are removed", async () => {
    await mkdir(join(layers, "old_bp", "l"), { recursive: true });
    await mkdir(join(layers, "acme_node", "stale"), { recursive: true });
    await mkdir(join(layers, "acme_node", "runtime"), { recursive: true });
    await restorer({ reuse: true }).r.restore();
    expect((await readdir(layers)).sort()).toEqual(["acme_node", "acme_npm"]);
    // Without a cache nothing is kept: the runtime layer's contents were not in the cache either.
    expect((await readdir(join(layers, "acme_node"))).sort()).toEqual([
      "plain.toml",
      "runtime.toml",
      "store.toml",
    ]);
  });
});

describe("pruneLayersDir", () => {
  it("leaves only buildpack layer directories: top-level files, platform and hidden folders, and buildpack files go", async () => {
    for (const d of [
      "acme_node/runtime/bin",
      "sbom/launch",
      "config",
      "generated/e",
      ".hidden",
      "acme_npm",
    ]) {
      await mkdir(join(layers, d), { recursive: true });
    }
    for (const f of [
      "group.toml",
      "plan.toml",
      "acme_node/runtime.toml",
      "acme_node/launch.toml",
      "acme_node/store.toml",
    ]) {
      await writeFile(join(layers, f), "x");
    }
    await writeFile(join(layers, "acme_node", "runtime", "bin", "node"), "keep");
    await pruneLayersDir(layers);
    expect((await readdir(layers)).sort()).toEqual(["acme_node", "acme_npm"]);
    expect(await readdir(join(layers, "acme_node"))).toEqual(["runtime"]);
    expect(await readFile(join(layers, "acme_node", "runtime", "bin", "node"), "utf8")).toBe("keep");
  });

  it("makes the directory when it does not exist", async () => {
    await pruneLayersDir(join(dir, "new", "layers"));
    expect(await readdir(join(dir, "new", "layers"))).toEqual([]);
  });
});
