import { readFile } from "node:fs/promises";
import { join, posix, relative, resolve } from "node:path";
import { type Command, Option } from "commander";
import {
  type BuildChoice,
  type BuildResult,
  build,
  buildDockerfile,
  callDockerfileBuild,
  checkDockerfileBuild,
  chooseBuild,
  parseBuildArgs,
} from "../../api/build.ts";
import {
  builtinArgs,
  checkJson,
  checkReport,
  type LintWarning,
  parseAnnotationFlag,
  parseAttestations,
  parseBuildContext,
  parseCacheFrom,
  parseCacheTo,
  parseOutput,
  type StepEvent,
  shortWarning,
} from "../../dockerfile/index.ts";
import { BerthError, isBerthError } from "../../errors.ts";
import { parseShmSize, parseUlimits } from "../../runtime/limits.ts";
import { parseAddHost } from "../../runtime/network.ts";
import { writeFileAtomic } from "../../util/fs.ts";
import { contextInput, type PreparedContext, prepareContext } from "../build-input.ts";
import { applyProgress, progressMode, progressSource, pushLoad } from "../buildx-flags.ts";
import { type Cli, hostOptions } from "../env.ts";
import { collect, jsonOption } from "../flags.ts";
import { info, printJson } from "../output.ts";
import { BuildHeartbeat } from "../progress.ts";
import { SolveStatusWriter } from "../rawjson.ts";

export { type BuildChoice, chooseBuild } from "../../api/build.ts";
/** `berth build --json`'s document: the library's build result. */
export type BuildJson = BuildResult;

/** The flags that apply to one way of building only (commander's option keys → the flag as typed). */
const DOCKERFILE_ONLY: Record<string, string> = {
  buildArg: "--build-arg",
  target: "--target",
  check: "--check",
  call: "--call",
  cache: "--no-cache",
  secret: "--secret",
  ssh: "--ssh",
  allow: "--allow",
  stageJobs: "--stage-jobs",
  cacheTo: "--cache-to",
  cacheFrom: "--cache-from",
  buildContext: "--build-context",
  addHost: "--add-host",
  shmSize: "--shm-size",
  ulimit: "--ulimit",
  cgroupParent: "--cgroup-parent",
  annotation: "--annotation",
  pull: "--pull",
  noCacheFilter: "--no-cache-filter",
  output: "-o/--output",
  label: "--label",
  iidfile: "--iidfile",
  metadataFile: "--metadata-file",
  push: "--push",
  load: "--load",
  provenance: "--provenance",
  attest: "--attest",
  sbom: "--sbom",
};
const LIMIT_NOTE = "ignored, as by docker buildx: RUN steps get no per-build memory or CPU limit";
/**
 * The legacy builder's flags docker buildx keeps, hidden, and ignores (commands/build.go), so that `docker build`
 * lines written for it run: commander's key → the flag and what berth says of it once on stderr (buildx's own
 * sentence where it warns). Dockerfile builds only.
 */
const LEGACY: Record<string, { flag: string; value?: string; short?: string; note: string }> = {
  rm: { flag: "--rm", note: "ignored, as by docker buildx: a build leaves no intermediate containers" },
  forceRm: {
    flag: "--force-rm",
    note: "ignored, as by docker buildx: a build leaves no intermediate containers",
  },
  compress: { flag: "--compress", note: "ignored, as by docker buildx: the context is read in place" },
  squash: {
    flag: "--squash",
    note: "experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.",
  },
  securityOpt: {
    flag: "--security-opt",
    value: "<option>",
    note: 'security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.',
  },
  memory: { flag: "--memory", short: "-m", value: "<bytes>", note: LIMIT_NOTE },
  memorySwap: { flag: "--memory-swap", value: "<bytes>", note: LIMIT_NOTE },
  cpuShares: { flag: "--cpu-shares", short: "-c", value: "<shares>", note: LIMIT_NOTE },
  cpuPeriod: { flag: "--cpu-period", value: "<us>", note: LIMIT_NOTE },
  cpuQuota: { flag: "--cpu-quota", value: "<us>", note: LIMIT_NOTE },
  cpusetCpus: { flag: "--cpuset-cpus", value: "<cpus>", note: LIMIT_NOTE },
  cpusetMems: { flag: "--cpuset-mems", value: "<mems>", note: LIMIT_NOTE },
};
for (const [key, l] of Object.entries(LEGACY)) DOCKERFILE_ONLY[key] = l.flag;

const BUILDPACKS_ONLY: Record<string, string> = {
  builder: "-B/--builder",
  runImage: "--run-image",
  env: "-e/--env",
  envFile: "--env-file",
  buildpack: "-b/--buildpack",
  disableSystemBuildpacks: "--disable-system-buildpacks",
  cacheDir: "--cache-dir",
  cacheImage: "--cache-image",
  clearCache: "--clear-cache",
  previousImage: "--previous-image",
  creationTime: "--creation-time",
  defaultProcess: "--default-process",
  sbomOutputDir: "--sbom-output-dir",
  reportOutputDir: "--report-output-dir",
  pullPolicy: "--pull-policy",
  lifecycle: "--lifecycle",
  trustBuilder: "--trust-builder",
  isolation: "--isolation",
  verbose: "-v/--verbose",
};

/**
 * The lifecycle's `CNB_*` environment twins of the flags (Platform API: the creator's inputs), read with
 * `--isolation host` (berth as the creator inside a build step); a flag given wins over its variable.
 */
export function cnbEnvOptions(
  opts: Record<string, unknown>,
  env: Record<string, string | undefined>,
): Record<string, unknown> {
  const o = { ...opts };
  const twin = (key: string, name: string) => {
    const v = env[name];
    if (o[key] === undefined && v !== undefined && v !== "") o[key] = v;
  };
  twin("runImage", "CNB_RUN_IMAGE");
  twin("previousImage", "CNB_PREVIOUS_IMAGE");
  twin("cacheImage", "CNB_CACHE_IMAGE");
  twin("cacheDir", "CNB_CACHE_DIR");
  twin("defaultProcess", "CNB_PROCESS_TYPE");
  if (o.clearCache === undefined && /^(1|true)$/i.test(env.CNB_SKIP_RESTORE ?? "")) o.clearCache = true;
  if (o.quiet === undefined && /^(warn|error)$/i.test(env.CNB_LOG_LEVEL ?? "")) o.quiet = true;
  if (o.verbose === undefined && /^debug$/i.test(env.CNB_LOG_LEVEL ?? "")) o.verbose = true;
  return o;
}

