/**
 * Dockerfile builds (issue 9): the corpus of test/dockerfile (8 Dockerfiles FROM a busybox base image in a
 * local docker-registry) built cold and then cached (nothing changed), by the compiled berth CLI
 * (`berth build --dockerfile`) and by `buildah bud --layers` (vfs storage, chroot isolation). One run of a tool is
 * the whole corpus, the 8 builds one after the other in one shell script. Cold: an empty BERTH_HOME / buildah
 * root (the base is pulled from the registry); cached: the same home again, right after a cold build.
 *
 * Run: node bench/dockerfile.ts [--quick] [--runs N] [--prebuilt]. Writes bench/results/dockerfile.md.
 */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { pushBase } from "../test/dockerfile/helpers/base.ts";
import { CORPUS, writeCase } from "../test/dockerfile/helpers/corpus.ts";
import { startRegistry } from "../test/registry/helpers/registry.ts";
import { BIN, buildCli, compare, DATA, fresh, ROOT, type Row, type Tool, version } from "./lib.ts";

const exec = promisify(execFile);
const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    prebuilt: { type: "boolean", default: false },
  },
});
const runs = Math.max(3, values.runs ? Number(values.runs) : values.quick ? 3 : 5);
const log = (s: string) => process.stderr.write(`${s}\n`);

const dir = join(DATA, "dockerfile");
await fresh(dir);
await mkdir(dir, { recursive: true });
if (!values.prebuilt) {
  log("building the CLI (scripts/build.ts: tsc + bundle) into bench/data/build");
  await buildCli();
}

const registry = await startRegistry();
try {
  const base = await pushBase(join(dir, "base-home"), join(dir, "base-rootfs"), registry.host);
  const contexts: { ctx: string; args: string[] }[] = [];
  for (const [i, c] of CORPUS.entries()) {
    const ctx = join(dir, "corpus", String(i));
    await writeCase(ctx, c, base);
    contexts.push({ ctx, args: (c.buildArgs ?? []).flatMap((a) => ["--build-arg", a]) });
  }
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const script = async (name: string, line: (ctx: string, args: string[], i: number) => string[]) => {
    const path = join(dir, `${name}.sh`);
    const body = contexts.map(({ ctx, args }, i) => line(ctx, args, i).map(q).join(" "));
    await writeFile(path, `set -e\n${body.join("\n")}\n`);
    return ["sh", path];
  };

  const berthHome = join(dir, "berth-home");
  const berthEnv = { BERTH_HOME: berthHome, BERTH_INSECURE_REGISTRIES: "127.0.0.1", SOURCE_DATE_EPOCH: "0" };
  const berth = await script("berth", (ctx, args, i) => [
    process.execPath,
    BIN,
    "build",
    ctx,
    "--dockerfile",
    join(ctx, "Dockerfile"),
    "-t",
    `corpus-${i}:latest`,
    ...args,
  ]);
  const bhRoot = join(dir, "buildah-root");
  const bhRunroot = join(dir, "buildah-runroot");
  const buildah = await script("buildah", (ctx, args, i) => [
    "buildah",
    "--storage-driver",
    "vfs",
    "--root",
    bhRoot,
    "--runroot",
    bhRunroot,
    "bud",
    "--layers",
    "--isolation",
    "chroot",
    "--tls-verify=false",
    "--format",
    "oci",
    "-f",
    join(ctx, "Dockerfile"),
    ...args,
    "-t",
    `localhost/corpus-${i}:latest`,
    ctx,
  ]);
  const bhEnv = { BUILDAH_ISOLATION: "chroot" };

  log(`cold: the corpus (${CORPUS.length} Dockerfiles), empty home each run, ${runs} runs`);
  const cold = await compare(
    [
      {
        name: "berth build --dockerfile",
        command: () => berth,
        env: berthEnv,
        before: () => fresh(berthHome),
      },
      {
        name: "buildah bud --layers",
        command: () => buildah,
        env: bhEnv,
        before: async () => {
          await fresh(bhRoot);
          await fresh(bhRunroot);
        },
      },
    ] satisfies Tool[],
    { runs, log },
  );
  log(`cached: the same corpus again, nothing changed, ${runs} runs`);
  const cached = await compare(
    [
      { name: "berth build --dockerfile", command: () => berth, env: berthEnv },
      { name: "buildah bud --layers", command: () => buildah, env: bhEnv },
    ] satisfies Tool[],
    { runs, log },
  );

  const { stdout: runcVersion } = await exec("runc", ["--version"]).catch(() => ({ stdout: "runc ?" }));
  const fmt = (n: number, d = 2) => n.toFixed(d);
  const rows = (phase: string, rs: Row[]) =>
    rs.map(
      (r) =>
        `| ${phase} | ${r.tool} | ${fmt(r.median)} | ${fmt(r.min)} | ${fmt(r.peakMiB, 0)} | ${r.peer ? "(peer)" : r.ratio === undefined ? "" : fmt(r.ratio)} |`,
    );
  const md = [
    "# Dockerfile builds: the corpus, cold and cached",
    "",
    `The ${CORPUS.length} Dockerfiles of test/dockerfile/helpers/corpus.ts (single stage, multi-stage with \`COPY --from\`, ` +
      "ARG/ENV substitution, USER and WORKDIR, `.dockerignore`, whiteouts, ADD of a tar, `COPY --chown`), FROM a " +
      "busybox base image in a local docker-registry on 127.0.0.1, built one after the other by one shell script " +
      "per tool: the compiled berth CLI (`berth build CTX --dockerfile … -t corpus-N:latest`, into the local " +
      "store) and `buildah bud --layers` (vfs storage, chroot isolation, `--format oci`). Cold: an empty " +
      "`BERTH_HOME` / buildah root each run, the base pulled from the registry; cached: the same corpus again " +
      `with nothing changed. ${runs} runs of each, interleaved; times are seconds for the whole corpus, peak ` +
      "memory the largest maximum RSS of any process in the script. Ratio: berth's median over buildah's.",
    "",
    `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${await version(["buildah", "--version"])}, ` +
      `${runcVersion.split("\n")[0]}.`,
    "",
    "| build | tool | median s | min s | peak MiB | ratio vs buildah |",
    "|---|---|---:|---:|---:|---:|",
    ...rows("cold", cold),
    ...rows("cached (no change)", cached),
    "",
  ].join("\n");
  await mkdir(join(ROOT, "bench", "results"), { recursive: true });
  await writeFile(join(ROOT, "bench", "results", "dockerfile.md"), md);
  process.stdout.write(md);
} finally {
  await registry.stop();
  await fresh(dir);
}
