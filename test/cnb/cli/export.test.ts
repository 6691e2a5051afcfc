/**
 * Export, launch, cache, fast rebuilds and rebase on hand-made layers directories (their format is the
 * spec's), a busybox run image made by umoci, berth's own static launcher, runc through `berth run` and
 * `berth bundle`.
 */
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DirectoryCache } from "../../../src/cnb/cache/cache.ts";
import { LayerIndex } from "../../../src/cnb/cache/fingerprint.ts";
import { LABEL, type LayersMetadata } from "../../../src/cnb/files/labels.ts";
import { resolveImage } from "../../../src/cnb/image.ts";
import { berthLauncher } from "../../../src/cnb/launch/index.ts";
import {
  Exporter,
  type ExportInputs,
  type ExportResult,
  type LauncherInput,
} from "../../../src/cnb/phase/export.ts";
import { Rebaser } from "../../../src/cnb/phase/rebase.ts";
import { Restorer } from "../../../src/cnb/phase/restore.ts";
import type { ImageConfig } from "../../../src/oci/config.ts";
import { loadRoot, selectImage } from "../../../src/oci/image.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { writeImage } from "../../../src/transport/copy.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";

let dir: string;
let home: string;
let runLayout: string;
let out: string;
let launcher: LauncherInput;
const ctx = () => ({ home, env: {} });

const GROUP = [
  { id: "test/hello", version: "1.0.0", api: "0.10" },
  { id: "test/other", version: "0.1.0", api: "0.10" },
];

async function file(path: string, content: string, mode = 0o644) {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, content);
  await chmod(path, mode);
}

/** A layers directory as bin/build would leave it, and an app. */
async function makeLayers(
  root: string,
  cacheContent = "cached-v1",
): Promise<{ layers: string; app: string }> {
  const layers = join(root, "layers");
  const app = join(root, "app");
  await rm(layers, { recursive: true, force: true });
  const bp = join(layers, "test_hello");
  await file(join(bp, "hello.toml"), '[types]\nlaunch = true\ncache = true\n[metadata]\nversion = "1"\n');
  await file(join(bp, "hello", "env.launch", "GREETING"), "hello");
  await file(join(bp, "hello", "env", "PATHISH.prepend"), "first");
  await file(join(bp, "hello", "env", "PATHISH.delim"), ":");
  await file(join(bp, "hello", "env.launch", "worker", "ROLE"), "worker-only");
  await file(join(bp, "hello", "bin", "greet"), '#!/bin/sh\necho "greet: $GREETING $*"\n', 0o755);
  await file(
    join(bp, "hello", "exec.d", "add-secret"),
    "#!/bin/sh\necho 'SECRET = \"from-exec-d\"' >&3\n",
    0o755,
  );
  await file(join(bp, "cached.toml"), "[types]\ncache = true\n");
  await file(join(bp, "cached", "data"), cacheContent);
  await file(join(bp, "store.toml"), '[metadata]\nruns = "1"\n');
  const other = join(layers, "test_other");
  await file(join(other, "tools.toml"), "[types]\nlaunch = true\n");
  await file(join(other, "tools", "env", "PATHISH.append"), "last");
  await file(join(other, "tools", "env", "PATHISH.delim"), ":");
  await file(join(other, "tools", "env.launch", "GREETING.default"), "ignored");
  await file(
    join(layers, "config", "metadata.toml"),
    `buildpack-default-process-type = "web"
[[buildpacks]]
id = "test/hello"
version = "1.0.0"
api = "0.10"
[[buildpacks]]
id = "test/other"
version = "0.1.0"
api = "0.10"
[[processes]]
type = "web"
command = ["greet", "web"]
args = ["default-arg"]
direct = true
buildpack-id = "test/hello"
[[processes]]
type = "worker"
command = ["/bin/sh", "-c", "echo worker $ROLE $PATHISH $SECRET $(pwd)"]
args = []
direct = true
buildpack-id = "test/hello"
working-dir = "/tmp"
[[slices]]
paths = ["static/*"]
[[labels]]
key = "org.example.from-buildpack"
value = "yes"
`,
  );
  await file(join(app, "main.txt"), "the app");
  await file(join(app, "static", "index.html"), "<html/>");
  return { layers, app };
}

async function exportTo(
  layers: string,
  app: string,
  runTag: string,
  dest: string,
  extra: Partial<ExportInputs> = {},
): Promise<ExportResult> {
  const r = await resolveImage(`oci:${runLayout}:${runTag}`, ctx());
  const workDir = join(dir, "work");
  await mkdir(workDir, { recursive: true });
  const lines: string[] = [];
  const result = await new Exporter({
    layersDir: layers,
    appDir: app,
    group: GROUP,
    runImage: { image: r!.image, reference: r!.pinned, name: `oci:${runLayout}:${runTag}` },
    // The builder's run images (run.toml): what the label records for rebase.
    runImages: [{ image: `oci:${runLayout}:${runTag}` }],
    index: new LayerIndex(join(home, "cache", "cnb")),
    workDir,
    launcher,
    uid: 1000,
    gid: 1000,
    platformApi: "0.13",
    log: (l) => lines.push(l),
    ...extra,
  }).export();
  await writeImage(
    result.image.source,
    result.image.descriptor,
    dest,
    parseImageArgument(`oci:${out}:${dest}`),
    ctx(),
  );
  for (const b of result.newBlobs)
    await new LayerIndex(join(home, "cache", "cnb")).rememberBlob(b.diffId, b.descriptor);
  (result as ExportResult & { lines: string[] }).lines = lines;
  return result;
}

