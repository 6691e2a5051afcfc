/**
 * Measuring helpers for the benchmarks: run a command under GNU time (wall time here, peak RSS from `%M`),
 * several times with the tools interleaved, and summarise as median, min and peak memory.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

export const ROOT = resolve(import.meta.dirname, "..");
export const DATA = join(ROOT, "bench", "data");
/** The CLI as installed (`bin/berth.js` runs the bundle in `dist/bundle/`): built by `buildCli` into bench/data. */
export const BUILD = join(DATA, "build");
export const BIN = join(BUILD, "bundle", "berth.js");
export const SCRATCH = join(DATA, "scratch");

const exec = promisify(execFile);

export interface Sample {
  seconds: number;
  peakKiB: number;
}

export interface Tool {
  /** Name shown in the table ("berth", "skopeo copy", "tar | pigz -p 2"). */
  name: string;
  /** The command line; `run` gets the iteration number so outputs can differ per run. */
  command: (run: number) => string[];
  /** Untimed work before each run (remove the previous output, start a fresh registry, …). */
  before?: (run: number) => Promise<void>;
  env?: Record<string, string>;
  /** The tool the ratio is computed against (by name); the first peer when omitted. */
  peer?: boolean;
}

export interface Row {
  tool: string;
  median: number;
  min: number;
  peakMiB: number;
  /** Median of this tool over the median of the peer (below 1: faster than the peer). */
  ratio: number | undefined;
  peer: boolean;
}

export interface BenchResult {
  title: string;
  note: string;
  rows: Row[];
}

/** Run one command under /usr/bin/time; fails with the tail of stderr when the command fails. */
export async function timed(argv: string[], env: Record<string, string> = {}): Promise<Sample> {
  await mkdir(SCRATCH, { recursive: true });
  const out = join(SCRATCH, `time-${process.pid}.txt`);
  await rm(out, { force: true });
  const start = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done, fail) => {
    const child = spawn("/usr/bin/time", ["-f", "%M", "-o", out, ...argv], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...env },
    });
    const err: Buffer[] = [];
    child.stderr.on("data", (c: Buffer) => {
      err.push(c);
      if (err.length > 64) err.shift();
    });
    child.on("error", fail);
    child.on("close", (c) => done({ code: c, stderr: Buffer.concat(err).toString("utf8") }));
  });
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0) {
    throw new Error(`${argv.join(" ")} exited with ${code}:\n${stderr.slice(-2000)}`);
  }
  const text = await readFile(out, "utf8");
  const peakKiB = Number(text.trim().split("\n").pop());
  return { seconds, peakKiB };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface CompareOptions {
  runs: number;
  log?: (line: string) => void;
}

/**
 * Time every tool `runs` times, interleaved (the order alternates each round so neither side always runs on a
 * warmer machine), with `sync` before each run so one tool's dirty pages are not written back on another's time.
 */
export async function compare(tools: Tool[], options: CompareOptions): Promise<Row[]> {
  const samples = new Map<string, Sample[]>(tools.map((t) => [t.name, []]));
  for (let run = 0; run < options.runs; run++) {
    const order = run % 2 === 0 ? tools : [...tools].reverse();
    for (const tool of order) {
      await tool.before?.(run);
      await exec("sync");
      const s = await timed(tool.command(run), tool.env);
      samples.get(tool.name)!.push(s);
      options.log?.(
        `    ${tool.name} #${run + 1}: ${s.seconds.toFixed(2)} s, ${(s.peakKiB / 1024).toFixed(0)} MiB`,
      );
    }
  }
  const peerTool = tools.find((t) => t.peer) ?? tools[1];
  const peerMedian = peerTool ? median(samples.get(peerTool.name)!.map((s) => s.seconds)) : undefined;
  return tools.map((t) => {
    const xs = samples.get(t.name)!;
    const med = median(xs.map((s) => s.seconds));
    return {
      tool: t.name,
      median: med,
      min: Math.min(...xs.map((s) => s.seconds)),
      peakMiB: Math.max(...xs.map((s) => s.peakKiB)) / 1024,
      ratio: peerMedian === undefined ? undefined : med / peerMedian,
      peer: t === peerTool,
    };
  });
}

/**
 * Build the CLI as `npm run build` does (scripts/build.ts: tsc, then the esbuild bundle), but into
 * bench/data/build, so the bench times the CLI users run without touching anyone's dist/.
 */
export async function buildCli(): Promise<void> {
  await exec(process.execPath, [join(ROOT, "scripts", "build.ts"), "--out", BUILD]);
}