/** The directories and user of a build step (`--isolation host`), as the lifecycle's creator reads them. */
export function stepOf(env: Record<string, string | undefined>) {
  const id = (v: string | undefined, name: string) => {
    if (!/^\d+$/.test(v ?? "")) throw new BerthError("USAGE", `${name} ${JSON.stringify(v)} is not a number`);
    return Number(v);
  };
  const user =
    env.CNB_USER_ID || env.CNB_GROUP_ID
      ? { uid: id(env.CNB_USER_ID, "CNB_USER_ID"), gid: id(env.CNB_GROUP_ID, "CNB_GROUP_ID") }
      : undefined;
  return {
    ...(env.CNB_APP_DIR ? { appDir: env.CNB_APP_DIR } : {}),
    ...(env.CNB_LAYERS_DIR ? { layersDir: env.CNB_LAYERS_DIR } : {}),
    ...(env.CNB_PLATFORM_DIR ? { platformDir: env.CNB_PLATFORM_DIR } : {}),
    user,
  };
}

/**
 * The sandbox needs an OCI runtime, user namespaces when not root and CAP_SYS_ADMIN when root: where one is
 * missing (a build step of Tekton, Shipwright, kpack or a CI runner), say which in one sentence and point at
 * --isolation host.
 */
async function checkSandbox(
  runtime: string | undefined,
  env: Record<string, string | undefined>,
  uid: number,
): Promise<void> {
  const hint =
    "inside a build step (no runc, no mounts, no root), run berth build --isolation host in the builder's image";
  try {
    const { assertUserNamespaces, findRuntime } = await import("../../runtime/index.ts");
    await findRuntime({ want: runtime || undefined, path: env.PATH || undefined });
    if (uid !== 0) await assertUserNamespaces();
    else if (!(await hasSysAdmin())) {
      throw new BerthError(
        "RUNTIME_FAILED",
        "berth runs as root without CAP_SYS_ADMIN, so it cannot mount the build image's layers",
      );
    }
  } catch (err) {
    if (!isBerthError(err, "RUNTIME_NOT_FOUND") && !isBerthError(err, "RUNTIME_FAILED")) throw err;
    throw new BerthError(err.code, `the build sandbox cannot run here: ${err.message}`, { cause: err, hint });
  }
}

/** Whether this process may mount (CAP_SYS_ADMIN, bit 21 of CapEff in /proc/self/status); true when unknown. */
async function hasSysAdmin(): Promise<boolean> {
  const status = await readFile("/proc/self/status", "utf8").catch(() => "");
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(status);
  if (!m) return true;
  return (BigInt(`0x${m[1]}`) & (1n << 21n)) !== 0n;
}

/** A flag given for the other way of building is an error, not silently ignored (issue 16). */
function refuseOtherWayFlags(command: Command, way: BuildChoice["way"], reason: string): void {
  const other = way === "buildpacks" ? DOCKERFILE_ONLY : BUILDPACKS_ONLY;
  const given = Object.keys(other).filter((k) => command.getOptionValueSource(k) === "cli");
  if (!given.length) return;
  const flags = given.map((k) => other[k]!).join(", ");
  throw new BerthError(
    "USAGE",
    `${flags} ${given.length > 1 ? "apply" : "applies"} only to ${way === "buildpacks" ? "Dockerfile" : "buildpacks"} builds; this is a ${way === "buildpacks" ? "buildpacks" : "Dockerfile"} build (${reason})`,
    {
      hint:
        way === "buildpacks"
          ? "add --dockerfile to build with the Dockerfile, or leave the flag out"
          : "leave out --dockerfile (and [io.berth] build in project.toml) to build with buildpacks, or leave the flag out",
    },
  );
}

/**
 * The folder to build and the image to write: `berth build [CONTEXT] -t IMAGE`, or pack's `berth build IMAGE
 * --path APP` (with `--path`, the argument is the image).
 */
export function buildTarget(
  arg: string | undefined,
  opts: { path?: string; tag?: string; output?: string[]; check?: boolean },
): { context: string; tag: string | undefined } {
  if (opts.path !== undefined) {
    if (arg !== undefined && opts.tag !== undefined) {
      throw new BerthError(
        "USAGE",
        `two images to write: ${JSON.stringify(arg)} (with --path, the argument is the image) and -t ${JSON.stringify(opts.tag)}`,
        { hint: "give the image once: berth build IMAGE --path APP, or berth build APP -t IMAGE" },
      );
    }
    const tag = opts.tag ?? arg;
    if (tag === undefined)
      throw new BerthError("USAGE", "no image to write", { hint: "berth build IMAGE --path APP" });
    return { context: opts.path, tag };
  }
  // -o alone writes what it says and no image, as BuildKit's exporters; --check writes nothing
  if (opts.tag === undefined && !opts.output?.length && !opts.check) {
    throw new BerthError("USAGE", "no image to write: give -t IMAGE", {
      hint: `berth build ${arg ?? "."} -t IMAGE (or, as pack: berth build IMAGE --path ${arg ?? "."})`,
    });
  }
  return { context: arg ?? ".", tag: opts.tag };
}

/**
 * The context as docker build takes it (`-`, a folder, a git repository or a URL; `-f -`), made a folder; a
 * remote or standard-input context, or `-f -`, means a Dockerfile build.
 */
