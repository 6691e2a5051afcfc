/**
 * The exporter (src/cnb/phase/export.ts) on a hand-made run image and a layers directory written by the test:
 * the image's layers in the lifecycle's order, its config (entrypoint, env, working dir, labels), the lifecycle
 * metadata label, the default process rules, and reuse of unchanged layers from the previous image. Launching
 * the result is test/cnb/cli/export.test.ts.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { LayerIndex } from "../../../src/cnb/cache/fingerprint.ts";
import { Exporter, type ExportInputs, type ExportResult } from "../../../src/cnb/phase/export.ts";
import { assemble } from "../../../src/oci/assemble.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let layers: string;
let app: string;
const runImage = assemble(
  {
    os: "linux",
    architecture: "amd64",
    config: { Env: ["PATH=/usr/bin:/bin", "LANG=C"], Labels: { "from.run": "yes" } },
    rootfs: { type: "layers", diff_ids: [] },
  },
  [],
);

async function file(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

beforeAll(async () => {
  dir = await tempDir("berth-cnb-export-");
  layers = join(dir, "layers");
  app = join(dir, "app");
  await file(join(layers, "acme_node", "runtime.toml"), '[types]\nlaunch = true\n[metadata]\nv = "20"\n');
  await file(join(layers, "acme_node", "runtime", "bin", "node"), "#!/bin/sh\n");
  await file(join(layers, "acme_node", "build-only.toml"), "[types]\nbuild = true\n");
  await file(join(layers, "acme_node", "build-only", "x"), "x");
  await file(
    join(layers, "config", "metadata.toml"),
    `buildpack-default-process-type = "web"
[[buildpacks]]
id = "acme/node"
version = "1.0.0"
api = "0.10"
[[processes]]
type = "web"
command = ["node", "server.js"]
args = []
direct = true
buildpack-id = "acme/node"
[[labels]]
key = "org.example.bp"
value = "set"
`,
  );
  await file(join(app, "server.js"), "console.log(1)");
  await file(join(dir, "launcher"), "launcher bytes");
});

async function exportWith(extra: Partial<ExportInputs> = {}): Promise<ExportResult & { lines: string[] }> {
  const lines: string[] = [];
  const workDir = join(dir, "work");
  await mkdir(workDir, { recursive: true });
  const r = await new Exporter({
    layersDir: layers,
    appDir: app,
    group: [{ id: "acme/node", version: "1.0.0", api: "0.10", homepage: "https://example.invalid" }],
    runImage: { image: runImage, reference: "run@sha256:abc", name: "reg.one:5000/run:1" },
    runImages: [{ image: "reg.two:5000/run:1", mirrors: ["reg.one:5000/run:1"] }],
    index: new LayerIndex(join(dir, "index")),
    workDir,
    launcher: { kind: "lifecycle", path: join(dir, "launcher"), version: "0.21.0" },
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    platformApi: "0.13",
    log: (l) => lines.push(l),
    warn: (l) => lines.push(`WARN ${l}`),
    ...extra,
  }).export();
  return Object.assign(r, { lines });
}

describe("Exporter", () => {
  it("the image: launch layers, the app, the launcher layers; the config made the app's", async () => {
    const r = await exportWith();
    const cfg = r.image.config!;
    expect(cfg.config?.Entrypoint).toEqual(["/cnb/process/web"]);
    expect(cfg.config?.Cmd ?? null).toBeNull();
    expect(cfg.config?.WorkingDir).toBe("/workspace");
    expect(cfg.config?.Env).toEqual([
      "PATH=/cnb/process:/cnb/lifecycle:/usr/bin:/bin",
      "LANG=C",
      "CNB_LAYERS_DIR=/layers",
      "CNB_APP_DIR=/workspace",
      "CNB_PLATFORM_API=0.13",
      "CNB_DEPRECATION_MODE=quiet",
    ]);
    expect(cfg.config?.Labels).toMatchObject({
      "from.run": "yes",
      "org.example.bp": "set",
      "io.buildpacks.project.metadata": "{}",
    });
    expect(cfg.created).toBe("1980-01-01T00:00:01Z");
    expect(r.defaultProcess).toBe("web");
    // One launch layer (build-only is not exported), one app layer, launcher, config and process-types.
    expect(r.image.layers()).toHaveLength(5);
    expect(cfg.history?.map((h) => h.created_by)).toEqual([
      "Layer: 'runtime', Created by buildpack: acme/node@1.0.0",
      "Application Layer",
      "Buildpacks Application Launcher",
      "Buildpacks Launcher Config",
      "Buildpacks Process Types",
    ]);
    const md = JSON.parse(cfg.config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}");
    expect(md.buildpacks).toEqual([
      {
        key: "acme/node",
        version: "1.0.0",
        layers: {
          runtime: {
            sha: cfg.rootfs.diff_ids[0],
            data: { v: "20" },
            build: false,
            launch: true,
            cache: false,
          },
        },
      },
    ]);
    // Platform API 0.13: the run.toml entry naming the image used (by a mirror here) is recorded.
    expect(md.runImage).toEqual({
      topLayer: "",
      reference: "run@sha256:abc",
      image: "reg.two:5000/run:1",
      mirrors: ["reg.one:5000/run:1"],
    });
    expect(JSON.parse(cfg.config?.Labels?.["io.buildpacks.build.metadata"] ?? "{}")).toMatchObject({
      buildpacks: [{ id: "acme/node", version: "1.0.0", homepage: "https://example.invalid" }],
      launcher: { version: "0.21.0" },
      processes: [
        { type: "web", command: ["node", "server.js"], args: null, direct: true, buildpackID: "acme/node" },
      ],
      "buildpack-default-process-type": "web",
    });
  });

  it("--default-process of a type the build has wins; of one it lacks warns and leaves the launcher as entrypoint", async () => {
    const missing = await exportWith({ defaultProcess: "worker" });
    expect(missing.defaultProcess).toBeUndefined();
    expect(missing.lines).toContain("WARN default process type 'worker' not present in list [web]");
    expect(missing.image.config?.config?.Entrypoint).toEqual(["/cnb/lifecycle/launcher"]);
    expect((await exportWith({ defaultProcess: "web" })).defaultProcess).toBe("web");
  });

  it("made twice from the same inputs, the same image digest", async () => {
    expect((await exportWith()).image.digest).toBe((await exportWith()).image.digest);
  });
});
