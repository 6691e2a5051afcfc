/**
 * berth against pack (issue 14): `node bench/pack.ts [--quick] [--runs N] [--prebuilt]`. Writes
 * bench/results/pack.md.
 *
 * One app, one builder, one registry for all three: a Node.js app (package.json and 20 source files) and the sh
 * buildpack of bench/reference.ts (node_modules, ~115 MB of bench/data/node-tree fetched as a tar from 127.0.0.1,
 * into a launch + cache layer kept while package.json's checksum is unchanged), in a builder made by
 * `berth builder create` with the reference lifecycle v0.21.0 (its release .tgz) on berth's test build image,
 * published to a docker-registry on 127.0.0.1; the run image there too. Timed, the compiled CLIs:
 * - `berth build --publish` (berth's own engine; the builder pulled into its store once, untimed),
 * - `berth build --publish --lifecycle builder --trust-builder` (the builder's lifecycle, `creator`, in berth's
 *   sandbox),
 * - `pack build --publish --trust-builder` against a private dockerd (test/helpers/dockerd.ts), the builder and
 *   run image pulled into it once, untimed (`--pull-policy if-not-present`).
 * Cold (a new image name: a new cache; berth's layer index emptied), no-op rebuild, one source file changed; then
 * `berth rebase --publish` against `pack rebase --publish` on a registry image, between two run images.
 * Peak memory: the summed RSS of the process tree sampled every 50 ms; for pack, the pack client plus the whole
 * engine (dockerd, its containerd, the shims and the lifecycle containers under them).
 */
import { execFile, execFileSync } from "node:child_process";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { appendLayers } from "../src/image/index.ts";
import { copyImage } from "../src/transport/copy.ts";
import { parseImageArgument } from "../src/transport/parse.ts";
import { makeBuildImage, writeBuildpack } from "../test/cnb/helpers.ts";
import { lifecycleTgz, packBinary } from "../test/cnb/lifecycle/helpers.ts";
import { LIFECYCLE_VERSION, withBash } from "../test/cnb/reference/lifecycle.ts";
import { type Dockerd, startDockerd } from "../test/helpers/dockerd.ts";
import { type RegistryHarness, startRegistry } from "../test/registry/helpers/registry.ts";
import { nodeModulesTree } from "./data.ts";
import {
  BIN,
  buildCli,
  DATA,
  fresh,
  measure,
  median,
  ROOT,
  type Sample,
  serveTreeTar,
  version,
} from "./lib.ts";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    prebuilt: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs ?? (values.quick ? 1 : 3));
const log = (s: string) => process.stderr.write(`${s}\n`);
const started = Date.now();
const dir = join(DATA, "pack");
await fresh(dir);
await mkdir(dir, { recursive: true });
if (!values.prebuilt) {
  log("building the CLI (scripts/build.ts: tsc + bundle) into bench/data/build");
  await buildCli();
}
const home = join(dir, "berth-home");
const ctx = { home, env: {} };
const berthEnv = { ...process.env, BERTH_HOME: home, SOURCE_DATE_EPOCH: "0" };
const berthCmd = (...args: string[]) => [process.execPath, BIN, ...args];