async function buildInput(
  context: string,
  opts: Record<string, unknown>,
  c: Cli,
): Promise<{ prepared: PreparedContext; choice: BuildChoice | undefined }> {
  const dockerfileFlag = (opts.file ?? opts.dockerfile) as string | boolean | undefined;
  const prepared = await prepareContext(await contextInput(context, c.cwd), {
    stdin: c.stdin,
    stdinIsTerminal: () => c.terminal.stdin,
    env: c.env,
    dockerfile: dockerfileFlag,
    flag: opts.file !== undefined ? "-f" : "--dockerfile",
    tmp: join(c.ctx.home, "tmp"),
    // BUILDKIT_CONTEXT_KEEP_GIT_DIR: a git context keeps its .git
    keepGitDir: builtinArgs(parseBuildArgs((opts.buildArg as string[] | undefined) ?? [], c.env)).keepGitDir,
  });
  const { dockerfile, reason } = prepared;
  if (dockerfile === undefined || reason === undefined) return { prepared, choice: undefined };
  return {
    prepared,
    choice: { way: "dockerfile", dockerfile, reason, ...(prepared.inContext ? { fromProject: true } : {}) },
  };
}

/** What to build (`remote`: the context is berth's own folder, made from standard input, git or a URL). */
interface BuildPlan {
  tag: string | undefined;
  contextDir: string;
  choice: BuildChoice;
  remote: boolean;
  /** The Dockerfile's name in the first line, when the context's input gave it (`-f -`, a remote context). */
  shown: string | undefined;
}

