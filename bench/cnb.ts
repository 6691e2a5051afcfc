/**
 * Buildpacks benchmark (issue 7): `node bench/cnb.ts [--quick]`. Writes bench/results/cnb.md.
 *
 * A Node.js app (package.json and 20 source files) whose ~115 MB of node_modules (bench/data/node-tree, an npm
 * install of 12 packages) a test-style sh buildpack installs into a launch + cache layer (a tar fetched from
 * 127.0.0.1, standing for the package registry), kept while the package.json checksum in the layer's metadata
 * is unchanged, and symlinked into the app (as Paketo's npm-install does), on a busybox build/run image, with
 * berth's own launcher; buildpacks run in the runc sandbox. Timed, in process (`buildWithBuildpacks`, and the
 * steps of `berth rebase`): cold build, no-op rebuild, rebuild after one source file changed, rebase; into the
 * local store and with --publish to a local docker-registry. Bytes written: compressed layer bytes export
 * produced (its counters), new blobs in the store, new blobs in the registry's storage. Then rebase of a 1 MB
 * and a 500 MB app (100 MB with --quick), store and registry.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildWithBuildpacks } from "../src/cnb/build.ts";
import { resolveImage } from "../src/cnb/image.ts";
import type { PhaseLogger } from "../src/cnb/log.ts";
import { Rebaser } from "../src/cnb/phase/rebase.ts";
import { copyImage, writeImage } from "../src/transport/copy.ts";
import { parseImageArgument } from "../src/transport/parse.ts";
import { makeBuildImage, writeBuildpack } from "../test/cnb/helpers.ts";
import { type RegistryHarness, startRegistry } from "../test/registry/helpers/registry.ts";
import { busyboxImage } from "../test/runtime/helpers.ts";
import { nodeModulesTree } from "./data.ts";
import { createBuilder, serveTreeTar } from "./lib.ts";

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
const quick = values.quick === true;
const MiB = 1024 * 1024;
const bigApp = quick ? 100 : 500;
const log = (s: string) => process.stderr.write(`${s}\n`);
const started = Date.now();

const dir = await mkdtemp(join(tmpdir(), "berth-bench-cnb-"));
const home = join(dir, "home");
const ctx = { home, env: {} };
const lines: string[] = [];
const stamp = () => ((performance.now() - t0) / 1000).toFixed(2);
let t0 = performance.now();
const logger: PhaseLogger = {
  info: (l) => lines.push(`${stamp()} ${l}`),
  warn: (l) => lines.push(`${stamp()} WARN ${l}`),
  debug: (l) => lines.push(`${stamp()} ${l}`),
  output: (c) => lines.push(`${stamp()} ${c.toString("utf8").trimEnd()}`),
};
const profile = process.env.BENCH_CNB_PROFILE === "1";

let reg: RegistryHarness | undefined;
let stopServer: (() => Promise<void>) | undefined;
try {
  // ---- setup (untimed) ----
  log("setup: node_modules tree, build and run images, buildpack, builder, registry");
  const tree = await nodeModulesTree(log);
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  const runLayout = join(dir, "runlayout");
  await busyboxImage(runLayout, "run", { env: ["PATH=/bin"], user: "app" });
  await busyboxImage(runLayout, "run2", { env: ["PATH=/bin"], user: "app" }, [
    [{ path: "etc/run-image-version", content: "2\n" }],
  ]);
  reg = await startRegistry();
  const host = reg.host;
  for (const [tag, name] of [
    ["run", "run:1"],
    ["run2", "run:2"],
  ] as const) {
    await copyImage(parseImageArgument(`oci:${runLayout}:${tag}`), parseImageArgument(`bench/${name}`), ctx);
    await copyImage(
      parseImageArgument(`oci:${runLayout}:${tag}`),
      parseImageArgument(`docker://${host}/base/${name}`),
      ctx,
    );
  }
  // The "package registry": node_modules as one tar over HTTP on 127.0.0.1 (the buildpack's install step).
  const served = await serveTreeTar(dir, tree.dir);
  stopServer = served.stop;
  const modulesUrl = served.url;
  // As a real buildpack (Paketo's npm-install, builders/default's nodejs): node_modules installed into a
  // launch + cache layer, kept while the lockfile's checksum in the layer's metadata (restored with it) is
  // unchanged, and symlinked into the app.
  const bp = await writeBuildpack(join(dir, "bps"), {
    id: "bench/node-modules",
    version: "0.0.1",
    build: `L="$CNB_LAYERS_DIR/modules"
if [ -f /workspace/package.json ] && [ ! -f /workspace/.slice-node-modules ]; then
  set -- $(busybox sha256sum /workspace/package.json)
  sum="$1"
  if [ -d "$L/node_modules" ] && grep -q "^ *lockfile-sha256 = \\"$sum\\"" "$L.toml" 2>/dev/null; then
    echo "node_modules: cached layer reused"
  else
    echo "node_modules: installing into a layer"
    rm -rf "$L"
    mkdir -p "$L/env.launch"
    busybox wget -q -O - "${modulesUrl}" | busybox tar -x -o -C "$L"
    printf '%s' "$L/node_modules" > "$L/env.launch/NODE_PATH"
  fi
  rm -rf /workspace/node_modules
  busybox ln -s "$L/node_modules" /workspace/node_modules
  printf '[types]\\nlaunch = true\\ncache = true\\n\\n[metadata]\\nlockfile-sha256 = "%s"\\n' "$sum" > "$L.toml"
fi
if [ -f /workspace/.slice-node-modules ]; then printf '[[slices]]\\npaths = ["node_modules"]\\n' > "$CNB_LAYERS_DIR/launch.toml"; fi
printf '[[processes]]\\ntype = "web"\\ncommand = ["node", "src/server.js"]\\ndefault = true\\n' >> "$CNB_LAYERS_DIR/launch.toml"
`,
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "bench/node-modules"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "bench/run:1"\n`,
  );
  const builder = `oci:${layout}:builder`;
  createBuilder(home, builder, join(dir, "builder.toml"));

  // The apps.
  const nodeApp = join(dir, "node-app");
  await mkdir(join(nodeApp, "src"), { recursive: true });
  await cp(join(tree.dir, "..", "package.json"), join(nodeApp, "package.json"));
  for (let k = 0; k < 20; k++) {
    await writeFile(join(nodeApp, "src", `module${k}.js`), `export const value${k} = ${k};\n`.repeat(200));
  }
  await writeFile(
    join(nodeApp, "src", "server.js"),
    'const http = require("node:http");\nhttp.createServer((q, s) => s.end("hello\\n")).listen(8080);\n',
  );
  // The same app, but node_modules stays in the app as its own slice (the buildpack moves nothing).
  const sliceApp = join(dir, "node-app-slice");
  await cp(nodeApp, sliceApp, { recursive: true, verbatimSymlinks: true });
  await cp(tree.dir, join(sliceApp, "node_modules"), { recursive: true, verbatimSymlinks: true });
  await writeFile(join(sliceApp, ".slice-node-modules"), "");
  const smallApp = join(dir, "app-1m");
  const largeApp = join(dir, `app-${bigApp}m`);
  await mkdir(smallApp, { recursive: true });
  await mkdir(largeApp, { recursive: true });
  await writeFile(join(smallApp, "data.bin"), randomBytes(MiB));
  for (let k = 0; k < bigApp / 10; k++)
    await writeFile(join(largeApp, `part${k}.bin`), randomBytes(10 * MiB));

  const rows: { what: string; seconds: number; bytes: string; notes: string }[] = [];
  const build = async (app: string, image: string, publish: boolean) => {
    lines.length = 0;
    const target = parseImageArgument(publish ? `docker://${image}` : image);
    const storeBefore = await storeBlobs(home);
    const regBefore = publish ? await dirBytes(reg!.storage) : 0;
    const t = performance.now();
    t0 = t;
    const r = await buildWithBuildpacks({
      appDir: app,
      image: target,
      builder,
      ...(publish ? { runImage: `${host}/base/run:1` } : {}),
      publish,
      ctx,
      hostEnv: { PATH: process.env.PATH },
      asRoot: process.getuid?.() === 0,
      logger,
    });
    const seconds = (performance.now() - t) / 1000;
    if (profile) log(lines.join("\n"));
    const storeNew = (await storeBlobs(home)) - storeBefore;
    const regNew = publish ? (await dirBytes(reg!.storage)) - regBefore : 0;
    return { r, seconds, storeNew, regNew };
  };
  const rebase = async (image: string, runImage: string, publish: boolean) => {
    const target = parseImageArgument(publish ? `docker://${image}` : image);
    const storeBefore = await storeBlobs(home);
    const regBefore = publish ? await dirBytes(reg!.storage) : 0;
    if (publish) await reg!.markLog();
    const t = performance.now();
    const app = await resolveImage(target.text, ctx);
    if (!app) throw new Error(`no ${image}`);
    const run = await resolveImage(publish ? `docker://${runImage}` : runImage, ctx);
    if (!run) throw new Error(`no ${runImage}`);
    const r = new Rebaser({
      app: app.image,
      appName: image,
      runImage: run.image,
      runImageName: runImage,
      runImageReference: run.pinned,
      force: false,
    }).rebase();
    const written = await writeImage(r.image.source, r.image.descriptor, image, target, ctx);
    await app.close();
    await run.close();
    const seconds = (performance.now() - t) / 1000;
    const storeNew = (await storeBlobs(home)) - storeBefore;
    const regNew = publish ? (await dirBytes(reg!.storage)) - regBefore : 0;
    let appBlobMoves = 0;
    if (publish) {
      const appLayers = r.image
        .layers()
        .slice(r.runLayers)
        .map((l) => l.descriptor.digest);
      appBlobMoves = (await reg!.requests()).filter(
        (q) =>
          (q.method === "GET" && appLayers.some((d) => q.uri.endsWith(d))) ||
          (q.method === "PUT" &&
            appLayers.some((d) => q.uri.includes(encodeURIComponent(d)) || q.uri.includes(d))),
      ).length;
    }
    return { seconds, written, storeNew, regNew, appBlobMoves, appLayers: r.appLayers };
  };
  const describeBuild = (b: Awaited<ReturnType<typeof build>>) => {
    const s = b.r.stats;
    return `${s.tarsWritten} layer tars written, ${s.reused} reused, ${s.fingerprintHits} fingerprint hits, ${s.hashedOnly} hashed only`;
  };
  const bytesCol = (
    b: { r: { stats: { bytesWritten: number } }; storeNew: number; regNew: number },
    publish: boolean,
  ) =>
    `${mb(b.r.stats.bytesWritten)} compressed; ${publish ? `registry +${mb(b.regNew)}` : `store +${mb(b.storeNew)}`}`;

  // Warm-up: berth's launcher is compiled on first use; the small app's first build pays it.
  log("warm-up: 1 MB app build (compiles berth's launcher)");
  await build(smallApp, "bench/app-1m:1", false);

  for (const publish of [false, true]) {
    const where = publish ? `registry (${host}, --publish)` : "local store";
    const image = publish ? `${host}/team/node-app:1` : "bench/node-app:1";
    log(`node app, ${where}: cold build`);
    const cold = await build(nodeApp, image, publish);
    rows.push({
      what: `cold build, ${where}`,
      seconds: cold.seconds,
      bytes: bytesCol(cold, publish),
      notes: describeBuild(cold),
    });
    log(`node app, ${where}: no-op rebuild`);
    const noop = await build(nodeApp, image, publish);
    if (noop.r.digest !== cold.r.digest) throw new Error("no-op rebuild gave another digest");
    rows.push({
      what: `no-op rebuild, ${where}`,
      seconds: noop.seconds,
      bytes: bytesCol(noop, publish),
      notes: `${describeBuild(noop)}; ${((noop.seconds / cold.seconds) * 100).toFixed(1)}% of the cold build; same digest`,
    });
    log(`node app, ${where}: one source file changed`);
    await writeFile(join(nodeApp, "src", "module3.js"), `export const value3 = ${Date.now()};\n`);
    const changed = await build(nodeApp, image, publish);
    rows.push({
      what: `one source file changed, ${where}`,
      seconds: changed.seconds,
      bytes: bytesCol(changed, publish),
      notes: describeBuild(changed),
    });
    log(`node app, ${where}: rebase`);
    const rb = await rebase(image, publish ? `${host}/base/run:2` : "bench/run:2", publish);
    rows.push({
      what: `rebase, ${where}`,
      seconds: rb.seconds,
      bytes: publish ? `registry +${kb(rb.regNew)}` : `store +${kb(rb.storeNew)}`,
      notes: `${rb.appLayers} app layers kept; blobs written ${rb.written.blobs.written}, mounted ${rb.written.blobs.mounted}, present ${rb.written.blobs.exists}${publish ? `; app-layer blob GET/PUT in the registry log: ${rb.appBlobMoves}` : ""}`,
    });
  }

  {
    const where = "local store, node_modules as an app slice";
    const image = "bench/node-app-slice:1";
    log(`node app, ${where}: cold build, no-op, one file changed`);
    const cold = await build(sliceApp, image, false);
    rows.push({
      what: `cold build, ${where}`,
      seconds: cold.seconds,
      bytes: bytesCol(cold, false),
      notes: describeBuild(cold),
    });
    const noop = await build(sliceApp, image, false);
    if (noop.r.digest !== cold.r.digest) throw new Error("no-op rebuild gave another digest");
    rows.push({
      what: `no-op rebuild, ${where}`,
      seconds: noop.seconds,
      bytes: bytesCol(noop, false),
      notes: `${describeBuild(noop)}; ${((noop.seconds / cold.seconds) * 100).toFixed(1)}% of the cold build; same digest`,
    });
    await writeFile(join(sliceApp, "src", "module3.js"), `export const value3 = ${Date.now()};\n`);
    const changed = await build(sliceApp, image, false);
    rows.push({
      what: `one source file changed, ${where}`,
      seconds: changed.seconds,
      bytes: bytesCol(changed, false),
      notes: describeBuild(changed),
    });
  }

  for (const [app, size] of [
    [smallApp, "1 MB"],
    [largeApp, `${bigApp} MB`],
  ] as const) {
    for (const publish of [false, true]) {
      const where = publish ? "registry" : "local store";
      const name = `app-${size.replace(" ", "").toLowerCase()}`;
      const image = publish ? `${host}/team/${name}:1` : `bench/${name}:1`;
      log(`${size} app, ${where}: build (untimed), then rebase`);
      await build(app, image, publish);
      const rb = await rebase(image, publish ? `${host}/base/run:2` : "bench/run:2", publish);
      rows.push({
        what: `rebase, ${size} app, ${where}`,
        seconds: rb.seconds,
        bytes: publish ? `registry +${kb(rb.regNew)}` : `store +${kb(rb.storeNew)}`,
        notes: `blobs written ${rb.written.blobs.written}, mounted ${rb.written.blobs.mounted}, present ${rb.written.blobs.exists}${publish ? `; app-layer blob GET/PUT: ${rb.appBlobMoves}` : ""}`,
      });
    }
  }

  const md = [
    "# Buildpacks: build, rebuild, rebase (bench/cnb.ts)",
    "",
    `\`node bench/cnb.ts${quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, Node ${process.version}. ` +
      `A Node.js app (package.json, 20 small source files) built by an sh buildpack that installs its ${mb(tree.bytes)} of ` +
      `node_modules (${tree.files} files from bench/data/node-tree, fetched as a tar from 127.0.0.1 in place of the ` +
      "package registry) into a launch + cache layer, keeps that layer while the package.json checksum in its " +
      "`[metadata]` is unchanged (as a real buildpack does with its lockfile), and symlinks it into the app; the " +
      '"app slice" rows keep node_modules in the app as its own slice instead. Busybox build and run images; ' +
      "buildpacks run in the runc sandbox; berth's own " +
      "launcher. One run each, in process (`buildWithBuildpacks`; rebase = the steps of `berth rebase`: open app and " +
      "run image, `Rebaser`, write), so Node's start-up (~0.3 s for the compiled CLI) is not included. Bytes: " +
      "compressed layer bytes export produced (its counter), and the growth of the store's or the registry's blob " +
      "storage. The registry is docker-registry 2.8 on 127.0.0.1; its run images live in the same registry.",
    "",
    "| what | seconds | bytes written | notes |",
    "|---|---:|---|---|",
    ...rows.map((r) => `| ${r.what} | ${r.seconds.toFixed(2)} | ${r.bytes} | ${r.notes} |`),
    "",
    "Targets (issue 7): no-op rebuild under 10% of the cold build's time; rebase under 1 s against a local " +
      "registry, for the node app and for a 1 MB and a 500 MB app.",
    "",
  ].join("\n");
  process.stdout.write(md);
  await mkdir(join(import.meta.dirname, "results"), { recursive: true });
  await writeFile(join(import.meta.dirname, "results", "cnb.md"), md);
  log(`wrote bench/results/cnb.md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await reg?.stop();
  await stopServer?.();
  await rm(dir, { recursive: true, force: true });
}

function randomBytes(n: number): Buffer {
  return execFileSync("head", ["-c", String(n), "/dev/urandom"], { maxBuffer: n + MiB });
}

function mb(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Total bytes of the store's blobs. */
async function storeBlobs(h: string): Promise<number> {
  return dirBytes(join(h, "store", "blobs"));
}

async function dirBytes(d: string): Promise<number> {
  let total = 0;
  let names: string[];
  try {
    names = await readdir(d);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = join(d, n);
    const st = await stat(p);
    total += st.isDirectory() ? await dirBytes(p) : st.size;
  }
  return total;
}
