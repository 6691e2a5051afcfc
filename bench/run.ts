/**
 * `npm run bench` (`node bench/run.ts [--quick] [--runs N] [--only images,registry,layers,runtime,dockerfile,buildkit,cnb,reference,pack,rebase-many,executable]`): times berth
 * side by side with its peers on the same data in one run and writes BENCHMARKS.md. Benchmarks are not tests.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { imageData, nodeModulesTree } from "./data.ts";
import { imageBenchmarks } from "./images.ts";
import { layerBenchmarks } from "./layers.ts";
import { type BenchResult, buildCli, fresh, ROOT, SCRATCH, version } from "./lib.ts";
import { registryBenchmarks } from "./registry.ts";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    only: { type: "string" },
    output: { type: "string", default: join(ROOT, "BENCHMARKS.md") },
  },
});
const quick = values.quick === true;
const runs = values.runs ? Number(values.runs) : quick ? 3 : 5;
const only = new Set(
  (
    values.only ??
    "images,registry,layers,runtime,dockerfile,buildkit,cnb,reference,pack,rebase-many,executable"
  ).split(","),
);
const log = (s: string) => process.stderr.write(`${s}\n`);
const started = Date.now();

const MiB = 1024 * 1024;
const layers = 8;
const layerBytes = quick ? 16 * MiB : 128 * MiB;

const results: { section: string; benches: BenchResult[] }[] = [];
await fresh(SCRATCH);
log("building the CLI (scripts/build.ts: tsc + bundle) into bench/data/build");
await buildCli();
// bench/runtime.ts (the runtime's benchmark, `node bench/runtime.ts [N]`) writes bench/results/runtime.md. It runs
// first: a start latency of ~100 ms is measured before the gigabytes the other benchmarks write (whose
// writeback slowed even plain `runc run` by half when it ran after them).
let runtime: string | undefined;
const runtimeScript = join(ROOT, "bench", "runtime.ts");
if (only.has("runtime") && existsSync(runtimeScript)) {
  log("runtime (bench/runtime.ts)");
  const stdout = await subprocess([process.execPath, runtimeScript, ...(quick ? ["5"] : [])]);
  runtime = await readFile(join(ROOT, "bench", "results", "runtime.md"), "utf8").catch(() => stdout);
}

try {
  if (only.has("images") || only.has("registry")) {
    log(`data: ${layers} × ${layerBytes / MiB} MiB image`);
    const image = await imageData(layers, layerBytes, log);
    if (only.has("images")) {
      log("images (issue 2)");
      results.push({
        section: "Images: OCI layout ↔ docker-archive (issue 2)",
        benches: await imageBenchmarks(image, runs, log),
      });
    }
    if (only.has("registry")) {
      log("registry (issue 4)");
      results.push({
        section: "Registry: push and pull (issue 4)",
        benches: await registryBenchmarks(image, runs, log),
      });
    }
  }
  if (only.has("layers")) {
    log("data: node_modules tree");
    const tree = await nodeModulesTree(log);
    log("layers (issue 3)");
    results.push({
      section: "Layers: build and extract (issue 3)",
      benches: await layerBenchmarks(tree, runs, log),
    });
  }
} finally {
  await fresh(SCRATCH);
}

// bench/dockerfile.ts (the Dockerfile corpus cold and cached vs buildah bud --layers) writes
// bench/results/dockerfile.md; it reuses the CLI compiled above.
let dockerfile: string | undefined;
const dockerfileScript = join(ROOT, "bench", "dockerfile.ts");
if (only.has("dockerfile") && existsSync(dockerfileScript)) {
  log("dockerfile (bench/dockerfile.ts)");
  const stdout = await subprocess([
    process.execPath,
    dockerfileScript,
    "--prebuilt",
    "--runs",
    String(Math.max(3, runs)),
  ]);
  dockerfile = await readFile(join(ROOT, "bench", "results", "dockerfile.md"), "utf8").catch(() => stdout);
}

// bench/buildkit.ts (one multi-stage project: berth against Debian's docker.io engine with BuildKit, issue 20)
// writes bench/results/buildkit.md; it reuses the CLI compiled above and needs root (a private dockerd).
let buildkit: string | undefined;
const buildkitScript = join(ROOT, "bench", "buildkit.ts");
if (only.has("buildkit") && existsSync(buildkitScript)) {
  log("berth against BuildKit (bench/buildkit.ts)");
  const stdout = await subprocess([
    process.execPath,
    buildkitScript,
    "--prebuilt",
    "--runs",
    String(Math.max(3, runs)),
  ]);
  buildkit = await readFile(join(ROOT, "bench", "results", "buildkit.md"), "utf8").catch(() => stdout);
}

// bench/cnb.ts (buildpacks: cold build, no-op rebuild, one file changed, rebase; store and registry) writes
// bench/results/cnb.md.
let cnb: string | undefined;
const cnbScript = join(ROOT, "bench", "cnb.ts");
if (only.has("cnb") && existsSync(cnbScript)) {
  log("buildpacks (bench/cnb.ts)");
  const stdout = await subprocess([process.execPath, cnbScript, ...(quick ? ["--quick"] : [])]);
  cnb = await readFile(join(ROOT, "bench", "results", "cnb.md"), "utf8").catch(() => stdout);
}

// bench/reference.ts (berth against the reference lifecycle's creator, issue 13) writes bench/results/reference.md.
let reference: string | undefined;
const referenceScript = join(ROOT, "bench", "reference.ts");
if (only.has("reference") && existsSync(referenceScript)) {
  log("berth against the reference lifecycle (bench/reference.ts)");
  const stdout = await subprocess([process.execPath, referenceScript, ...(quick ? ["--quick"] : [])]);
  reference = await readFile(join(ROOT, "bench", "results", "reference.md"), "utf8").catch(() => stdout);
}

// bench/pack.ts (berth build, berth build --lifecycle builder and pack build on the same app, builder and registry;
// berth rebase against pack rebase; issue 14) writes bench/results/pack.md; it reuses the CLI compiled above and
// needs root (a private dockerd) and pack (scripts/pack.sh, built on first use).
let pack: string | undefined;
const packScript = join(ROOT, "bench", "pack.ts");
if (only.has("pack") && existsSync(packScript)) {
  log("berth against pack (bench/pack.ts)");
  const stdout = await subprocess([
    process.execPath,
    packScript,
    "--prebuilt",
    ...(quick ? ["--quick"] : values.runs ? ["--runs", values.runs] : []),
  ]);
  pack = await readFile(join(ROOT, "bench", "results", "pack.md"), "utf8").catch(() => stdout);
}

// bench/rebase-many.ts (200 app images rebased by one process against one process per image, issue 15) writes
// bench/results/rebase-many.md; it reuses the CLI compiled above.
let rebaseMany: string | undefined;
const rebaseManyScript = join(ROOT, "bench", "rebase-many.ts");
if (only.has("rebase-many") && existsSync(rebaseManyScript)) {
  log("rebase of many images (bench/rebase-many.ts)");
  const stdout = await subprocess([
    process.execPath,
    rebaseManyScript,
    "--prebuilt",
    ...(quick ? ["--count", "40", "--per-process", "10"] : []),
  ]);
  rebaseMany = await readFile(join(ROOT, "bench", "results", "rebase-many.md"), "utf8").catch(() => stdout);
}

// bench/executable.ts (berth's single executable against the package and the checkout: size, start time; issue
// 15 §1) writes bench/results/executable.md; it reuses the CLI compiled above.
let executable: string | undefined;
if (only.has("executable")) {
  log("berth as one executable (bench/executable.ts)");
  const stdout = await subprocess([
    process.execPath,
    join(ROOT, "bench", "executable.ts"),
    "--prebuilt",
    ...(quick ? ["--runs", "5"] : []),
  ]);
  executable = await readFile(join(ROOT, "bench", "results", "executable.md"), "utf8").catch(() => stdout);
}

const machine = await machineInfo();
await writeFile(
  values.output!,
  render(machine, results, runtime, dockerfile, buildkit, cnb, reference, pack, rebaseMany, executable),
);
log(`wrote ${values.output} in ${((Date.now() - started) / 1000).toFixed(0)} s`);

function subprocess(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString("utf8"))
        : reject(new Error(`${argv.join(" ")} exited with ${code}`)),
    );
  });
}

async function machineInfo(): Promise<string[]> {
  const { stdout: kernel } = await exec("uname", ["-sr"]);
  const cpu = cpus();
  return [
    `- CPU: ${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown"}`,
    `- Memory: ${(totalmem() / 1024 / 1024 / 1024).toFixed(1)} GiB`,
    `- Kernel: ${kernel.trim()}`,
    `- Node.js: ${process.version}`,
    `- skopeo: ${await version(["skopeo", "--version"])}`,
    `- umoci: ${await version(["umoci", "--version"])}`,
    `- docker-registry: ${await version(["docker-registry", "--version"])}`,
    `- pigz: ${await version(["pigz", "--version"])}; zstd: ${await version(["zstd", "--version"])}; ${await version(["tar", "--version"])}`,
  ];
}

function fmt(n: number, digits = 2): string {
  return n.toFixed(digits);
}

function render(
  machine: string[],
  sections: typeof results,
  runtimeMd: string | undefined,
  dockerfileMd: string | undefined,
  buildkitMd: string | undefined,
  cnbMd: string | undefined,
  referenceMd: string | undefined,
  packMd: string | undefined,
  rebaseManyMd?: string,
  executableMd?: string,
): string {
  const lines = [
    "# Benchmarks",
    "",
    `Written by \`npm run bench${quick ? " -- --quick" : ""}\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ` +
      `each tool ran ${runs} times, interleaved with its peer, on the same data in the same run. ` +
      "Times are wall-clock seconds of the whole command (process start to exit); peak memory is the largest " +
      "maximum RSS (`/usr/bin/time -f %M`) over the runs, of the command and any children it waited for. " +
      "Ratio is berth's median over the peer's median: below 1.00 berth is faster. Page cache warm, `sync` " +
      "before each run. Benchmarks are not tests: nothing here is asserted in the test suite.",
    "",
    "## Machine",
    "",
    ...machine,
    "",
  ];
  for (const s of sections) {
    lines.push(`## ${s.section}`, "");
    for (const b of s.benches) {
      lines.push(`### ${b.title}`, "", b.note, "");
      lines.push("| tool | median s | min s | peak MiB | ratio vs peer |", "|---|---:|---:|---:|---:|");
      for (const r of b.rows) {
        const ratio = r.peer ? "(peer)" : r.ratio === undefined ? "" : fmt(r.ratio);
        lines.push(
          `| ${r.tool.replaceAll("|", "\\|")} | ${fmt(r.median)} | ${fmt(r.min)} | ${fmt(r.peakMiB, 0)} | ${ratio} |`,
        );
      }
      lines.push("");
    }
  }
  if (runtimeMd !== undefined) {
    lines.push("## Runtime (bench/runtime.ts)", "", runtimeMd.trim().replace(/^#+ /gm, "### "), "");
  }
  if (dockerfileMd !== undefined) {
    lines.push(
      "## Dockerfile builds (bench/dockerfile.ts, issue 9)",
      "",
      dockerfileMd.trim().replace(/^#+ /gm, "### "),
      "",
    );
  }
  if (buildkitMd !== undefined) {
    lines.push(
      "## Dockerfile builds against BuildKit (bench/buildkit.ts, issue 20)",
      "",
      buildkitMd.trim().replace(/^#+ /gm, "### "),
      "",
    );
  }
  if (cnbMd !== undefined) {
    lines.push("## Buildpacks (bench/cnb.ts, issue 7)", "", cnbMd.trim().replace(/^#+ /gm, "### "), "");
  }
  if (referenceMd !== undefined) {
    lines.push(
      "## Buildpacks against the reference lifecycle (bench/reference.ts, issue 13)",
      "",
      referenceMd.trim().replace(/^#+ /gm, "### "),
      "",
    );
  }
  if (packMd !== undefined) {
    lines.push(
      "## Buildpacks against pack (bench/pack.ts, issue 14)",
      "",
      packMd.trim().replace(/^#+ /gm, "### "),
      "",
    );
  }
  if (rebaseManyMd !== undefined) {
    lines.push(
      "## Rebase of many images (bench/rebase-many.ts, issue 15)",
      "",
      rebaseManyMd
        .trim()
        .replace(/^# .*\n+/, "")
        .replace(/^#+ /gm, "### "),
      "",
    );
  }
  if (executableMd !== undefined) {
    lines.push(executableMd.trim().replace(/^# /m, "## ").replace(/^## `/gm, "### `"), "");
  }
  return `${lines.join("\n")}\n`;
}