/** What to build, how, and into which image; a flag of the other way of building is refused here. */
async function planBuild(
  arg: string | undefined,
  opts: Record<string, unknown>,
  command: Command,
  c: Cli,
): Promise<BuildPlan & { cleanup: () => Promise<void> }> {
  const { cwd } = c;
  const { context, tag } = buildTarget(arg, {
    ...(opts as { path?: string; tag?: string; output?: string[] }),
    check: callFunction(opts as BuildFlags) !== undefined,
  });
  const { prepared, choice: given } = await buildInput(context, opts, c);
  const { contextDir, cleanup } = prepared;
  try {
    const dockerfileFlag = (opts.file ?? opts.dockerfile) as string | boolean | undefined;
    const choice =
      given ??
      (await chooseBuild(
        contextDir,
        typeof dockerfileFlag === "string" ? resolve(cwd, dockerfileFlag) : dockerfileFlag,
        typeof opts.descriptor === "string" ? resolve(cwd, opts.descriptor) : undefined,
      ));
    checkPlan(opts, command, choice, cwd);
    return { tag, contextDir, choice, remote: prepared.remote, shown: prepared.shown, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The checks before anything runs: the other way's flags, and values that name their attribute when bad. */
function checkPlan(opts: Record<string, unknown>, command: Command, choice: BuildChoice, cwd: string): void {
  refuseOtherWayFlags(command, choice.way, choice.reason);
  // Checked before anything runs: a bad value names its attribute.
  for (const v of (opts.cacheTo as string[] | undefined) ?? []) parseCacheTo(v);
  for (const v of (opts.cacheFrom as string[] | undefined) ?? []) parseCacheFrom(v);
  for (const v of (opts.buildContext as string[] | undefined) ?? []) parseBuildContext(v, cwd);
  for (const v of (opts.addHost as string[] | undefined) ?? []) parseAddHost(v);
  if (typeof opts.shmSize === "string") parseShmSize(opts.shmSize);
  parseUlimits((opts.ulimit as string[] | undefined) ?? []);
  for (const v of (opts.annotation as string[] | undefined) ?? []) parseAnnotationFlag(v);
  if (choice.way === "dockerfile") parseAttestations(attestations(opts as BuildFlags));
}

/** `--provenance`, `--sbom` and `--attest` as buildx reads them (an empty value: none, as buildx's). */
function attestations(opts: BuildFlags): { provenance?: string; sbom?: string; attest: string[] } {
  const provenance = opts.provenance || undefined;
  const sbom = opts.sbom || undefined;
  return { ...(provenance ? { provenance } : {}), ...(sbom ? { sbom } : {}), attest: opts.attest ?? [] };
}

function parseStageJobs(v: string): number {
  if (!/^[1-9]\d*$/.test(v))
    throw new BerthError("USAGE", `--stage-jobs ${JSON.stringify(v)} must be a whole number of 1 or more`);
  return Number(v);
}

const BUILD_HELP = `
Which way: --dockerfile (or -f) builds with the Dockerfile; otherwise project.toml decides with
  [io.berth]
  build = "dockerfile"          # or "buildpacks" (the default)
  dockerfile = "docker/Dockerfile"   # optional, relative to the project
and without either, berth builds with Cloud Native Buildpacks. It always says which way it builds.

RUN steps and buildpacks run in a sandbox (runc or crun) with a private network that reaches the internet
but not the host's loopback services; --network host gives them the host's (for RUN --network=host in the
Dockerfile itself: --allow network.host, as BuildKit). Dockerfile builds keep each step's result under
$BERTH_HOME/cache/dockerfile, and are reproducible with SOURCE_DATE_EPOCH (file times and created dates).
Buildpacks builds take SOURCE_DATE_EPOCH as the image's created time, as the lifecycle does (--creation-time wins).

Examples:
  berth build . -t app:1                                   (buildpacks, berth's default builder)
  berth build ./api -t app:1 -B my-builder -e BP_NODE_VERSION=22 -b ./my-buildpack
  berth build . -t app:arm64 -B my-builder --platform linux/arm64   (the builder's arm64 image; qemu on amd64)
  berth build . -t 127.0.0.1:5000/team/app:1 --publish --cache-image 127.0.0.1:5000/team/app-cache
  berth build --isolation host -t registry.example.com/app:1 --publish   (inside a builder's image: a build step)
  berth build . --dockerfile -t app:1
  berth build ./svc -f ./svc/Dockerfile.prod -t oci:./out:svc --build-arg VERSION=1.2 --target runtime
  berth build . --dockerfile -t docker://127.0.0.1:5000/app:1 --publish
  berth build -f - . -t app:1 < Dockerfile                   (as docker build: the Dockerfile from stdin)
  berth build - -t app:1 < context.tar.gz                    (the context from stdin; a plain Dockerfile too)
  berth build https://example.com/app.git#v1:svc -t app:1 --progress plain
  berth build . --dockerfile -t app:1 --secret id=npmrc,src=$HOME/.npmrc
  berth build . --dockerfile --check                    (BuildKit's build checks only: buildx's report, exit 1 on warnings)
  berth build . --dockerfile --call outline --target app  (the build args, secrets and SSH ids the target uses)
  berth build . --dockerfile --call targets,format=json   (every stage: name, description, base, platform)
  berth build . --dockerfile --target artifacts -o type=local,dest=./dist   (the stage's files, no image)
  berth build . --dockerfile -o - > rootfs.tar                              (the filesystem as one tar)
  berth build . --dockerfile -t app:1 --label org.opencontainers.image.version=1.2 --iidfile id.txt
  berth build . --dockerfile -t reg/app:1 --publish --cache-from reg/app:cache --cache-to type=registry,ref=reg/app:cache,mode=max`;

export function registerBuild(program: Command, cli: () => Cli): void {
  const cmd = program
    .command("build")
    .description("build an image from a project: with buildpacks (default) or its Dockerfile")
    .argument("[context]", "the project / build context folder (default: .); with --path: the image to write")
    .option(
      "-t, --tag <image>",
      "the image to write: a local name (the store) or any transport (repeatable: every name gets the image, as docker build's; pack's additional --tag)",
      collect,
    )
    .option("-p, --path <dir>", "the app folder, as pack's --path (then the argument may name the image)")
    .option("--dockerfile [path]", "build with a Dockerfile (default CONTEXT/Dockerfile)")
    .option("-f, --file <path>", "same as --dockerfile PATH");
  dockerfileOptions(cmd);
  dockerfileInputOptions(cmd);
  outputOptions(cmd);
  for (const l of Object.values(LEGACY)) {
    const spelled = `${l.short ? `${l.short}, ` : ""}${l.flag}${l.value ? ` ${l.value}` : ""}`;
    cmd.addOption(new Option(spelled, l.note).hideHelp());
  }
  cmd
    .option("--publish", "write the image straight to its registry (-t names a registry reference)")
    .option("--push", "Dockerfile builds: same as --publish (buildx's)")
    .option(
      "--load",
      "Dockerfile builds: write -t's image to the store, as berth does anyway (buildx's; refused with --push or another transport)",
    )
    .option(
      "--progress <auto|plain|tty|quiet|rawjson>",
      "how to show progress (default $BUILDKIT_PROGRESS, else auto): plain: no redrawn lines; tty: redraw even off a terminal; quiet: as -q; rawjson: BuildKit's solve status, a JSON object a line (Dockerfile builds)",
    )
    .option("--runtime <name|path>", "OCI runtime for RUN steps (runc, crun)")
    .option("-q, --quiet", "print only the image digest")
    .addOption(jsonOption());
  buildpacksOptions(cmd);
  cmd
    .option("-d, --descriptor <file>", "project descriptor (default CONTEXT/project.toml)")
    .option(
      "--network <default|host|none>",
      "network of RUN steps and buildpacks (default: private, with outbound access; host: the host's)",
    )
    .option("--allow <entitlement>", "network.host: let RUN --network=host use the host's network", collect)
    .option(
      "--stage-jobs <n>",
      "Dockerfile stages built at once when they do not depend on each other (default: the CPUs, at least 2; 1: one after another)",
      parseStageJobs,
    )
    .addHelpText("after", BUILD_HELP)
    .action((arg: string | undefined, opts: BuildFlags, command: Command) =>
      runBuild(cli(), arg, opts, command),
    );
}

/** `berth build`'s flags as commander hands them over (repeatable ones are lists, switches booleans). */
interface BuildFlags {
  [flag: string]: unknown;
  runtime?: string;
  quiet?: boolean;
  json?: boolean;
  check?: boolean;
  call?: string;
  publish?: boolean;
  push?: boolean;
  load?: boolean;
  progress?: string;
  /** The first `-t` (commander's list, `tags`, is read into it and `moreTags` by `runBuild`). */
  tag?: string | undefined;
  /** The `-t`s after the first: more names of a Dockerfile build's image. */
  moreTags?: string[];
  verbose?: boolean;
  isolation?: string;
  network?: string;
  descriptor?: string;
  builder?: string;
  runImage?: string;
  pullPolicy?: string;
  env?: string[];
  envFile?: string;
  buildpack?: string[];
  disableSystemBuildpacks?: boolean;
  cacheDir?: string;
  cacheImage?: string;
  clearCache?: boolean;
  previousImage?: string;
  creationTime?: string;
  defaultProcess?: string;
  sbomOutputDir?: string;
  reportOutputDir?: string;
  lifecycle?: string;
  trustBuilder?: boolean;
  buildArg?: string[];
  target?: string;
  platform?: string;
  cache?: boolean;
  cacheTo?: string[];
  cacheFrom?: string[];
  secret?: string[];
  ssh?: string[];
  allow?: string[];
  stageJobs?: number;
  output?: string[];
  label?: string[];
  iidfile?: string;
  metadataFile?: string;
  provenance?: string;
  sbom?: string;
  attest?: string[];
}

/**
 * How a build reports: -q's quietness, the heartbeat, the line logger both ways of building use, the steps'
 * output, and with --progress rawjson the steps' solve status (and no lines).
 */
interface BuildOutput {
  quiet: boolean;
  heartbeat: BuildHeartbeat;
  log: (line: string) => void;
  output: (chunk: Buffer) => void;
  step?: ((event: StepEvent) => void) | undefined;
}

/** `berth build`'s action: plan (the context made a folder), build, then remove what the plan made. */
async function runBuild(c: Cli, arg: string | undefined, opts: BuildFlags, command: Command): Promise<void> {
  const { out } = c;
  // buildx's --progress (BUILDKIT_PROGRESS), --push and --load, checked before the context is read
  const progress = progressMode(opts.progress, c.env);
  if (progress === "quiet") opts.quiet = true;
  // -t is repeatable: the first names the image, as before; the others (docker build's) more names of it
  const tags = (opts.tag ?? []) as unknown as string[];
  [opts.tag, opts.moreTags] = [tags[0], tags.slice(1)];
  for (const t of tags.length ? tags : [undefined]) opts.publish = pushLoad(opts, t);
  const call = callFunction(opts);
  const { cleanup, ...plan } = await planBuild(arg, opts, command, c);
  try {
    applyProgress(out, progress);
    if (call?.name === "check") await runCheck(c, opts, plan, call, checkShown(arg, opts, plan, c.cwd));
    else if (call) await runSubrequest(c, opts, plan, call);
    else await buildWith(c, opts, plan, progress === "rawjson" ? progressSource(opts.progress) : undefined);
  } finally {
    await cleanup();
  }
}

/** What `--call` (or `--check`) asks, as buildx's ParseCallFunc reads it; undefined: build. */
interface CallFunction {
  name: "check" | "outline" | "targets";
  format: "text" | "json";
  /** `ignorestatus=true`: warnings do not make the exit code 1. */
  ignoreStatus: boolean;
}

export function callFunction(opts: {
  check?: boolean;
  call?: string;
  json?: boolean;
}): CallFunction | undefined {
  const text = opts.check ? "check" : (opts.call ?? "build");
  const usage = (why: string) =>
    new BerthError("USAGE", `--call ${JSON.stringify(text)}: ${why}`, {
      hint: "berth takes --call build (the default), check, outline or targets, each [,format=json][,ignorestatus=true]",
    });
  let name = "";
  const call: CallFunction = { name: "check", format: opts.json ? "json" : "text", ignoreStatus: false };
  for (const field of text.split(",")) {
    const eq = field.indexOf("=");
    if (eq < 0) {
      if (name !== "") throw usage(`invalid print value: ${text}`);
      name = field;
    } else if (field.slice(0, eq) === "format") {
      const f = field.slice(eq + 1);
      if (f !== "json" && f !== "text") throw usage(`format ${JSON.stringify(f)} is neither json nor text`);
      call.format = f;
    } else if (field.slice(0, eq) === "ignorestatus") {
      call.ignoreStatus = /^(1|t|true)$/i.test(field.slice(eq + 1));
    } else throw usage(`invalid print field: ${field}`);
  }
  if (name === "build") return undefined;
  if (name === "outline" || name === "targets") return { ...call, name };
  if (name !== "check" && name !== "lint") throw usage(`berth does not evaluate ${JSON.stringify(name)}`);
  return call;
}

/**
 * `--check`: BuildKit's build checks only, buildx's report on stdout (its text, or BuildKit's lint result JSON)
 * and its exit code: 1 when there are warnings (unless ignorestatus=true), an error when `error=true` stops it.
 */
async function runCheck(
  c: Cli,
  opts: BuildFlags,
  plan: BuildPlan,
  call: CallFunction,
  shown: string,
): Promise<void> {
  const { out } = c;
  const r = await checkDockerfileBuild(callOptions(c, opts, plan));
  out.stdout.write(call.format === "json" ? `${checkJson(r)}\n` : checkReport(r, shown));
  if (r.error !== undefined) {
    throw new BerthError("DOCKERFILE_CHECK", `${r.name}: ${r.error}`, {
      hint: "the warnings above say what to fix; # check=error=true asks for this",
    });
  }
  if (r.warnings.length > 0 && !call.ignoreStatus) c.setExitCode(1);
}

/** The Dockerfile options the checks and the subrequests read: its context and file, args, target, platform. */
function callOptions(c: Cli, opts: BuildFlags, plan: BuildPlan) {
  const { contextDir, choice } = plan;
  return {
    ...hostOptions(c, { runtime: opts.runtime }),
    context: contextDir,
    file: choice.dockerfile!,
    ...(choice.fromProject ? { fileInContext: true } : {}),
    ...(plan.remote ? { noIgnoreFile: true } : {}),
    buildArgs: opts.buildArg ?? [],
    target: opts.target,
    platform: opts.platform,
    pull: Boolean(opts.pull),
    buildContexts: (opts.buildContext as string[] | undefined) ?? [],
  };
}

/**
 * `--call outline` / `--call targets`: buildx's text of BuildKit's answer (or its JSON with format=json) on
 * stdout, exit code 0, nothing built.
 */
async function runSubrequest(c: Cli, opts: BuildFlags, plan: BuildPlan, call: CallFunction): Promise<void> {
  const r = await callDockerfileBuild(
    call.name === "outline" ? "outline" : "targets",
    callOptions(c, opts, plan),
  );
  c.out.stdout.write(call.format === "json" ? `${r.json}\n` : r.text);
}

/**
 * A planned build, one way or the other; `rawjson` (where the mode came from, given): its progress as BuildKit's
 * solve status stream, no lines.
 */
async function buildWith(
  c: Cli,
  opts: BuildFlags,
  plan: BuildPlan,
  rawjson: string | undefined,
): Promise<void> {
  const { tag, contextDir, choice } = plan;
  const { out } = c;
  if (choice.way === "dockerfile") checkOutputs(opts, tag, c.terminal.stdout);
  else if (rawjson) {
    throw new BerthError(
      "USAGE",
      `${rawjson} rawjson writes BuildKit's solve status of a Dockerfile build; this is a buildpacks build (${choice.reason})`,
      { hint: "add --dockerfile to build with the Dockerfile, or give --progress plain" },
    );
  }
  const isolation = choice.way === "buildpacks" ? (opts.isolation ?? "sandbox") : "sandbox";
  if (isolation === "host") {
    // berth as the creator inside a build step: the CNB_* twins of the flags
    opts = cnbEnvOptions(opts, c.env) as BuildFlags;
  } else if (choice.way === "buildpacks" && isolation === "sandbox") {
    await checkSandbox(opts.runtime ?? c.env.BERTH_RUNTIME, c.env, c.uid);
  }
  const quiet = Boolean(opts.quiet);
  // -q: only the digest (the pulls and pushes of the build say nothing either); rawjson: only its stream
  if (quiet || rawjson !== undefined) out.quiet = true;
  const heartbeat = new BuildHeartbeat(out);
  const log = (line: string) => {
    heartbeat.note(line);
    if (!out.quiet) out.stderr.write(`${line}\n`);
  };
  const output = (chunk: Buffer) => {
    heartbeat.note(chunk);
    if (!out.quiet) out.stderr.write(chunk);
  };
  const step =
    rawjson !== undefined ? new SolveStatusWriter((line) => out.stderr.write(line)).onStep : undefined;
  const o: BuildOutput = { quiet, heartbeat, log, output, step };
  try {
    if (choice.way === "buildpacks")
      // -o is refused on buildpacks builds, so buildTarget gave a tag
      await buildpacksBuild(c, opts, { tag: tag!, contextDir, choice, isolation }, o);
    else await dockerfileBuild(c, opts, plan, o);
  } finally {
    heartbeat.stop();
  }
}

/** A buildpacks build, with the CNB engine imported here: a Dockerfile build does not load it. */
async function buildpacksBuild(
  c: Cli,
  opts: BuildFlags,
  plan: { tag: string; contextDir: string; choice: BuildChoice; isolation: string },
  { quiet, heartbeat, log }: BuildOutput,
): Promise<void> {
  const { out } = c;
  const { tag, contextDir, choice, isolation } = plan;
  const host = hostOptions(c, { runtime: opts.runtime, epoch: true });
  log(`Building ${tag} with Cloud Native Buildpacks (${choice.reason})`);
  // these import the CNB engine, which a Dockerfile build does not load
  const [{ cnbLogger }, { defaultBuilderToml }] = await Promise.all([
    import("./builder.ts"),
    import("./default-builder.ts"),
  ]);
  const r = await build({
    ...host,
    logger: cnbLogger(out, { quiet, verbose: Boolean(opts.verbose), heartbeat }),
    defaultBuilderToml: defaultBuilderToml(c.env),
    path: contextDir,
    image: tag,
    // pack's additional --tag: the -t after the first
    tags: opts.moreTags ?? [],
    publish: Boolean(opts.publish),
    builder: opts.builder,
    runImage: opts.runImage,
    platform: opts.platform,
    pullPolicy: opts.pullPolicy,
    env: opts.env ?? [],
    envFile: opts.envFile,
    buildpacks: opts.buildpack ?? [],
    disableSystemBuildpacks: Boolean(opts.disableSystemBuildpacks),
    cacheDir: opts.cacheDir,
    cacheImage: opts.cacheImage,
    clearCache: Boolean(opts.clearCache),
    previousImage: opts.previousImage,
    creationTime: opts.creationTime,
    defaultProcess: opts.defaultProcess,
    sbomOutputDir: opts.sbomOutputDir,
    reportOutputDir: opts.reportOutputDir,
    descriptor: opts.descriptor,
    network: opts.network,
    lifecycle: opts.lifecycle,
    trustBuilder: Boolean(opts.trustBuilder),
    verbose: Boolean(opts.verbose),
    ...(isolation === "host"
      ? {
          isolation,
          step: stepOf(c.env),
          reportPath: c.env.CNB_REPORT_PATH || undefined,
        }
      : isolation === "sandbox"
        ? {}
        : { isolation: isolation as "sandbox" | "host" }),
    now: () => new Date(),
  });
  if (opts.json) printJson(out, r);
  else if (quiet) out.stdout.write(`${r.digest}\n`);
}

/** A Dockerfile build: its steps' output streamed to stderr, a summary line after. */
async function dockerfileBuild(
  c: Cli,
  opts: BuildFlags,
  plan: BuildPlan,
  { quiet, log, output, step }: BuildOutput,
): Promise<void> {
  const { out, cwd } = c;
  const { tag, contextDir, choice } = plan;
  const host = hostOptions(c, { runtime: opts.runtime, epoch: true });
  log(
    `Building ${tag ?? `-o ${opts.output!.join(" -o ")}`} with the Dockerfile ${dockerfileShown(plan, cwd)} (${choice.reason})`,
  );
  for (const [key, l] of Object.entries(LEGACY))
    if ((opts as Record<string, unknown>)[key] !== undefined) log(`WARNING: ${l.flag}: ${l.note}`);
  const warnings: LintWarning[] = [];
  // docker's summary of the build checks' warnings, at the end whatever happened (not with -q or rawjson)
  const summary = () => {
    if (!quiet && !step) out.stderr.write(warningSummary(warnings, c.terminal.stderr));
  };
  const r = await buildDockerfile({
    ...host,
    logger: { info: log, output, ...(step ? { step } : {}), warning: (w) => warnings.push(w) },
    context: contextDir,
    file: choice.dockerfile!,
    ...(choice.fromProject ? { fileInContext: true } : {}),
    ...(plan.remote ? { noIgnoreFile: true } : {}),
    tags: tag === undefined ? [] : [tag, ...(opts.moreTags ?? [])],
    outputs: opts.output ?? [],
    labels: opts.label ?? [],
    annotations: (opts.annotation as string[] | undefined) ?? [],
    stdout: out.stdout,
    publish: Boolean(opts.publish),
    buildArgs: opts.buildArg ?? [],
    target: opts.target,
    platform: opts.platform,
    noCache: opts.cache === false,
    cacheTo: opts.cacheTo ?? [],
    cacheFrom: opts.cacheFrom ?? [],
    secrets: opts.secret ?? [],
    ssh: opts.ssh ?? [],
    network: opts.network,
    allow: opts.allow ?? [],
    stageJobs: opts.stageJobs,
    buildContexts: (opts.buildContext as string[] | undefined) ?? [],
    addHosts: (opts.addHost as string[] | undefined) ?? [],
    shmSize: opts.shmSize as string | undefined,
    ulimits: (opts.ulimit as string[] | undefined) ?? [],
    cgroupParent: opts.cgroupParent as string | undefined,
    pull: Boolean(opts.pull),
    noCacheFilter: (opts.noCacheFilter as string[] | undefined) ?? [],
    ...attestations(opts),
    load: Boolean(opts.load),
  }).finally(summary);
  await writeBuildFiles(opts, r, c.cwd);
  if (opts.json) printJson(out, r);
  else if (quiet) out.stdout.write(`${r.digest}\n`);
  else {
    const cached = (r.steps ?? []).filter((s) => s.cached).length;
    info(out, `Successfully built ${r.digest} (${r.steps?.length ?? 0} steps, ${cached} cached)`);
    if (tag !== undefined) info(out, `Wrote ${r.digest} to ${r.tags.join(", ")}`);
    for (const o of opts.output ?? []) info(out, `Exported to -o ${o}`);
  }
}

/**
 * buildx's summary of the build's warnings (commands/build.go printWarnings): "N warnings found (use docker
 * --debug to expand):" (yellow on a terminal), then ` - Rule: sentence (line N)` each; nothing without any.
 */
export function warningSummary(warnings: readonly LintWarning[], terminal: boolean): string {
  if (warnings.length === 0) return "";
  const head = `${warnings.length === 1 ? "1 warning found" : `${warnings.length} warnings found`} (use docker --debug to expand):\n`;
  return `\n ${terminal ? `\x1b[33m${head}\x1b[0m` : head}${warnings.map((w) => ` - ${shortWarning(w)}\n`).join("")}`;
}

/** The Dockerfile as buildx's check report names it: -f's path as given, else CONTEXT/Dockerfile. */
function checkShown(arg: string | undefined, opts: BuildFlags, plan: BuildPlan, cwd: string): string {
  const flag = opts.file ?? opts.dockerfile;
  if (plan.shown !== undefined || plan.choice.fromProject) return dockerfileShown(plan, cwd);
  return typeof flag === "string" ? flag : posix.join(arg ?? ".", "Dockerfile");
}

/** The Dockerfile as the build's first line names it: relative to the current folder, or to berth's own context. */
function dockerfileShown({ choice, shown }: BuildPlan, cwd: string): string {
  return shown ?? (relative(cwd, choice.dockerfile!) || choice.dockerfile!);
}

/**
 * `-o`, `--iidfile` and `--metadata-file` checked before anything runs: `-o -` writes the tar to standard output,
 * so -q and --json (which print there) and a terminal are refused, as buildx refuses a console; an image ID
 * needs an image (docker 20.10 fails after a local/tar-only build instead).
 */
function checkOutputs(opts: BuildFlags, tag: string | undefined, terminal: boolean): void {
  const specs = (opts.output ?? []).map(parseOutput);
  const stdout = specs.find((s) => s.type === "tar" && s.dest === "-");
  if (stdout && (opts.quiet || opts.json)) {
    throw new BerthError(
      "USAGE",
      `-o ${stdout.text} writes the tar to standard output, where ${opts.json ? "--json" : "-q"} prints too`,
      {
        hint: "write the tar to a file: -o type=tar,dest=FILE",
      },
    );
  }
  if (stdout && terminal) {
    throw new BerthError("USAGE", `-o ${stdout.text}: refusing to write a tar to the terminal`, {
      hint: "redirect standard output (-o - > out.tar), or give -o type=tar,dest=FILE",
    });
  }
  if (opts.publish && tag === undefined) {
    throw new BerthError("USAGE", "--publish writes -t's image to its registry, and this build has no -t", {
      hint: "add -t REGISTRY/IMAGE, or give -o type=registry,name=REGISTRY/IMAGE",
    });
  }
  if (opts.iidfile !== undefined && tag === undefined && !specs.some((s) => s.type === "image")) {
    throw new BerthError(
      "USAGE",
      `--iidfile: this build writes no image (only -o ${specs.map((s) => s.text).join(", -o ")}), so it has no image ID`,
      {
        hint: "add -t IMAGE, or leave out --iidfile",
      },
    );
  }
}

/** `--iidfile` (docker's: the image ID, no newline) and buildx's `--metadata-file`, written once the build is done. */
async function writeBuildFiles(opts: BuildFlags, r: BuildResult, cwd: string): Promise<void> {
  if (opts.iidfile !== undefined) {
    // several platforms: the index's digest, as buildx writes it
    await writeFileAtomic(resolve(cwd, opts.iidfile), r.manifests ? r.digest : r.imageId);
  }
  if (opts.metadataFile !== undefined) {
    const names = [
      ...r.tags,
      ...(opts.output ?? []).map(parseOutput).flatMap((s) => (s.type === "image" ? [s.destination] : [])),
    ];
    const doc =
      names.length && r.descriptor
        ? {
            ...(r.manifests ? {} : { "containerimage.config.digest": r.imageId }),
            "containerimage.descriptor": r.descriptor,
            "containerimage.digest": r.digest,
            "image.name": names.join(","),
          }
        : {};
    await writeFileAtomic(resolve(cwd, opts.metadataFile), `${JSON.stringify(doc, null, 2)}\n`);
  }
}

/** The flags of Dockerfile builds (their steps, cache, secrets and SSH agents). */
function dockerfileOptions(cmd: Command): void {
  cmd
    .option(
      "--build-arg <KEY=VALUE>",
      "set a build argument (repeatable; KEY alone takes it from the env)",
      collect,
    )
    .option("--target <stage>", "build this stage (default: the last)")
    .option("--check", "run only BuildKit's build checks and print buildx's report (same as --call check)")
    .option(
      "--call <check|outline|targets|build>[,format=json][,ignorestatus=true]",
      "buildx's evaluation method: check runs only the build checks, outline lists the build args, secrets and SSH ids the target uses, targets lists the stages (no step runs, nothing is written)",
    )
    .option(
      "--platform <os/arch[/variant],...>",
      "the platform to build for (default: this machine's; buildpacks: the builder's); several (comma-separated or repeated, Dockerfile only) build an image index; foreign RUN steps and builders run under qemu-user-static",
      (v: string, prev?: string) => (prev ? `${prev},${v}` : v),
    )
    .option("--no-cache", "run every step, using no cached result")
    .option(
      "--cache-to <type=registry,ref=REF|type=local,dest=DIR|type=inline>",
      "export the step cache in BuildKit's format ([,mode=min|max][,compression=][,oci-mediatypes=][,image-manifest=][,ignore-error=]; repeatable)",
      collect,
    )
    .option(
      "--cache-from <type=registry,ref=REF|type=local,src=DIR|REF>",
      "reuse steps from a cache (BuildKit's format) or an image's inline cache (repeatable)",
      collect,
    )
    .option(
      "--secret <id=ID[,src=FILE|,env=VAR]>",
      "a secret for RUN --mount=type=secret, from a file or an environment variable (docker buildx's; repeatable)",
      collect,
    )
    .option(
      "--ssh <default|ID[=SOCKET]>",
      "an SSH agent for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK; repeatable)",
      collect,
    );
}

/** docker buildx's inputs of Dockerfile builds: named contexts, RUN's extra hosts, --pull, --no-cache-filter. */
function dockerfileInputOptions(cmd: Command): void {
  // commander reads a --no-* flag as a switch's negation: this one takes a value and is its own
  const noCacheFilter = new Option(
    "--no-cache-filter <stage>",
    "run this stage's steps without the cache (repeatable)",
  ).argParser(collect);
  noCacheFilter.negate = false;
  cmd
    .option(
      "--build-context <NAME=VALUE>",
      "VALUE (a directory, docker-image://REF, oci-layout://DIR[:TAG|@DIGEST], a git repository or a URL) is what FROM NAME, COPY --from=NAME and RUN --mount=from=NAME read, in place of the stage or image NAME (repeatable)",
      collect,
    )
    .option("--add-host <HOST:IP>", "add a line to RUN's /etc/hosts (repeatable; not in the image)", collect)
    .option("--shm-size <bytes>", "the size of RUN's /dev/shm: bytes, or with k, m, g (default 64m)")
    .option(
      "--ulimit <TYPE=SOFT[:HARD]>",
      "a process limit of RUN steps (nofile, nproc, core, stack, …; -1: unlimited; repeatable)",
      collect,
    )
    .option("--cgroup-parent <parent>", "run RUN steps in the cgroup PARENT/buildkit/ID (BuildKit's)")
    .option("--pull", "read base images from their registry, not the store's copy (as docker build --pull)")
    .addOption(noCacheFilter);
}

/** Where a Dockerfile build goes besides -t (BuildKit's exporters), and what is written about it. */
function outputOptions(cmd: Command): void {
  cmd
    .option(
      "-o, --output <type=local,dest=DIR|type=tar,dest=FILE|DIR|-|…>",
      "export the build as BuildKit's exporters (repeatable): local: the target stage's files into DIR; tar: the same as one tar (- : standard output); image/registry/oci/docker: the image to the store, a registry or an archive. Without -t, no other image is written",
      collect,
    )
    .option(
      "--label <KEY=VALUE>",
      "set a label on the image, over the Dockerfile's LABEL (repeatable)",
      collect,
    )
    .option(
      "--annotation <[TYPE[PLATFORM],…:]KEY=VALUE>",
      "add an OCI annotation (buildx's; repeatable): TYPE manifest (default), manifest-descriptor, index (several platforms or --provenance), index-descriptor; [os/arch]: that platform's only",
      collect,
    )
    .option(
      "--provenance <true|false|mode=min|max,…>",
      "attach BuildKit's SLSA provenance attestation (buildx's; true: mode=max, BuildKit's default; version=v0.2|v1, builder-id=, reproducible=): the image goes out in an index with it (a docker-archive gets the image alone; -o type=local|tar get provenance.json beside the files)",
    )
    .option(
      "--attest <type=provenance,…>",
      "an attestation, as buildx's --attest (provenance only; repeatable)",
      collect,
    )
    .option(
      "--sbom <false>",
      "refused unless false: berth makes no SBOM attestation (BuildKit runs a scanner image)",
    )
    .option("--iidfile <file>", "write the image ID (sha256:<config digest>) to this file")
    .option("--metadata-file <file>", "write buildx's build result metadata (JSON) to this file");
}

/** Buildpack flags (issue 7: pack's names and meanings), handed to src/cnb. */
function buildpacksOptions(cmd: Command): void {
  cmd
    .option(
      "--isolation <sandbox|host>",
      "buildpacks: sandbox (default): buildpacks run in the build image through runc; host: berth runs inside the build image itself (a build step) and runs them as its own user",
    )
    .option(
      "-B, --builder <image>",
      "buildpacks: the builder image (with --isolation host, default: the one berth runs in, /cnb)",
    )
    .option("--run-image <image>", "buildpacks: the run image")
    .option(
      "--pull-policy <always|if-not-present|never>",
      "buildpacks: when to pull the builder and run image into the store (default: if-not-present)",
    )
    .option("-e, --env <KEY=VALUE>", "buildpacks: build-time environment (repeatable)", collect)
    .option("--env-file <file>", "buildpacks: build-time environment from a file")
    .option(
      "-b, --buildpack <ref>",
      "buildpacks: use this buildpack (repeatable): a dir, .tgz or .cnb (relative to the current dir), ID[@VERSION] or urn:cnb:builder:ID[@VERSION] of the builder, from=builder, docker://REF or an image",
      collect,
    )
    .option("--disable-system-buildpacks", "buildpacks: leave out the builder's [system] pre/post buildpacks")
    .option("--cache-dir <dir>", "buildpacks: keep the build cache in this folder")
    .option("--cache-image <ref>", "buildpacks: keep the build cache in this image")
    .option("--clear-cache", "buildpacks: start with an empty cache")
    .option(
      "--lifecycle <berth|builder>",
      "buildpacks: berth (default): berth's own engine runs the phases; builder: the builder's /cnb/lifecycle does, in berth's sandbox",
    )
    .option("--trust-builder", "buildpacks, --lifecycle builder: run the builder's creator in one container")
    .option("--previous-image <ref>", "buildpacks: reuse layers from this image")
    .option(
      "--creation-time <unix|now>",
      "buildpacks: the image's creation time (default SOURCE_DATE_EPOCH, else 1980)",
    )
    .option("-D, --default-process <type>", "buildpacks: the default process type")
    .option("--sbom-output-dir <dir>", "buildpacks: copy the SBOM here")
    .option("--report-output-dir <dir>", "buildpacks: write report.toml here")
    .option("-v, --verbose", "buildpacks: show the phases' debug lines too (as pack's -v)");
}