async function openOut(tag: string) {
  const layout = await OciLayout.open(out);
  return selectImage(await loadRoot(layout, await layout.resolve(tag)));
}

beforeAll(async () => {
  dir = await tempDir("berth-cnb2-");
  home = join(dir, "home");
  runLayout = join(dir, "run");
  out = join(dir, "out");
  await busyboxImage(runLayout, "run1", {
    env: ["PATH=/usr/bin:/bin"],
    labels: { "io.buildpacks.base.id": "run1" },
  });
  await busyboxImage(
    runLayout,
    "run2",
    { env: ["PATH=/usr/bin:/bin"], labels: { "io.buildpacks.base.id": "run2" } },
    [[{ path: "etc/run-version", content: "2" }]],
  );
  launcher = await berthLauncher({ home, env: { PATH: process.env.PATH } });
});

describe("export and launch", () => {
  let first: ExportResult & { lines?: string[] };
  let paths: { layers: string; app: string };

  beforeAll(async () => {
    paths = await makeLayers(join(dir, "b1"));
    const cache = new DirectoryCache(join(dir, "cache"));
    first = await exportTo(paths.layers, paths.app, "run1", "app", { cache });
    await cache.save(first.cache!.metadata, first.cache!.layers);
  });

  it("lays out the image: run layers, launch layers by group order, app slices then the rest, launcher, config, process types", async () => {
    const img = await openOut("app");
    const run = (await resolveImage(`oci:${runLayout}:run1`, ctx()))!.image;
    const diffs = img.config!.rootfs.diff_ids;
    const runDiffs = run.config!.rootfs.diff_ids;
    expect(diffs.slice(0, runDiffs.length)).toEqual(runDiffs);
    // hello (launch), tools (launch), slice, app, launcher, config, process-types
    expect(diffs.length).toBe(runDiffs.length + 7);
    const md = JSON.parse(img.config!.config!.Labels![LABEL.lifecycle]!) as LayersMetadata;
    expect(md.runImage!.topLayer).toBe(runDiffs[runDiffs.length - 1]);
    expect(md.runImage!.reference).toContain(`@${run.digest}`);
    expect(md.buildpacks!.map((b) => b.key)).toEqual(["test/hello", "test/other"]);
    expect(md.buildpacks![0]!.layers.hello).toMatchObject({
      launch: true,
      cache: true,
      data: { version: "1" },
    });
    expect(md.buildpacks![0]!.layers.cached).toBeUndefined();
    expect(md.buildpacks![0]!.store).toEqual({ metadata: { runs: "1" } });
    expect(md.app!.length).toBe(2);
    const c = img.config!.config!;
    expect(c.Entrypoint).toEqual(["/cnb/process/web"]);
    expect(c.WorkingDir).toBe("/workspace");
    expect(c.Env).toContain("PATH=/cnb/process:/cnb/lifecycle:/usr/bin:/bin");
    expect(c.Labels!["org.example.from-buildpack"]).toBe("yes");
    expect(JSON.parse(c.Labels![LABEL.build]!).processes.map((p: { type: string }) => p.type)).toEqual([
      "web",
      "worker",
    ]);
    expect(img.config!.created).toBe("1980-01-01T00:00:01Z");
    expect(first.lines).toContain("Adding layer 'test/hello:hello'");
    expect(first.lines).toContain("Setting default process type 'web'");
  });

  it("runs the default process with the launch env under berth run; user args replace the process args", async () => {
    const r = await berth(["run", `oci:${out}:app`], { home });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("greet: hello web default-arg\n");
    const a = await berth(["run", `oci:${out}:app`, "x", "y"], { home });
    expect(a.stdout).toBe("greet: hello web x y\n");
  });

  it("runs another process via /cnb/process/<type>: process env, suffix rules, exec.d, working-dir", async () => {
    const r = await berth(["run", "--entrypoint", "/cnb/process/worker", `oci:${out}:app`], { home });
    expect(r.stdout).toBe("worker worker-only first:last from-exec-d /tmp\n");
  });

  it("runs under plain runc from berth bundle, nothing of berth in the image", async () => {
    const bundle = join(dir, "bundle");
    const b = await berth(["bundle", `oci:${out}:app`, bundle], { home });
    expect(b.code, b.stderr).toBe(0);
    const stdout = await run("runc", [
      "--root",
      join(dir, "runc-state"),
      "run",
      "-b",
      bundle,
      `cnb-${process.pid}`,
    ]);
    expect(stdout).toBe("greet: hello web default-arg\n");
  });

  it("a rebuild with nothing changed: same digest, every layer reused, no layer tar written", async () => {
    const prev = await openOut("app");
    const md = JSON.parse(prev.config!.config!.Labels![LABEL.lifecycle]!) as LayersMetadata;
    const again = await exportTo(paths.layers, paths.app, "run1", "app2", {
      previous: { image: prev, metadata: md },
      cache: new DirectoryCache(join(dir, "cache")),
    });
    expect(again.image.descriptor.digest).toBe(first.image.descriptor.digest);
    expect(again.stats.tarsWritten).toBe(0);
    expect(again.stats.added).toBe(0);
    expect(again.stats.reused).toBe(7);
    expect(again.stats.cacheReused).toBe(2);
    expect((again as ExportResult & { lines: string[] }).lines).toContain("Reusing layer 'test/hello:hello'");
  });

  it("restore brings a cache layer's content back and export then knows it unchanged; a cleared cache restores nothing", async () => {
    const cache = new DirectoryCache(join(dir, "cache"));
    const fresh = join(dir, "b2", "layers");
    await mkdir(fresh, { recursive: true });
    const prev = await openOut("app");
    const md = JSON.parse(prev.config!.config!.Labels![LABEL.lifecycle]!) as LayersMetadata;
    const r = await new Restorer({
      layersDir: fresh,
      group: GROUP,
      previous: md,
      cache,
      index: new LayerIndex(join(home, "cache", "cnb")),
      uid: 1000,
      gid: 1000,
      chown: false,
    }).restore();
    expect(r.restored).toBe(2);
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(join(fresh, "test_hello", "cached", "data"), "utf8")).toBe("cached-v1");
    expect(await readFile(join(fresh, "test_hello", "cached.toml"), "utf8")).not.toContain("types");
    expect(await readFile(join(fresh, "test_hello", "tools.toml"), "utf8").catch(() => "none")).toBe("none");
    const cleared = await new Restorer({
      layersDir: join(dir, "b3"),
      group: GROUP,
      previous: undefined,
      cache: new DirectoryCache(join(dir, "cache"), { clear: true }),
      index: new LayerIndex(join(home, "cache", "cnb")),
      uid: 1000,
      gid: 1000,
      chown: false,
    }).restore();
    expect(cleared.restored).toBe(0);
  });

  it("rebase onto a new run image equals a full rebuild on it, and shows up in berth inspect", async () => {
    const app = await openOut("app");
    const run2 = (await resolveImage(`oci:${runLayout}:run2`, ctx()))!;
    const rebased = new Rebaser({
      app,
      appName: "app",
      runImage: run2.image,
      runImageName: `oci:${runLayout}:run1`,
      runImageReference: run2.pinned,
      force: false,
    }).rebase();
    const rebuilt = await exportTo(paths.layers, paths.app, "run2", "rebuilt");
    const runDiffs = run2.image.config!.rootfs.diff_ids;
    const appDiffs = app.config!.rootfs.diff_ids.slice(app.config!.rootfs.diff_ids.length - 7);
    expect(rebased.image.imageConfig().rootfs.diff_ids).toEqual([...runDiffs, ...appDiffs]);
    expect(rebased.image.imageConfig().rootfs.diff_ids).toEqual(rebuilt.image.imageConfig().rootfs.diff_ids);
    const strip = (c: ImageConfig) => {
      const x = structuredClone(c);
      delete x.config!.Labels![LABEL.lifecycle];
      return x;
    };
    expect(strip(rebased.image.imageConfig())).toEqual(strip(rebuilt.image.imageConfig()));
    // No layer blob copied: the app's layers keep their descriptors.
    const appLayers = app.manifest.layers.slice(app.manifest.layers.length - 7).map((l) => l.digest);
    expect(rebased.image.manifest.layers.slice(-7).map((l) => l.digest)).toEqual(appLayers);
    // Through the CLI, in a layout.
    await writeImage(
      app.source,
      app.descriptor,
      "torebase",
      parseImageArgument(`oci:${out}:torebase`),
      ctx(),
    );
    const r = await berth(
      ["rebase", `oci:${out}:torebase`, "--run-image", `oci:${runLayout}:run2`, "--force"],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    const after = await openOut("torebase");
    expect(after.config!.rootfs.diff_ids).toEqual(rebuilt.image.imageConfig().rootfs.diff_ids);
    const ins = await berth(["inspect", `oci:${out}:torebase`], { home });
    expect(ins.stdout).toContain("Rebasable: true");
    expect(ins.stdout).toContain("web (default)");
    expect(ins.stdout).toContain("test/hello");
  });

  it("refuses to rebase onto an unrelated run image without --force", async () => {
    const app = await openOut("app");
    const run2 = (await resolveImage(`oci:${runLayout}:run2`, ctx()))!;
    expect(() =>
      new Rebaser({
        app,
        appName: "app",
        runImage: run2.image,
        runImageName: "example.com/other/run:1",
        runImageReference: run2.pinned,
        force: false,
      }).rebase(),
    ).toThrow(
      /new base image 'example.com\/other\/run:1' not found in existing run image metadata.*please provide -force to override/,
    );
  });
});
