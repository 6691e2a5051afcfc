/**
 * `node bench/executable.ts [--prebuilt] [--runs N]` (issue 15 §1): berth's single executable
 * (scripts/executable.ts) against the installed package (`node dist/bundle/berth.js`, built by scripts/build.ts)
 * and the checkout (`node bin/berth.js`, which runs the TypeScript sources): its size, the size of the layers
 * `berth image self` writes, and the start time and peak RSS of `berth --version` and of `berth inspect` of an
 * OCI layout, medians of N interleaved runs (bench/lib.ts's compare). Writes bench/results/executable.md.
 * Benchmarks are not tests.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { BIN, BUILD, buildCli, compare, fresh, ROOT, type Row, SCRATCH } from "./lib.ts";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: { prebuilt: { type: "boolean", default: false }, runs: { type: "string", default: "15" } },
});
const runs = Number(values.runs);
const log = (s: string) => process.stderr.write(`${s}\n`);
const MiB = 1024 * 1024;
const size = async (path: string) => (await stat(path)).size;
const mibOf = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += await size(join(e.parentPath, e.name));
  }
  return total;
}

const work = join(SCRATCH, "executable");
await fresh(work);
await mkdir(work, { recursive: true });
if (!values.prebuilt) {
  log("building the CLI (scripts/build.ts) into bench/data/build");
  await buildCli();
}
const exe = join(work, "berth");
log("building the executable (scripts/executable.ts)");
await exec(process.execPath, [join(ROOT, "scripts", "executable.ts"), "--out", exe]);
const node = await realpath(process.execPath);

// A small image in an OCI layout, for `inspect`; and berth's image on scratch, for its layers' sizes.
const tree = join(work, "tree");
await mkdir(tree);
await writeFile(join(tree, "hello.txt"), "hello\n");
const env = { SOURCE_DATE_EPOCH: "0" };
const home = (name: string) => ({ ...env, BERTH_HOME: join(work, `home-${name}`) });
await exec(exe, ["append", "scratch", tree, "-t", `oci:${join(work, "layout")}:app`], { env: home("setup") });
const image = join(work, "image");
await exec(exe, ["image", "self", `oci:${image}:berth`], { env: home("setup") });
const index = JSON.parse(await readFile(join(image, "index.json"), "utf8")) as {
  manifests: { digest: string }[];
};
const blob = (digest: string) => join(image, "blobs", "sha256", digest.slice(7));
const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), "utf8")) as {
  layers: { size: number }[];
};
const [runtimeLayer, exeLayer] = manifest.layers.map((l) => l.size);

const tools = (args: string[]) => [
  { name: "executable (dist/berth-linux-amd64)", command: () => [exe, ...args], env: home("exe") },
  {
    name: "node dist/bundle/berth.js (the package)",
    command: () => [process.execPath, BIN, ...args],
    env: home("bundle"),
    peer: true,
  },
  {
    name: "node bin/berth.js (the checkout)",
    command: () => [process.execPath, join(ROOT, "bin", "berth.js"), ...args],
    env: home("checkout"),
  },
];
const table = (rows: Row[]) => [
  "| how | median s | min s | peak MiB | ratio vs the package |",
  "|---|---:|---:|---:|---:|",
  ...rows.map(
    (r) =>
      `| ${r.tool} | ${r.median.toFixed(3)} | ${r.min.toFixed(3)} | ${r.peakMiB.toFixed(0)} | ${r.peer ? "(peer)" : (r.ratio ?? 0).toFixed(2)} |`,
  ),
];
log("berth --version");
const version = await compare(tools(["--version"]), { runs, log });
log("berth inspect oci:LAYOUT:app");
const inspect = await compare(tools(["inspect", `oci:${join(work, "layout")}:app`]), { runs, log });

const md = [
  "# berth as one executable (bench/executable.ts, issue 15 §1)",
  "",
  `Sizes, then medians of ${runs} runs of each, interleaved, each with its own BERTH_HOME (warm: the first run`,
  "fills Node's compile cache for the two `node` rows). The executable is the project's Node binary, stripped,",
  "with berth's bundle and its run-time files injected (scripts/executable.ts; no V8 code cache: see",
  `ARCHITECTURE.md). Load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} on 2 cores shared with other jobs: compare rows, not absolute times.`,
  "",
  "| what | size |",
  "|---|---:|",
  `| the executable (dist/berth-linux-amd64) | ${mibOf(await size(exe))} |`,
  `| for comparison: Node 24's binary as npm installs it (debug information in) | ${mibOf(await size(node))} |`,
  `| for comparison: the package's dist/bundle (without Node or node_modules/undici) | ${mibOf(await treeBytes(join(BUILD, "bundle")))} |`,
  `| \`berth image self\`: the executable's layer (gzip) | ${mibOf(exeLayer ?? 0)} |`,
  `| \`berth image self\`: the runtime layer on scratch (glibc, libstdc++, CA bundle, users; gzip) | ${mibOf(runtimeLayer ?? 0)} |`,
  "",
  "## `berth --version`",
  "",
  ...table(version),
  "",
  "## `berth inspect oci:LAYOUT:app` (one small image)",
  "",
  ...table(inspect),
  "",
].join("\n");
await mkdir(join(ROOT, "bench", "results"), { recursive: true });
await writeFile(join(ROOT, "bench", "results", "executable.md"), md);
process.stdout.write(md);
await fresh(work);