/** The compiled berth CLI, on this Node, with its own BERTH_HOME. */
export function berthArgs(...args: string[]): string[] {
  return [process.execPath, BIN, ...args];
}

export function berthEnv(home: string): Record<string, string> {
  return { BERTH_HOME: home, SOURCE_DATE_EPOCH: "0" };
}

export async function fresh(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export async function version(argv: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await exec(argv[0]!, argv.slice(1));
    return `${stdout}${stderr}`.trim().split("\n")[0]!;
  } catch {
    return "not installed";
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/**
 * A runner of the real CLI (`src/cli/bin.ts`, on this Node) with BERTH_HOME=home: resolves with the wall-clock
 * seconds and the output, rejects with the tail of stderr when berth exits non-zero.
 */
export function berthCli(
  home: string,
): (args: string[]) => Promise<{ seconds: number; out: string; err: string }> {
  const bin = join(ROOT, "src/cli/bin.ts");
  return (args) => {
    const start = performance.now();
    return new Promise((res, rej) => {
      const child = spawn(process.execPath, [bin, ...args], {
        env: { ...process.env, BERTH_HOME: home },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c;
      });
      child.stderr.on("data", (c: Buffer) => {
        err += c;
      });
      child.on("error", rej);
      child.on("close", (code) => {
        if (code !== 0) rej(new Error(`berth ${args.join(" ")} failed:\n${err.slice(-3000)}`));
        else res({ seconds: (performance.now() - start) / 1000, out, err });
      });
    });
  };
}

/**
 * `berth builder create BUILDER --config CONFIG --no-lifecycle` with BERTH_HOME=home: the benches time berth's
 * own engine (and bench/reference.ts mounts the reference lifecycle itself), so the builder carries none.
 */
export function createBuilder(home: string, builder: string, config: string): void {
  execFileSync(
    process.execPath,
    [join(ROOT, "src/cli/bin.ts"), "builder", "create", builder, "--config", config, "--no-lifecycle"],
    { env: { ...process.env, BERTH_HOME: home }, stdio: ["ignore", "ignore", "inherit"] },
  );
}

/**
 * Summed RSS (KiB) of the processes whose pids are in `roots`, those whose command line contains `marker` (a
 * daemon's private folder: the containerd shims a dockerd starts are reparented away from it, but name its
 * socket), and all their descendants.
 */
export async function treeRssKiB(roots: number[], marker?: string): Promise<number> {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  const allRoots = new Set(roots);
  for (const name of await readdir("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      parent.set(pid, Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      rss.set(pid, Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      if (marker && (await readFile(`/proc/${pid}/cmdline`, "utf8")).includes(marker)) allRoots.add(pid);
    } catch {
      // gone
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++)
      if (allRoots.has(p)) return true;
    return false;
  };
  let total = 0;
  for (const [pid, kib] of rss) if (inTree(pid)) total += kib;
  return total;
}

/**
 * Run argv, sampling the summed RSS of its process tree every 50 ms, with `also` (a daemon's pid) and the
 * processes naming `marker` (see treeRssKiB) and theirs: for a client of a daemon, the daemon's memory counts.
 */
export function measure(
  argv: string[],
  env: NodeJS.ProcessEnv,
  also: number[],
  marker?: string,
): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], env });
    const err: Buffer[] = [];
    child.stderr.on("data", (c: Buffer) => {
      err.push(c);
      if (err.length > 64) err.shift();
    });
    let peak = 0;
    let sampling = Promise.resolve();
    const timer = setInterval(() => {
      sampling = sampling.then(async () => {
        peak = Math.max(peak, await treeRssKiB([child.pid!, ...also], marker));
      });
    }, 50);
    child.on("error", reject);
    child.on("close", async (code) => {
      clearInterval(timer);
      await sampling;
      const seconds = (performance.now() - start) / 1000;
      if (code !== 0)
        reject(
          new Error(`${argv.join(" ")} exited with ${code}:\n${Buffer.concat(err).toString().slice(-3000)}`),
        );
      else resolve({ seconds, peakKiB: peak });
    });
  });
}

/**
 * The benches' "package registry": a tree (node_modules) as one tar served over HTTP on 127.0.0.1, which the
 * benches' install buildpack fetches. Returns the tar's URL and how to stop the server.
 */
export async function serveTreeTar(
  dir: string,
  tree: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const tar = join(dir, `${basename(tree)}.tar`);
  execFileSync("tar", ["-cf", tar, "-C", dirname(tree), basename(tree)]);
  const server = createServer((_q, s) => {
    s.writeHead(200, { "content-type": "application/x-tar" });
    createReadStream(tar).pipe(s);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/${basename(tar)}`,
    stop: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