let reg: RegistryHarness | undefined;
let dockerd: Dockerd | undefined;
let stopServer: (() => Promise<void>) | undefined;
try {
  log("setup: pack, dockerd, registry, node_modules tree, images, buildpack, builder");
  const [pack, r, d] = await Promise.all([packBinary(), startRegistry(), startDockerd()]);
  reg = r;
  dockerd = d;
  const engineDir = dirname(d.host.slice("unix://".length));
  const dockerdPid = Number((await readFile(join(engineDir, "dockerd.pid"), "utf8")).trim());
  const packEnv = { ...d.env, PACK_HOME: join(dir, "pack-home"), NO_COLOR: "1" };
  const host = r.host;
  const tree = await nodeModulesTree(log);

  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await withBash(dir, `oci:${layout}:build`, `oci:${layout}:run`, home);
  const buildImage = `${host}/base/build:1`;
  const runImages = [`${host}/base/run:1`, `${host}/base/run:2`];
  await copyImage(
    parseImageArgument(`oci:${layout}:build`),
    parseImageArgument(`docker://${buildImage}`),
    ctx,
  );
  await copyImage(
    parseImageArgument(`oci:${layout}:run`),
    parseImageArgument(`docker://${runImages[0]}`),
    ctx,
  );
  // The second run image (for rebase): the first plus a layer.
  await mkdir(join(dir, "run2", "etc"), { recursive: true });
  await writeFile(join(dir, "run2", "etc", "run-version"), "2\n");
  await appendLayers(
    parseImageArgument(`oci:${layout}:run`),
    [{ source: join(dir, "run2"), dest: "/" }],
    parseImageArgument(`docker://${runImages[1]}`),
    ctx,
  );

  const served = await serveTreeTar(dir, tree.dir);
  stopServer = served.stop;
  const modulesUrl = served.url;
  await writeBuildpack(join(dir, "bps"), {
    id: "bench/node-modules",
    version: "0.0.1",
    build: `L="$CNB_LAYERS_DIR/modules"
set -- $(busybox sha256sum /workspace/package.json)
sum="$1"
if [ -d "$L/node_modules" ] && busybox grep -q "^ *lockfile-sha256 = \\"$sum\\"" "$L.toml" 2>/dev/null; then
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
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]
uri = "bps/bench_node-modules-0.0.1"
[[order]]
[[order.group]]
id = "bench/node-modules"
version = "0.0.1"
[build]
image = "docker://${buildImage}"
[[run.images]]
image = "${runImages[0]}"
[lifecycle]
uri = "${await lifecycleTgz(dir)}"
`,
  );
  const builder = `${host}/bench/builder:1`;
  const untimed = async (argv: string[], env: NodeJS.ProcessEnv) => {
    await exec(argv[0]!, argv.slice(1), { env, maxBuffer: 64 * 1024 * 1024 }).catch((err) => {
      throw new Error(`${argv.join(" ")}: ${(err as { stderr?: string }).stderr ?? err}`);
    });
  };
  await untimed(
    berthCmd("builder", "create", builder, "--config", join(dir, "builder.toml"), "--publish"),
    berthEnv,
  );
  // berth reads the builder from its store as pack reads it from its engine: each pulled once, untimed.
  await untimed(berthCmd("copy", `docker://${builder}`, "bench-builder:1"), berthEnv);

  const app = join(dir, "app");
  await mkdir(join(app, "src"), { recursive: true });
  await cp(join(tree.dir, "..", "package.json"), join(app, "package.json"));
  for (let k = 0; k < 20; k++) {
    await writeFile(join(app, "src", `module${k}.js`), `export const value${k} = ${k};\n`.repeat(200));
  }

  type Tool = "berth" | "berth --lifecycle builder" | "pack";
  const tools: Tool[] = ["berth", "berth --lifecycle builder", "pack"];
  const slug: Record<Tool, string> = { berth: "berth", "berth --lifecycle builder": "lc", pack: "pack" };
  const buildArgv = (tool: Tool, image: string): { argv: string[]; sample: () => Promise<Sample> } => {
    const argv =
      tool === "pack"
        ? [
            pack,
            "build",
            image,
            "--builder",
            builder,
            "--path",
            app,
            "--publish",
            "--trust-builder",
            "--network",
            "host",
            "--pull-policy",
            "if-not-present",
          ]
        : berthCmd(
            "build",
            app,
            "-t",
            image,
            "--builder",
            "bench-builder:1",
            "--publish",
            "--network",
            "host",
            ...(tool === "berth" ? [] : ["--lifecycle", "builder", "--trust-builder"]),
          );
    return {
      argv,
      sample: () =>
        tool === "pack" ? measure(argv, packEnv, [dockerdPid], engineDir) : measure(argv, berthEnv, []),
    };
  };
  // Untimed warm-up: pack pulls the builder and the run image into its engine and creates its lifecycle
  // container image; berth compiles its launcher and snapshots the build image. Both sides start warm.
  for (const tool of tools) {
    log(`  warm-up: ${tool}`);
    await buildArgv(tool, `${host}/warm/${slug[tool]}:1`).sample();
  }

  type What = "cold" | "noop" | "changed";
  const samples = new Map<string, Sample[]>();
  const add = (what: string, tool: string, s: Sample) => {
    const k = `${what}\0${tool}`;
    samples.set(k, [...(samples.get(k) ?? []), s]);
    log(`    ${tool} ${what}: ${s.seconds.toFixed(2)} s, ${(s.peakKiB / 1024).toFixed(0)} MiB`);
  };
  for (let n = 0; n < runs; n++) {
    // Rotated each round, so no tool always runs first or last.
    const order = tools.map((_, i) => tools[(i + n) % tools.length]!);
    for (const tool of order) {
      const image = `${host}/${slug[tool]}/app-${n}:1`;
      await writeFile(join(app, "src", "module3.js"), `export const value3 = 3;\n`.repeat(200));
      const once = async (what: What) => {
        if (what === "cold" && tool !== "pack") {
          // A cold build knows nothing of earlier runs: berth's layer index (fingerprints, known blobs) goes, as
          // pack's cache (a volume named after the image) is new for a new image name.
          for (const d of ["cache/cnb/fingerprints", "cache/cnb/blobs"]) {
            await rm(join(home, d), { recursive: true, force: true });
          }
        }
        execFileSync("sync");
        add(what, tool, await buildArgv(tool, image).sample());
      };
      await once("cold");
      await once("noop");
      await writeFile(join(app, "src", "module3.js"), `export const value3 = ${Date.now()};\n`);
      await once("changed");
    }
  }

  // Rebase: the same berth-built image under two names, each rebased back and forth between the run images.
  const rebaseRuns = Math.max(3, runs);
  const rebaseTools = ["berth rebase", "pack rebase"] as const;
  const target = { "berth rebase": `${host}/rebase/berth:1`, "pack rebase": `${host}/rebase/pack:1` };
  for (const t of rebaseTools) {
    await untimed(berthCmd("copy", `docker://${host}/berth/app-0:1`, `docker://${target[t]}`), berthEnv);
  }
  for (let n = 0; n < rebaseRuns; n++) {
    const runImage = runImages[(n + 1) % 2]!;
    for (const t of n % 2 === 0 ? rebaseTools : [...rebaseTools].reverse()) {
      execFileSync("sync");
      const s =
        t === "berth rebase"
          ? await measure(
              berthCmd("rebase", target[t], "--publish", "--run-image", runImage, "--force"),
              berthEnv,
              [],
            )
          : await measure(
              [
                pack,
                "rebase",
                target[t],
                "--publish",
                "--run-image",
                runImage,
                "--force",
                "--pull-policy",
                "if-not-present",
              ],
              packEnv,
              [dockerdPid],
              engineDir,
            );
      add("rebase", t, s);
    }
  }

  const row = (title: string, what: string, tool: string, peer: string) => {
    const xs = samples.get(`${what}\0${tool}`)!;
    const med = median(xs.map((x) => x.seconds));
    const peerMed = median(samples.get(`${what}\0${peer}`)!.map((x) => x.seconds));
    return `| ${title} | ${tool} | ${med.toFixed(2)} | ${Math.min(...xs.map((x) => x.seconds)).toFixed(2)} | ${(Math.max(...xs.map((x) => x.peakKiB)) / 1024).toFixed(0)} | ${tool === peer ? "(peer)" : (med / peerMed).toFixed(2)} |`;
  };
  const rows: string[] = [];
  for (const [title, what] of [
    ["cold", "cold"],
    ["no-op rebuild", "noop"],
    ["one source file changed", "changed"],
  ] as const) {
    for (const tool of tools) rows.push(row(title, what, tool, "pack"));
  }
  for (const t of rebaseTools) rows.push(row("rebase (registry)", "rebase", t, "pack rebase"));
  const loadavg = (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");
  const md = [
    "# berth against pack (bench/pack.ts, issue 14)",
    "",
    `\`node bench/pack.ts${values.quick ? " --quick" : ""}\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ` +
      `Node ${process.version}, ${await version([pack, "version"]).then((v) => `pack ${v}`)}, lifecycle ${LIFECYCLE_VERSION}, ` +
      `${await version(["/usr/sbin/dockerd", "--version"])}; median of ${runs} run(s) of each build (${rebaseRuns} of each rebase), ` +
      "the tools' order rotated each round. One app (package.json, 20 source files), one builder " +
      "(`berth builder create` with the reference lifecycle, one sh buildpack installing " +
      `${(tree.bytes / 1024 / 1024).toFixed(0)} MiB of node_modules, ${tree.files} files, from a tar on 127.0.0.1, into a ` +
      "launch + cache layer kept while package.json is unchanged), one docker-registry on 127.0.0.1; every image " +
      "is published there. `berth`: `berth build --publish` (its own engine); `berth --lifecycle builder`: " +
      "`berth build --publish --lifecycle builder --trust-builder` (the builder's `creator` in berth's sandbox); " +
      "`pack`: `pack build --publish --trust-builder --network host` against a private dockerd, builder and run image " +
      "already in the engine. Cold: a new image name (so a new cache for each), berth's layer index emptied. " +
      "Rebase: `berth rebase --publish` against `pack rebase --publish`, the same image switched between two run " +
      "images. Seconds of the whole command; peak MiB: the largest summed RSS of the process tree sampled every " +
      "50 ms (for pack: the client and the whole engine, dockerd, containerd, the shims and the lifecycle " +
      "containers). Ratio: median over pack's (below 1.00 faster than pack).",
    "",
    `The machine was shared with other jobs while this ran (load average at the end: ${loadavg} on 2 cores), so ` +
      "absolute times are inflated and noisy.",
    "",
    "| build | tool | median s | min s | peak MiB | ratio vs pack |",
    "|---|---|---:|---:|---:|---:|",
    ...rows,
    "",
    "Goal (issue 14): berth's own engine ≤ 0.5× pack on both rebuilds and ≤ 1.0× cold; `--lifecycle builder` ≤ " +
      "1.0× pack.",
    "",
  ].join("\n");
  process.stdout.write(md);
  await mkdir(join(ROOT, "bench", "results"), { recursive: true });
  await writeFile(join(ROOT, "bench", "results", "pack.md"), md);
  log(`wrote bench/results/pack.md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await dockerd?.stop();
  await reg?.stop();
  await stopServer?.();
  await fresh(dir);
}
