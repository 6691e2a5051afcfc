/**
 * berth's fresh-machine registry-cache row of bench/buildkit.ts alone, with what the registry served: the same
 * project and Dockerfile (`--big`: plus a 64 MiB incompressible layer in the final stage), the cache written
 * once (`--cache-to type=registry,mode=max`), then each run an empty BERTH_HOME importing it, into the local store
 * or (`--publish`) pushed to another repository of the cache's registry. `--before DIR`: another checkout of
 * berth (with node_modules) timed too, interleaved (the order alternating each round), to compare a change.
 * Wall, user+sys CPU and peak RSS (/usr/bin/time), and the cache repository's blob GETs and bytes served (the
 * registry's own log). berth runs from the sources (bin/berth.js), not the compiled bundle.
 *
 * Run: node bench/cache-fresh.ts [--runs N] [--publish] [--big] [--before DIR]
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { localBase } from "../test/dockerfile/helpers/local.ts";
import { startRegistry } from "../test/registry/helpers/registry.ts";
import { median, ROOT, SCRATCH } from "./lib.ts";
import { projectDockerfile, writeProject } from "./project.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    publish: { type: "boolean", default: false },
    big: { type: "boolean", default: false },
    before: { type: "string" },
  },
});
const W = ROOT;
const trees: Record<string, string> = { ...(values.before ? { before: values.before } : {}), this: W };
const runs = Math.max(1, Number(values.runs ?? 5));
const dest = values.publish ? "publish" : "store";
const node = process.execPath;
await mkdir(SCRATCH, { recursive: true });
const dir = await mkdtemp(join(SCRATCH, "cache-fresh-"));
const base = await localBase(join(dir, "base"));
const ctx = join(dir, "ctx");
await writeProject(ctx);
await writeFile(
  join(dir, "Dockerfile"),
  projectDockerfile(base, values.big ? "RUN dd if=/dev/urandom of=/big bs=1M count=64 2>/dev/null\n" : ""),
);
const registry = await startRegistry();
const cacheRef = `${registry.host}/bench/cache:max`;

function run(
  tree: string,
  home: string,
  args: string[],
): Promise<{ wall: number; cpu: number; rss: number; out: string }> {
  const t = join(dir, "time.txt");
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(
      "/usr/bin/time",
      [
        "-f",
        "%U %S %M",
        "-o",
        t,
        node,
        `${tree}/bin/berth.js`,
        "build",
        ctx,
        "--dockerfile",
        join(dir, "Dockerfile"),
        ...args,
      ],
      {
        env: { ...process.env, BERTH_HOME: home, SOURCE_DATE_EPOCH: "0" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("close", async (code) => {
      const wall = (performance.now() - start) / 1000;
      if (code !== 0) return reject(new Error(out.slice(-3000)));
      const [u, s, m] = (await readFile(t, "utf8")).trim().split("\n").pop()!.split(" ").map(Number);
      resolve({ wall, cpu: u! + s!, rss: m! / 1024, out });
    });
  });
}
await run(W, join(dir, "home-writer"), [
  "-t",
  "bench-app:latest",
  "--cache-to",
  `type=registry,ref=${cacheRef},mode=max`,
]);
const rows: Record<string, Record<"wall" | "cpu" | "rss" | "gets" | "bytes" | "heads", number[]>> = {};
for (let i = 0; i < runs; i++) {
  const order = i % 2 === 0 ? Object.keys(trees) : Object.keys(trees).reverse();
  for (const name of order) {
    const home = join(dir, `home-${name}-${i}`);
    await rm(home, { recursive: true, force: true });
    await registry.markLog();
    const target =
      dest === "publish"
        ? ["-t", `${registry.host}/bench/app-${name}:${i}`, "--publish"]
        : ["-t", "bench-app:latest"];
    const r = await run(trees[name]!, home, [...target, "--cache-from", `type=registry,ref=${cacheRef}`]);
    const reqs = (await registry.requests()).filter((q: { uri: string }) =>
      q.uri.includes("/bench/cache/blobs/"),
    );
    const gets = reqs.filter((q: { method: string }) => q.method === "GET");
    rows[name] ??= { wall: [], cpu: [], rss: [], gets: [], bytes: [], heads: [] };
    const row = rows[name];
    row.wall.push(r.wall);
    row.cpu.push(r.cpu);
    row.rss.push(r.rss);
    row.gets.push(gets.length);
    row.heads.push(reqs.length - gets.length);
    row.bytes.push(gets.reduce((n: number, q: { written: number }) => n + q.written, 0));
    await rm(home, { recursive: true, force: true });
    process.stderr.write(
      `${name} #${i}: ${r.wall.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s cpu, ${gets.length} blob GETs ${row.bytes.at(-1)} B, load ${loadavg()[0]?.toFixed(1)}\n`,
    );
  }
}
const med = median;
for (const [name, r] of Object.entries(rows))
  console.log(
    `${dest} ${name}: wall ${med(r.wall).toFixed(2)} s (min ${Math.min(...r.wall).toFixed(2)}), cpu ${med(r.cpu).toFixed(2)} s, rss ${med(r.rss).toFixed(0)} MiB, cache blob GETs ${med(r.gets)}, bytes ${med(r.bytes)}, cache blob other reqs ${med(r.heads)}`,
  );
console.log(
  `load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
await registry.stop();
await rm(dir, { recursive: true, force: true });
