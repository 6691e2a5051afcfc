/**
 * `node bench/rebase-many.ts [--prebuilt] [--count N] [--per-process N] [--jobs N]` (issue 15 §3): N app
 * images (default 200) in a local docker-registry are rebased onto a new run image by one
 * `berth rebase --publish IMAGE…` process, against one `berth rebase --publish IMAGE` process per image (for
 * `--per-process` images, default 40, one after another and 8 at once; per image and extrapolated to N). Time
 * (wall clock), bytes moved (counted by a TCP proxy in front of the registry, both ways, headers included) and
 * HTTP requests (the registry's log). The apps are made quickly (test/cnb/rebase-apps.ts): one busybox run
 * image pair and one app template, then configs and manifests written through the registry's API that reuse
 * its layers. Writes bench/results/rebase-many.md. Benchmarks are not tests.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRebaseFleet, pushApps } from "../test/cnb/rebase-apps.ts";
import { startRegistry } from "../test/registry/helpers/registry.ts";
import { BIN, buildCli, ROOT } from "./lib.ts";

const { values } = parseArgs({
  options: {
    prebuilt: { type: "boolean", default: false },
    count: { type: "string", default: "200" },
    "per-process": { type: "string", default: "40" },
    jobs: { type: "string", default: "8" },
  },
});
const count = Number(values.count);
const perProcess = Math.min(count, Number(values["per-process"]));
const jobs = Number(values.jobs);
const log = (s: string) => process.stderr.write(`${s}\n`);

/** A TCP proxy that counts the bytes each way. */
async function countingProxy(target: number): Promise<{
  port: number;
  up: () => number;
  down: () => number;
  reset: () => void;
  close: () => Promise<void>;
}> {
  let up = 0;
  let down = 0;
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: target });
    client.on("data", (c: Buffer) => {
      up += c.length;
    });
    upstream.on("data", (c: Buffer) => {
      down += c.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    up: () => up,
    down: () => down,
    reset: () => {
      up = 0;
      down = 0;
    },
    close: () => new Promise((res) => server.close(() => res())),
  };
}

function run(home: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, BERTH_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
    });
    child.on("error", rej);
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

async function must(home: string, args: string[]): Promise<string> {
  const r = await run(home, args);
  if (r.code !== 0) throw new Error(`berth ${args.slice(0, 6).join(" ")}… failed: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

interface Measured {
  what: string;
  images: number;
  seconds: number;
  up: number;
  down: number;
  requests: number;
}

if (!values.prebuilt) {
  log("building the CLI into bench/data/build");
  await buildCli();
}
const dir = await mkdtemp(join(tmpdir(), "berth-bench-rebase-many-"));
const reg = await startRegistry();
const proxy = await countingProxy(reg.port);
const host = `127.0.0.1:${proxy.port}`;
const results: Measured[] = [];
try {
  const home = join(dir, "home");
  const cli = (args: string[]) => run(home, args);
  log("run images and the app template");
  const fleet = await makeRebaseFleet(dir, host, cli);
  const one = Array.from({ length: count }, (_, i) => `${host}/fleet/a${i}:1`);
  const each = Array.from({ length: perProcess }, (_, i) => `${host}/fleet/b${i}:1`);
  const eachPar = Array.from({ length: perProcess }, (_, i) => `${host}/fleet/c${i}:1`);
  const t = performance.now();
  await pushApps(host, fleet.template, [...one, ...each, ...eachPar]);
  log(
    `${one.length + each.length + eachPar.length} app images pushed in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  await fleet.newRun();
  const runImage = `${host}/base/run:latest`;

  const measure = async (what: string, images: number, body: () => Promise<void>) => {
    await reg.markLog();
    proxy.reset();
    const start = performance.now();
    await body();
    const seconds = (performance.now() - start) / 1000;
    const requests = (await reg.requests()).length;
    results.push({ what, images, seconds, up: proxy.up(), down: proxy.down(), requests });
    log(`${what}: ${seconds.toFixed(1)} s, up ${proxy.up()} B, down ${proxy.down()} B, ${requests} requests`);
  };

  const list = join(dir, "fleet.txt");
  await writeFile(list, `${one.join("\n")}\n`);
  await measure(
    `one process: berth rebase --publish --jobs ${jobs} --from-file (${count} images)`,
    count,
    async () => {
      const out = await must(join(dir, "home-one"), [
        "--jobs",
        String(jobs),
        "rebase",
        "--publish",
        "--run-image",
        runImage,
        "--json",
        "--from-file",
        list,
      ]);
      const j = JSON.parse(out) as { failed: string[] };
      if (j.failed.length) throw new Error(`failed: ${j.failed.join(", ")}`);
    },
  );
  await measure(`one process per image, one after another (${perProcess} images)`, perProcess, async () => {
    for (const image of each) {
      await must(join(dir, "home-each"), ["rebase", "--publish", "--run-image", runImage, "-q", image]);
    }
  });
  await measure(`one process per image, 8 at once (${perProcess} images)`, perProcess, async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < eachPar.length) {
          const image = eachPar[next++]!;
          await must(join(dir, "home-par"), ["rebase", "--publish", "--run-image", runImage, "-q", image]);
        }
      }),
    );
  });
} finally {
  await proxy.close();
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
}

const load = loadavg()
  .map((n) => n.toFixed(1))
  .join(" ");
const kib = (n: number) => (n / 1024).toFixed(1);
const lines = [
  `# Rebase of many images (bench/rebase-many.ts, issue 15)`,
  "",
  `${count} buildpacks-style app images (busybox run image, one app layer each, each in its own repository) in a local`,
  "docker-registry are moved onto a new run image (one more layer). Bytes are counted by a TCP proxy in front of the",
  "registry (both ways, HTTP headers included); requests from the registry's log. The per-process baseline runs",
  `${perProcess} images (${count} processes took too long on this shared machine) and is extrapolated per image.`,
  `The machine was shared with other jobs (load average at the end: ${load} on 2 cores): compare rows, not absolute times.`,
  "",
  "| how | images | wall s | s per image | KiB up | KiB down | requests | per image: KiB up / down, requests |",
  "|---|---:|---:|---:|---:|---:|---:|---|",
  ...results.map(
    (r) =>
      `| ${r.what} | ${r.images} | ${r.seconds.toFixed(1)} | ${(r.seconds / r.images).toFixed(3)} | ${kib(r.up)} | ${kib(r.down)} | ${r.requests} | ${kib(r.up / r.images)} / ${kib(r.down / r.images)}, ${(r.requests / r.images).toFixed(1)} |`,
  ),
  "",
];
if (results.length === 3) {
  const [a, b, c] = results as [Measured, Measured, Measured];
  lines.push(
    `Per image, one process for all is ${(b.seconds / b.images / (a.seconds / a.images)).toFixed(1)}× faster than a process each one after another and ${(c.seconds / c.images / (a.seconds / a.images)).toFixed(1)}× faster than 8 processes at once; it moves ${(b.down / b.images / (a.down / a.images)).toFixed(1)}× fewer bytes down and makes ${(b.requests / b.images / (a.requests / a.images)).toFixed(1)}× fewer requests (the run image is read once, not once per image).`,
    "",
  );
}
const md = lines.join("\n");
await mkdir(join(ROOT, "bench", "results"), { recursive: true });
await writeFile(join(ROOT, "bench", "results", "rebase-many.md"), md);
process.stdout.write(md);
