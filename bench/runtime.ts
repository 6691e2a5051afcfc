// Start latency of a container, `true` in a busybox image made with umoci: `berth run IMAGE true` on a cached
// image (the CLI, and runContainer in-process), `runc run` on a ready bundle, and `umoci unpack` + `runc run`.
// Medians of N runs each. Run: node bench/runtime.ts [N]. Writes bench/results/runtime.md.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { loadRoot, selectImage } from "../src/oci/image.ts";
import { runContainer } from "../src/runtime/index.ts";
import { openSource } from "../src/transport/open.ts";
import { parseImageArgument } from "../src/transport/parse.ts";
import { busyboxImage } from "../test/runtime/helpers.ts";
import { BIN, buildCli } from "./lib.ts";

const N = Number(process.argv[2] ?? 21);
// The CLI as users run it (compiled JavaScript); `npm run bench` compiled it already.
if (!existsSync(BIN)) await buildCli();
const dir = mkdtempSync(join(tmpdir(), "berth-bench-rt-"));
const layout = join(dir, "layout");
const home = join(dir, "home");
await busyboxImage(layout, "b", { cmd: ["true"] });
const img = `oci:${layout}:b`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** Time `fn`, after a `sync` so that no writeback of an earlier benchmark (or run) is still going on. */
function time(fn: () => void): number {
  execFileSync("sync");
  const t = performance.now();
  fn();
  return performance.now() - t;
}
function must(r: ReturnType<typeof spawnSync>, what: string) {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
}

const env = { ...process.env, BERTH_HOME: home };
// Warm the snapshot cache (and Node's compile cache).
must(spawnSync(process.execPath, [BIN, "run", img, "true"], { env }), "berth run (warm-up)");

// A ready bundle for plain runc.
const bundle = join(dir, "bundle");
execFileSync(process.execPath, [BIN, "bundle", img, bundle], { env });

const rows: [string, number[]][] = [];
const runcReady: number[] = [];
const berthCli: number[] = [];
const berthLib: number[] = [];
const umociRunc: number[] = [];
const opened = await openSource(parseImageArgument(img), { home, env: {} });
const image = await selectImage(await loadRoot(opened.source, opened.root));
for (let i = 0; i < N; i++) {
  runcReady.push(
    time(() =>
      must(spawnSync("runc", ["--root", join(dir, "state"), "run", "-b", bundle, `b${i}`]), "runc run"),
    ),
  );
  berthCli.push(
    time(() => must(spawnSync(process.execPath, [BIN, "run", img, "true"], { env }), "berth run")),
  );
  execFileSync("sync");
  const t = performance.now();
  const r = await runContainer({ home, image, args: ["true"] });
  berthLib.push(performance.now() - t);
  if (r.exitCode !== 0 || r.snapshots.applied !== 0) throw new Error("runContainer: unexpected result");
  const ub = join(dir, `u${i}`);
  umociRunc.push(
    time(() => {
      must(spawnSync("umoci", ["unpack", "--image", `${layout}:b`, ub]), "umoci unpack");
      execFileSync("sed", ["-i", 's/"terminal": true/"terminal": false/', join(ub, "config.json")]);
      must(spawnSync("runc", ["--root", join(dir, "state"), "run", "-b", ub, `u${i}`]), "runc run (umoci)");
    }),
  );
  rmSync(ub, { recursive: true, force: true });
}
rows.push(["`runc run` on a ready bundle", runcReady]);
rows.push(["`berth run IMAGE true` (installed CLI process, cached image)", berthCli]);
rows.push(["`runContainer()` in-process (cached image)", berthLib]);
rows.push(["`umoci unpack` + `runc run`", umociRunc]);
const base = median(runcReady);
const lines = [
  `# Runtime start latency`,
  "",
  `busybox image (1 layer), command \`true\`, ${N} runs each, medians. ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, runc ${execFileSync("runc", ["--version"]).toString().split("\n")[0]!.split(" ")[2]}.`,
  "",
  "| what | median ms | min ms | max ms | over runc (median) |",
  "|---|---:|---:|---:|---:|",
  ...rows.map(
    ([name, xs]) =>
      `| ${name} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)} | ${Math.max(...xs).toFixed(1)} | ${(median(xs) - base).toFixed(1)} |`,
  ),
  "",
];
const md = lines.join("\n");
console.log(md);
writeFileSync(resolve(import.meta.dirname, "results/runtime.md"), md);
rmSync(dir, { recursive: true, force: true });
