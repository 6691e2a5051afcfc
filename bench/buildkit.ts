/**
 * berth against BuildKit (issue 20): one small multi-stage project (deps, build, test and final stages; 60 source
 * files and 200 static files) built by the compiled berth CLI (`berth build --dockerfile`, into its local store)
 * and by Debian's docker.io engine (`docker build`, BuildKit built in, Dockerfile 1.2 frontend, into the engine's
 * image store), FROM the same busybox base image (an OCI layout for berth, `docker load`ed for the engine).
 * Both run RUN steps without a network (`--network none`, `--network=none`).
 * Cold: an empty BERTH_HOME / the engine's build cache pruned; cached: the same build again; one file changed:
 * one source file rewritten before each run; fresh machine: an empty BERTH_HOME / a pruned engine without the
 * image, given the cache one earlier build pushed to a local docker-registry (berth: `--cache-to
 * type=registry,mode=max`, and the image's inline cache; BuildKit: its inline cache, BUILDKIT_INLINE_CACHE=1, as
 * docker 20.10 without buildx cannot export a registry cache) with `--cache-from`. Memory is the peak of the summed RSS of the process tree, sampled
 * every 50 ms: for berth the CLI and what it starts (runc), for BuildKit the docker client plus the whole
 * engine (dockerd, its containerd and shims), which a daemon keeps resident between builds.
 *
 * Run: node bench/buildkit.ts [--runs N] [--prebuilt]. Writes bench/results/buildkit.md.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { startEngine } from "../test/dockerfile/buildkit/helpers/oracle.ts";
import { startRegistry } from "../test/registry/helpers/registry.ts";
import { BIN, buildCli, DATA, fresh, measure, median, ROOT, type Sample, version } from "./lib.ts";
import { projectDockerfile, writeProject } from "./project.ts";

const { values } = parseArgs({
  options: { runs: { type: "string" }, prebuilt: { type: "boolean", default: false } },
});
const runs = Math.max(3, values.runs ? Number(values.runs) : 5);
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Side {
  name: string;
  run: () => Promise<Sample>;
  cold: () => Promise<void>;
}

async function phase(title: string, sides: Side[], before?: (run: number, side: Side) => Promise<void>) {
  log(title);
  const samples = new Map(sides.map((s) => [s.name, [] as Sample[]]));
  for (let i = 0; i < runs; i++) {
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      await before?.(i, side);
      const s = await side.run();
      samples.get(side.name)!.push(s);
      log(`    ${side.name} #${i + 1}: ${s.seconds.toFixed(2)} s, ${(s.peakKiB / 1024).toFixed(0)} MiB`);
    }
  }
  const med = (name: string) => median(samples.get(name)!.map((s) => s.seconds));
  const peer = med(sides[1]!.name);
  return sides.map((s, i) => {
    const xs = samples.get(s.name)!;
    return `| ${title} | ${s.name} | ${med(s.name).toFixed(2)} | ${Math.min(...xs.map((x) => x.seconds)).toFixed(2)} | ${(Math.max(...xs.map((x) => x.peakKiB)) / 1024).toFixed(0)} | ${i === 1 ? "(peer)" : (med(s.name) / peer).toFixed(2)} |`;
  });
}

const dir = join(DATA, "buildkit");
await fresh(dir);
await mkdir(dir, { recursive: true });
if (!values.prebuilt) {
  log("building the CLI (scripts/build.ts: tsc + bundle) into bench/data/build");
  await buildCli();
}
const { engine, base, buildkitBase } = await startEngine(join(dir, "engine"), { frontend: false });
const registry = await startRegistry();
try {
  const dockerdPid = Number(
    (await readFile(join(dirname(engine.host.slice("unix://".length)), "dockerd.pid"), "utf8")).trim(),
  );
  const ctx = join(dir, "ctx");
  await writeProject(ctx);
  await writeFile(join(dir, "berth.Dockerfile"), projectDockerfile(base));
  await writeFile(join(dir, "buildkit.Dockerfile"), projectDockerfile(buildkitBase));
  const berthHome = join(dir, "berth-home");
  const berthEnv = { ...process.env, BERTH_HOME: berthHome, SOURCE_DATE_EPOCH: "0" };
  const sides: Side[] = [
    {
      name: "berth build --dockerfile",
      run: () =>
        measure(
          [
            process.execPath,
            BIN,
            "build",
            ctx,
            "--dockerfile",
            join(dir, "berth.Dockerfile"),
            "-t",
            "bench-app:latest",
            // as the engine's side: RUN steps without a network (no netns and slirp4netns to set up)
            "--network",
            "none",
          ],
          berthEnv,
          [],
        ),
      cold: () => fresh(berthHome),
    },
    {
      name: "docker build (BuildKit)",
      run: () =>
        measure(
          [
            "/usr/bin/docker",
            "build",
            "-q",
            "--network=none",
            "-f",
            join(dir, "buildkit.Dockerfile"),
            "-t",
            "bench-app:latest",
            ctx,
          ],
          engine.env,
          [dockerdPid],
        ),
      cold: async () => {
        await engine.docker(["image", "rm", "-f", "bench-app:latest"]).catch(() => "");
        await engine.docker(["builder", "prune", "-af"]);
      },
    },
  ];
  const rows = [
    ...(await phase("cold", sides, (_, side) => side.cold())),
    ...(await phase("cached (no change)", sides)),
    ...(await phase("one source file changed", sides, async (i, side) => {
      await writeFile(join(ctx, "src", "main.c"), `int main(void) { return ${i}; } /* ${side.name} */\n`);
    })),
  ];
  // A fresh machine with the registry cache: each side's cache is written once by a build of the current
  // context, then every run starts without a local cache and imports it.
  const cacheRef = `${registry.host}/bench/cache:max`;
  const berthImage = `${registry.host}/bench/berth-app:inline`;
  const bkImage = `${registry.host}/bench/buildkit-app:inline`;
  const berthArgs = (...extra: string[]) => [
    process.execPath,
    BIN,
    "build",
    ctx,
    "--dockerfile",
    join(dir, "berth.Dockerfile"),
    ...extra,
  ];
  log("writing the caches: berth (registry, mode=max; inline) and BuildKit (inline)");
  await fresh(berthHome);
  await measure(
    berthArgs(
      "-t",
      berthImage,
      "--publish",
      "--cache-to",
      `type=registry,ref=${cacheRef},mode=max`,
      "--cache-to",
      "type=inline",
    ),
    berthEnv,
    [],
  );
  await engine.docker(["builder", "prune", "-af"]);
  await engine.docker([
    "build",
    "-q",
    "--network=none",
    "--build-arg",
    "BUILDKIT_INLINE_CACHE=1",
    "-f",
    join(dir, "buildkit.Dockerfile"),
    "-t",
    bkImage,
    ctx,
  ]);
  await engine.docker(["push", bkImage]);
  const buildkitFresh: Side = {
    name: "docker build --cache-from (BuildKit, inline)",
    run: () =>
      measure(
        [
          "/usr/bin/docker",
          "build",
          "-q",
          "--network=none",
          "--cache-from",
          bkImage,
          "-f",
          join(dir, "buildkit.Dockerfile"),
          "-t",
          "bench-app:latest",
          ctx,
        ],
        engine.env,
        [dockerdPid],
      ),
    cold: async () => {
      await engine.docker(["image", "rm", "-f", "bench-app:latest", bkImage]).catch(() => "");
      await engine.docker(["builder", "prune", "-af"]);
    },
  };
  const berthFresh = (name: string, from: string): Side => ({
    name,
    run: () => measure(berthArgs("-t", "bench-app:latest", "--cache-from", from), berthEnv, []),
    cold: () => fresh(berthHome),
  });
  rows.push(
    ...(await phase(
      "fresh machine, registry cache",
      [berthFresh("berth --cache-from (registry, mode=max)", `type=registry,ref=${cacheRef}`), buildkitFresh],
      (_, side) => side.cold(),
    )),
    ...(await phase(
      "fresh machine, inline cache",
      [berthFresh("berth --cache-from (inline)", berthImage), buildkitFresh],
      (_, side) => side.cold(),
    )),
  );
  const loadavg = await readFile("/proc/loadavg", "utf8");
  const md = [
    "# Dockerfile builds: berth against BuildKit",
    "",
    "One multi-stage project (bench/buildkit.ts: deps, build, test and final stages, `COPY --from`, RUN steps " +
      "with busybox; 8 × 64 KiB deps, 61 source files, 200 static files) FROM the same busybox base image: " +
      "the compiled berth CLI (`berth build CTX --dockerfile … -t bench-app:latest --network none`, into its local " +
      "store) and " +
      `Debian's docker.io engine (${await version(["/usr/sbin/dockerd", "--version"])}, BuildKit built in, ` +
      "its own Dockerfile frontend; `docker build --network=none`, into the engine's image store). Cold: an " +
      "empty `BERTH_HOME` / the engine's build cache pruned and the image removed (the base stays loaded); " +
      "cached: the same build again; one source file changed: `src/main.c` rewritten before each run; " +
      "fresh machine: an empty `BERTH_HOME` / the engine pruned and without the image, importing the cache one " +
      "earlier build pushed to a local docker-registry with `--cache-from` (berth: its registry cache written " +
      "with `--cache-to type=registry,mode=max`, or the image's inline cache; BuildKit: its inline cache, " +
      "`BUILDKIT_INLINE_CACHE=1`, pulled from the pushed image: docker 20.10 without buildx cannot export a " +
      "registry cache, and inline is BuildKit's mode=min, the final stage only). " +
      `${runs} runs of each, interleaved; seconds of the whole command. Peak MiB: the largest summed RSS of ` +
      "the process tree sampled every 50 ms (berth and the runc it starts; for BuildKit the client plus the " +
      "whole engine, dockerd and its containerd, resident between builds). Ratio: berth's median over " +
      "BuildKit's (below 1.00 berth is faster).",
    "",
    `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, Node ${process.version}. The machine was ` +
      `shared with other jobs while this ran (load average at the end: ${loadavg.split(" ").slice(0, 3).join(" ")} ` +
      "on 2 cores), so absolute times are inflated and noisy; the ratios are the point.",
    "",
    "| build | tool | median s | min s | peak MiB | ratio vs BuildKit |",
    "|---|---|---:|---:|---:|---:|",
    ...rows,
    "",
  ].join("\n");
  await mkdir(join(ROOT, "bench", "results"), { recursive: true });
  await writeFile(join(ROOT, "bench", "results", "buildkit.md"), md);
  process.stdout.write(md);
} finally {
  await registry.stop();
  await engine.stop();
  await fresh(dir);
}
