/**
 * berth against the reference CNB lifecycle (issue 13): `node bench/reference.ts [--quick] [--runs N]`. Writes
 * bench/results/reference.md.
 *
 * The same Node.js app (package.json and 20 source files), the same sh buildpack (node_modules, ~115 MB from
 * bench/data/node-tree fetched as a tar from 127.0.0.1, into a launch + cache layer kept while package.json's
 * checksum is unchanged, as bench/cnb.ts), the same busybox build image and run image, published to a
 * docker-registry on 127.0.0.1. berth: `buildWithBuildpacks` in process (berth build --publish). The reference:
 * its `creator` (v0.21.0, scripts/reference-lifecycle.sh) run in process by berth's sandbox (runc) in the build
 * image as the CNB user, with a cache directory, as pack runs it in a container. Cold build (a new image name, an
 * empty cache), no-op rebuild, one source file changed; each `runs` times, interleaved.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildWithBuildpacks } from "../src/cnb/build.ts";
import { berthLauncher } from "../src/cnb/launch/index.ts";
import type { PhaseLogger } from "../src/cnb/log.ts";
import { copyImage } from "../src/transport/copy.ts";
import { parseImageArgument } from "../src/transport/parse.ts";
import { makeBuildImage, writeBuildpack } from "../test/cnb/helpers.ts";
import {
  LIFECYCLE_VERSION,
  referenceLifecycle,
  runCreator,
  runPhase,
} from "../test/cnb/reference/lifecycle.ts";
import { type RegistryHarness, startRegistry } from "../test/registry/helpers/registry.ts";
import { busyboxImage } from "../test/runtime/helpers.ts";
import { nodeModulesTree } from "./data.ts";
import { createBuilder, median, serveTreeTar } from "./lib.ts";

const { values } = parseArgs({
  options: { quick: { type: "boolean", default: false }, runs: { type: "string" } },
});
const runs = Number(values.runs ?? (values.quick ? 1 : 3));
const log = (s: string) => process.stderr.write(`${s}\n`);
const started = Date.now();
const dir = await mkdtemp(join(tmpdir(), "berth-bench-reference-"));
const home = join(dir, "home");
const ctx = { home, env: {} };
// BENCH_REFERENCE_PROFILE=1: berth's phase lines with the seconds since its build started, on stderr.
const profile = process.env.BENCH_REFERENCE_PROFILE === "1";
let t0 = performance.now();
const at = (l: string) => {
  if (profile) log(`    ${((performance.now() - t0) / 1000).toFixed(2)} ${l}`);
};
const quiet: PhaseLogger = { info: at, warn: at, debug: at, output: () => undefined };

let reg: RegistryHarness | undefined;
let stopServer: (() => Promise<void>) | undefined;
try {
  log("setup: reference lifecycle, node_modules tree, images, buildpack, builder, registry");
  await referenceLifecycle();
  const tree = await nodeModulesTree(log);
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  const runLayout = join(dir, "runlayout");
  await busyboxImage(runLayout, "run", { env: ["PATH=/bin"], user: "app" });
  reg = await startRegistry();
  const host = reg.host;
  const runImage = `${host}/base/run:1`;
  await copyImage(
    parseImageArgument(`oci:${runLayout}:run`),
    parseImageArgument(`docker://${runImage}`),
    ctx,
  );
  const served = await serveTreeTar(dir, tree.dir);
  stopServer = served.stop;
  const modulesUrl = served.url;
  const bpDir = await writeBuildpack(join(dir, "bps"), {
    id: "bench/node-modules",
    version: "0.0.1",
    build: `L="$CNB_LAYERS_DIR/modules"
set -- $(busybox sha256sum /workspace/package.json)
sum="$1"
if [ -d "$L/node_modules" ] && grep -q "^ *lockfile-sha256 = \\"$sum\\"" "$L.toml" 2>/dev/null; then
  echo "node_modules: cached layer reused"
else
  rm -rf "$L"
  mkdir -p "$L/env.launch"
  busybox wget -q -O - "${modulesUrl}" | busybox tar -x -o -C "$L"
  printf '%s' "$L/node_modules" > "$L/env.launch/NODE_PATH"
fi
printf '[types]\\nlaunch = true\\ncache = true\\n\\n[metadata]\\nlockfile-sha256 = "%s"\\n' "$sum" > "$L.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["node", "src/server.js"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"
`,
  });
  const order = '[[order]]\n[[order.group]]\nid = "bench/node-modules"\nversion = "0.0.1"\n';
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bpDir}"\n\n${order}\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${runImage}"\n`,
  );
  const builder = `oci:${layout}:builder`;
  createBuilder(home, builder, join(dir, "builder.toml"));
  const app = join(dir, "app");
  await mkdir(join(app, "src"), { recursive: true });
  await cp(join(tree.dir, "..", "package.json"), join(app, "package.json"));
  for (let k = 0; k < 20; k++) {
    await writeFile(join(app, "src", `module${k}.js`), `export const value${k} = ${k};\n`.repeat(200));
  }
  // Untimed warm-up: the build image's snapshots (shared by both sides), berth's launcher compiled.
  await berthLauncher({ home, env: { PATH: process.env.PATH } });
  await runPhase(
    {
      home,
      work: join(dir, "warm"),
      buildImage: `oci:${layout}:build`,
      app,
      buildpacks: [],
      order,
      runImage,
      image: "",
    },
    ["/bin/true"],
  );

  const berthBuild = async (image: string, cold: boolean) => {
    // A cold build knows nothing of earlier runs: berth's layer index (fingerprints, known blobs) and its store
    // go, as the reference gets a new cache directory. (The launcher and the build image's snapshots stay,
    // warmed for both sides alike.)
    if (cold) {
      for (const d of ["cache/cnb/fingerprints", "cache/cnb/blobs", "store"]) {
        await rm(join(home, d), { recursive: true, force: true });
      }
    }
    const t = performance.now();
    t0 = t;
    await buildWithBuildpacks({
      appDir: app,
      image: parseImageArgument(`docker://${image}`),
      builder,
      runImage,
      publish: true,
      network: "host",
      ctx,
      hostEnv: { PATH: process.env.PATH },
      asRoot: process.getuid?.() === 0,
      logger: quiet,
    });
    return (performance.now() - t) / 1000;
  };
  const referenceBuild = async (image: string, n: number) => {
    const t = performance.now();
    const r = await runCreator({
      home,
      work: join(dir, `ref-work-${n}`),
      cacheDir: join(dir, `ref-cache-${n}`),
      buildImage: `oci:${layout}:build`,
      app,
      buildpacks: [{ id: "bench/node-modules", version: "0.0.1", dir: bpDir }],
      order,
      runImage,
      image,
    });
    const seconds = (performance.now() - t) / 1000;
    if (r.exitCode !== 0) throw new Error(`the reference creator failed:\n${r.output}`);
    return seconds;
  };

  const times: Record<string, { berth: number[]; reference: number[] }> = {
    cold: { berth: [], reference: [] },
    noop: { berth: [], reference: [] },
    changed: { berth: [], reference: [] },
  };
  for (let n = 0; n < runs; n++) {
    const sides = n % 2 === 0 ? (["berth", "reference"] as const) : (["reference", "berth"] as const);
    for (const side of sides) {
      const image = `${host}/${side}/app-${n}:1`;
      const once = (what: keyof typeof times) => async () => {
        execFileSync("sync");
        const s =
          side === "berth" ? await berthBuild(image, what === "cold") : await referenceBuild(image, n);
        times[what]![side].push(s);
        log(`  ${side} ${what} #${n + 1}: ${s.toFixed(2)} s`);
      };
      await writeFile(join(app, "src", "module3.js"), `export const value3 = 3;\n`.repeat(200));
      await once("cold")();
      await once("noop")();
      await writeFile(join(app, "src", "module3.js"), `export const value3 = ${Date.now()};\n`);
      await once("changed")();
    }
  }
  const row = (what: string, k: keyof typeof times) => {
    const b = median(times[k]!.berth);
    const r = median(times[k]!.reference);
    return `| ${what} | ${b.toFixed(2)} | ${r.toFixed(2)} | ${(b / r).toFixed(2)} |`;
  };
  const md = [
    "# berth against the reference lifecycle (bench/reference.ts, issue 13)",
    "",
    `\`node bench/reference.ts${values.quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ` +
      `Node ${process.version}, lifecycle ${LIFECYCLE_VERSION}; median of ${runs} run(s) each, interleaved. ` +
      `A Node.js app (package.json, 20 source files) and one sh buildpack installing ${(tree.bytes / 1024 / 1024).toFixed(0)} MiB ` +
      `of node_modules (${tree.files} files, a tar from 127.0.0.1) into a launch + cache layer it keeps while ` +
      "package.json is unchanged; busybox build and run images; the image pushed to docker-registry on 127.0.0.1. " +
      "berth: `buildWithBuildpacks` in process (`berth build --publish`, its own launcher). Reference: its `creator` " +
      "in berth's runc sandbox in the build image, with a cache directory (as `pack build` runs it, without " +
      "pack's own start-up and image pulls). Cold = new image name, empty cache; berth's " +
      "layer index (fingerprints, known blobs) and store emptied before each of its cold builds.",
    "",
    "| build | berth s | reference creator s | berth / reference |",
    "|---|---:|---:|---:|",
    row("cold", "cold"),
    row("no-op rebuild", "noop"),
    row("one source file changed", "changed"),
    "",
    "Goal (issue 13): berth ≤ 1.0× the reference cold and ≤ 0.5× on both rebuilds.",
    "",
  ].join("\n");
  process.stdout.write(md);
  await mkdir(join(import.meta.dirname, "results"), { recursive: true });
  await writeFile(join(import.meta.dirname, "results", "reference.md"), md);
  log(`wrote bench/results/reference.md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await reg?.stop();
  await stopServer?.();
  await rm(dir, { recursive: true, force: true });
}
