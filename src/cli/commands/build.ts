import { isAbsolute, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseToml } from "smol-toml";
import type { BuildWithBuildpacksResult } from "../../cnb/build.ts";
import {
  buildWithLifecycle,
  chooseRunImage,
  buildWithBuildpacks as cnbBuild,
  cnbImageInfo,
  openImage,
  readBuilderInfo,
} from "../../cnb/index.ts";
import { DockerfileBuild } from "../../dockerfile/index.ts";
import { BerthError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { parseNetworkMode } from "../../runtime/network.ts";
import type { TransportContext } from "../../transport/context.ts";
import { type ImageArgument, parseImageArgument } from "../../transport/parse.ts";
import { readFileWithin } from "../../util/confined.ts";
import { dockerfileEngine } from "../dockerfile-engine.ts";
import type { Cli } from "../env.ts";
import { info, printJson } from "../output.ts";
import { BuildHeartbeat } from "../progress.ts";
import { ensureInStore, type PackPullPolicy, parsePackPullPolicy } from "../pull.ts";
import { cnbLogger } from "./builder.ts";

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** How a project asks to be built, from `project.toml`. */
export interface BuildChoice {
  way: "dockerfile" | "buildpacks";
  /** Dockerfile path (dockerfile only). */
  dockerfile?: string;
  /** The path came from project.toml: it must lie inside the context. */
  fromProject?: boolean;
  reason: string;
}

/**
 * The way to build: `--dockerfile [PATH]` (or `-f PATH`) always means the Dockerfile; otherwise
 * `project.toml`'s `[io.berth] build = "dockerfile"` (with an optional `dockerfile = "PATH"`, relative to the
 * project) does; otherwise buildpacks, as `dubboctl build` and `pack build` do.
 */
export async function chooseBuild(
  contextDir: string,
  dockerfileFlag: string | boolean | undefined,
  descriptor: string | undefined,
): Promise<BuildChoice> {
  if (dockerfileFlag !== undefined && dockerfileFlag !== false) {
    const path =
      typeof dockerfileFlag === "string" ? resolve(dockerfileFlag) : join(contextDir, "Dockerfile");
    return { way: "dockerfile", dockerfile: path, reason: "--dockerfile" };
  }
  const file = descriptor ? resolve(descriptor) : join(contextDir, "project.toml");
  let text: string | undefined;
  try {
    // The project's own project.toml (or a --descriptor inside it) is read confined to the project.
    text = (
      await readFileWithin(file, contextDir, { owner: "the app", name: "the app directory" })
    )?.toString("utf8");
    if (text === undefined && descriptor) throw new Error(`${file} does not exist`);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    if (descriptor) throw new BerthError("USAGE", `cannot read the descriptor ${descriptor}`, { cause: err });
  }
  if (text !== undefined) {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw new BerthError("USAGE", `${file} is not valid TOML: ${(err as Error).message}`, { cause: err });
    }
    const io = doc.io as Record<string, unknown> | undefined;
    const berth = io?.berth as Record<string, unknown> | undefined;
    const way = berth?.build;
    if (way !== undefined && way !== "dockerfile" && way !== "buildpacks") {
      throw new BerthError(
        "USAGE",
        `${file}: [io.berth] build must be "dockerfile" or "buildpacks", not ${JSON.stringify(way)}`,
      );
    }
    if (way === "dockerfile") {
      const df = typeof berth?.dockerfile === "string" ? berth.dockerfile : "Dockerfile";
      return {
        way: "dockerfile",
        dockerfile: isAbsolute(df) ? df : join(contextDir, df),
        fromProject: true,
        reason: `${relative(contextDir, file) || file} [io.berth] build = "dockerfile"`,
      };
    }
  }
  return { way: "buildpacks", reason: "the default (no --dockerfile, project.toml does not ask for one)" };
}

/** The buildpacks path: one call into src/cnb, once it has a build entry point. */
export interface BuildpacksRequest {
  appDir: string;
  image: ImageArgument;
  publish: boolean;
  options: Record<string, unknown>;
  ctx: TransportContext;
  log: (line: string) => void;
  /** Watches what the build writes, for the heartbeat of a log that is not a terminal. */
  heartbeat?: BuildHeartbeat;
  /** The CLI's current directory: relative `--buildpack` paths are resolved against it, as pack does. */
  cwd: string;
}

/** What the CLI reports of a buildpacks build; `--lifecycle builder` knows only the digest (the rest is read from the image). */
type BuildpacksOutcome = { digest: string } & Partial<
  Pick<BuildWithBuildpacksResult, "imageId" | "stats" | "group">
>;

async function buildWithBuildpacks(req: BuildpacksRequest): Promise<BuildpacksOutcome> {
  const o = req.options as Record<string, string | string[] | boolean | undefined>;
  const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : undefined);
  const network = str("network") === undefined ? undefined : parseNetworkMode(str("network")!);
  const engine = str("lifecycle") ?? "berth";
  if (engine !== "berth" && engine !== "builder") {
    throw new BerthError("USAGE", `--lifecycle ${JSON.stringify(engine)} must be berth or builder`);
  }
  if (o.trustBuilder && engine !== "builder") {
    throw new BerthError("USAGE", "--trust-builder only matters with --lifecycle builder");
  }
  const r = await (engine === "builder" ? buildWithLifecycle : cnbBuild)({
    ...(engine === "builder" ? { trustBuilder: Boolean(o.trustBuilder) } : {}),
    appDir: req.appDir,
    image: req.image,
    ...(str("builder") ? { builder: str("builder")! } : {}),
    ...(str("runImage") ? { runImage: str("runImage")! } : {}),
    env: (o.env as string[] | undefined) ?? [],
    ...(str("envFile") ? { envFile: str("envFile")! } : {}),
    buildpacks: (o.buildpack as string[] | undefined) ?? [],
    cwd: req.cwd,
    disableSystemBuildpacks: Boolean(o.disableSystemBuildpacks),
    ...(str("cacheDir") ? { cacheDir: str("cacheDir")! } : {}),
    ...(str("cacheImage") ? { cacheImage: str("cacheImage")! } : {}),
    clearCache: Boolean(o.clearCache),
    ...(str("previousImage") ? { previousImage: str("previousImage")! } : {}),
    publish: req.publish,
    ...(str("creationTime") ? { creationTime: str("creationTime")! } : {}),
    ...(str("defaultProcess") ? { defaultProcess: str("defaultProcess")! } : {}),
    ...(str("sbomOutputDir") ? { sbomOutputDir: str("sbomOutputDir")! } : {}),
    ...(str("reportOutputDir") ? { reportOutputDir: str("reportOutputDir")! } : {}),
    ...(str("descriptor") ? { descriptor: str("descriptor")! } : {}),
    ...(network ? { network } : {}),
    ...(str("runtime") ? { runtime: str("runtime")! } : {}),
    ctx: req.ctx,
    hostEnv: process.env,
    asRoot: process.getuid?.() === 0,
    dockerfileEngine: dockerfileEngine(req.ctx, {
      ...(network ? { network } : {}),
      ...(str("runtime") ? { runtime: str("runtime")! } : {}),
      ...(process.env.PATH ? { searchPath: process.env.PATH } : {}),
    }),
    logger: cnbLogger(
      { stdout: process.stdout, stderr: process.stderr, quiet: false },
      { quiet: Boolean(o.quiet), ...(req.heartbeat ? { heartbeat: req.heartbeat } : {}) },
    ),
    now: () => new Date(),
  });
  return r;
}

/** The flags that apply to one way of building only (commander's option keys → the flag as typed). */
const DOCKERFILE_ONLY: Record<string, string> = {
  buildArg: "--build-arg",
  target: "--target",
  platform: "--platform",
  cache: "--no-cache",
  secret: "--secret",
  ssh: "--ssh",
  allow: "--allow",
};
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
};

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
  opts: { path?: string; tag?: string },
): { context: string; tag: string } {
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
  if (opts.tag === undefined) {
    throw new BerthError("USAGE", "no image to write: give -t IMAGE", {
      hint: `berth build ${arg ?? "."} -t IMAGE (or, as pack: berth build IMAGE --path ${arg ?? "."})`,
    });
  }
  return { context: arg ?? ".", tag: opts.tag };
}

/** What to build, how, and into which image; a flag of the other way of building is refused here. */
async function planBuild(
  arg: string | undefined,
  opts: Record<string, unknown>,
  command: Command,
  cwd: string,
): Promise<{ tag: string; contextDir: string; choice: BuildChoice }> {
  const { context, tag } = buildTarget(arg, opts as { path?: string; tag?: string });
  const contextDir = resolve(cwd, context);
  const dockerfileFlag = (opts.file ?? opts.dockerfile) as string | boolean | undefined;
  const choice = await chooseBuild(
    contextDir,
    typeof dockerfileFlag === "string" ? resolve(cwd, dockerfileFlag) : dockerfileFlag,
    typeof opts.descriptor === "string" ? resolve(cwd, opts.descriptor) : undefined,
  );
  refuseOtherWayFlags(command, choice.way, choice.reason);
  return { tag, contextDir, choice };
}

/** A build's result as `--json` prints it: one schema for both ways (README: "JSON output"). */
export interface BuildJson {
  schemaVersion: 1;
  way: "buildpacks" | "dockerfile";
  /** Where the image was written, as given to -t. */
  image: string;
  digest: string;
  imageId: string;
  tags: string[];
  processes: { type: string; command: string[]; workDir: string | undefined; default: boolean }[];
  layers: { total: number; reused: number };
  /** Buildpacks: the group that built the app. */
  buildpacks?: { id: string; version: string }[];
  /** Dockerfile: every step, and whether its result came from the cache. */
  steps?: { stage: number; step: number; instruction: string; cached: boolean }[];
  unusedBuildArgs?: string[];
}

async function readBuilt(text: string, ctx: TransportContext): Promise<Image> {
  const opened = await openImage(text, ctx);
  await opened.close();
  return opened.image;
}

/** BuildKit's `--allow` entitlements; berth knows `network.host`. */
function parseEntitlements(values: string[]): string[] {
  for (const v of values) {
    if (v !== "network.host") {
      throw new BerthError(
        "USAGE",
        `--allow ${JSON.stringify(v)} is not an entitlement berth knows (only network.host)`,
      );
    }
  }
  return values;
}

function parseBuildArgs(values: string[], env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    if (i === 0) throw new BerthError("USAGE", `--build-arg ${JSON.stringify(v)} must be KEY=VALUE or KEY`);
    if (i < 0) {
      // `--build-arg KEY` takes the value from the environment, as docker does.
      const e = env[v];
      if (e !== undefined) out[v] = e;
    } else out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function parseSecrets(
  values: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const kv = new Map(
      v.split(",").map((p) => {
        const i = p.indexOf("=");
        return (i < 0 ? [p, ""] : [p.slice(0, i), p.slice(i + 1)]) as [string, string];
      }),
    );
    const id = kv.get("id");
    if (!id) throw new BerthError("USAGE", `--secret ${JSON.stringify(v)} needs id=`);
    const src = kv.get("src") ?? kv.get("source");
    if (src) out[id] = resolve(cwd, src);
    else if (kv.get("env") && env[kv.get("env")!] !== undefined) {
      throw new BerthError(
        "USAGE",
        `--secret ${JSON.stringify(v)}: env= secrets are not supported; give src=FILE`,
      );
    } else throw new BerthError("USAGE", `--secret ${JSON.stringify(v)} needs src=FILE`);
  }
  return out;
}

/**
 * `--ssh default`, `--ssh default=SOCKET`, `--ssh ID=SOCKET` (BuildKit's): SSH agents RUN --mount=type=ssh
 * forwards to; `default` alone is $SSH_AUTH_SOCK.
 */
function parseSsh(
  values: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    const id = i < 0 ? v : v.slice(0, i);
    if (!/^[A-Za-z0-9_.-]+$/.test(id))
      throw new BerthError("USAGE", `--ssh ${JSON.stringify(v)} needs an id`);
    let socket = i < 0 ? undefined : v.slice(i + 1).split(",")[0];
    if (!socket) {
      socket = env.SSH_AUTH_SOCK;
      if (!socket)
        throw new BerthError("USAGE", `--ssh ${id} forwards $SSH_AUTH_SOCK, which is not set`, {
          hint: `start an agent (eval $(ssh-agent); ssh-add), or give its socket: --ssh ${id}=PATH`,
        });
    }
    out[id] = resolve(cwd, socket);
  }
  return out;
}

function sourceDateEpoch(env: Record<string, string | undefined>): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v))
    throw new BerthError("USAGE", `SOURCE_DATE_EPOCH ${JSON.stringify(v)} is not a number of seconds`);
  return Number(v);
}

export function registerBuild(program: Command, cli: () => Cli): void {
  program
    .command("build")
    .description("build an image from a project: with buildpacks (default) or its Dockerfile")
    .argument("[context]", "the project / build context folder (default: .); with --path: the image to write")
    .option("-t, --tag <image>", "the image to write: a local name (the store) or any transport")
    .option("-p, --path <dir>", "the app folder, as pack's --path (then the argument may name the image)")
    .option("--dockerfile [path]", "build with a Dockerfile (default CONTEXT/Dockerfile)")
    .option("-f, --file <path>", "same as --dockerfile PATH")
    .option(
      "--build-arg <KEY=VALUE>",
      "set a build argument (repeatable; KEY alone takes it from the env)",
      collect,
    )
    .option("--target <stage>", "build this stage (default: the last)")
    .option("--platform <os/arch[/variant]>", "the platform to build for (default: this machine's)")
    .option("--no-cache", "run every step, using no cached result")
    .option("--secret <id=ID,src=FILE>", "a secret for RUN --mount=type=secret (repeatable)", collect)
    .option(
      "--ssh <default|ID[=SOCKET]>",
      "an SSH agent for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK; repeatable)",
      collect,
    )
    .option("--publish", "write the image straight to its registry (-t names a registry reference)")
    .option("--runtime <name|path>", "OCI runtime for RUN steps (runc, crun)")
    .option("-q, --quiet", "print only the image digest")
    .option("--json", "print the result as JSON")
    // Buildpack flags (issue 7: pack's names and meanings), handed to src/cnb.
    .option("-B, --builder <image>", "buildpacks: the builder image")
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
    .option("--creation-time <unix|now>", "buildpacks: the image's creation time")
    .option("-D, --default-process <type>", "buildpacks: the default process type")
    .option("--sbom-output-dir <dir>", "buildpacks: copy the SBOM here")
    .option("--report-output-dir <dir>", "buildpacks: write report.toml here")
    .option("-d, --descriptor <file>", "project descriptor (default CONTEXT/project.toml)")
    .option(
      "--network <default|host|none>",
      "network of RUN steps and buildpacks (default: private, with outbound access; host: the host's)",
    )
    .option("--allow <entitlement>", "network.host: let RUN --network=host use the host's network", collect)
    .addHelpText(
      "after",
      `
Which way: --dockerfile (or -f) builds with the Dockerfile; otherwise project.toml decides with
  [io.berth]
  build = "dockerfile"          # or "buildpacks" (the default)
  dockerfile = "docker/Dockerfile"   # optional, relative to the project
and without either, berth builds with Cloud Native Buildpacks. It always says which way it builds.

RUN steps and buildpacks run in a sandbox (runc or crun) with a private network that reaches the internet
but not the host's loopback services; --network host gives them the host's (for RUN --network=host in the
Dockerfile itself: --allow network.host, as BuildKit). Dockerfile builds keep each step's result under
$BERTH_HOME/cache/dockerfile, and are reproducible with SOURCE_DATE_EPOCH (file times and created dates).

Examples:
  berth build . -t app:1                                   (buildpacks, berth's default builder)
  berth build ./api -t app:1 -B my-builder -e BP_NODE_VERSION=22 -b ./my-buildpack
  berth build . -t 127.0.0.1:5000/team/app:1 --publish --cache-image 127.0.0.1:5000/team/app-cache
  berth build . --dockerfile -t app:1
  berth build ./svc -f ./svc/Dockerfile.prod -t oci:./out:svc --build-arg VERSION=1.2 --target runtime
  berth build . --dockerfile -t docker://127.0.0.1:5000/app:1 --publish
  berth build . --dockerfile -t app:1 --secret id=npmrc,src=$HOME/.npmrc`,
    )
    // The arguments are checked before anything else runs (the default builder's hook may make a builder).
    .hook("preAction", async (_cmd, action) => {
      await planBuild(action.args[0] as string | undefined, action.opts(), action, cli().cwd);
    })
    .action(async (arg: string | undefined, opts, command: Command) => {
      const c = cli();
      const { ctx, out, env, cwd } = c;
      const { tag, contextDir, choice } = await planBuild(arg, opts, command, cwd);
      let target: ImageArgument;
      if (opts.publish) {
        const text = String(tag).startsWith("docker://") ? String(tag) : `docker://${tag}`;
        target = parseImageArgument(text);
      } else target = parseImageArgument(tag);
      // -q: only the digest (the pulls and pushes of the build say nothing either)
      if (opts.quiet) out.quiet = true;
      const heartbeat = new BuildHeartbeat(out);
      const log = (line: string) => {
        heartbeat.note(line);
        if (!opts.quiet) out.stderr.write(`${line}\n`);
      };
      try {
        if (choice.way === "buildpacks") {
          log(`Building ${tag} with Cloud Native Buildpacks (${choice.reason})`);
          // berth's own default builder (and its run image) are made here, never pulled
          if (opts.builder && command.getOptionValueSource("builder") !== "default") {
            await pullBuildImages(
              c,
              opts.builder,
              opts.runImage,
              parsePackPullPolicy(opts.pullPolicy ?? "if-not-present"),
              target,
            );
          }
          const r = await buildWithBuildpacks({
            appDir: contextDir,
            image: target,
            publish: Boolean(opts.publish),
            options: opts,
            ctx,
            log,
            heartbeat,
            cwd,
          });
          if (opts.json) {
            const image = await readBuilt(target.text, ctx);
            const cnb = cnbImageInfo(image, target.text);
            printJson(out, {
              schemaVersion: 1,
              way: "buildpacks",
              image: tag,
              digest: r.digest,
              imageId: r.imageId ?? image.manifest.config.digest,
              tags: [tag],
              processes: (cnb?.processes ?? []).map((p) => ({
                type: p.type,
                command: [p.command, ...p.args],
                workDir: p.workDir || undefined,
                default: p.default,
              })),
              layers: { total: image.manifest.layers.length, reused: r.stats?.reused ?? 0 },
              buildpacks: (r.group ?? cnb?.buildpacks ?? []).map((g) => ({ id: g.id, version: g.version })),
            } satisfies BuildJson);
          } else if (opts.quiet) out.stdout.write(`${r.digest}\n`);
          return;
        }
        log(
          `Building ${tag} with the Dockerfile ${relative(cwd, choice.dockerfile!) || choice.dockerfile} (${choice.reason})`,
        );
        const epoch = sourceDateEpoch(env);
        const build = new DockerfileBuild(
          {
            contextDir,
            dockerfile: { path: choice.dockerfile!, ...(choice.fromProject ? { inContext: true } : {}) },
            buildArgs: parseBuildArgs(opts.buildArg ?? [], env),
            ...(opts.target ? { target: opts.target } : {}),
            ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
            noCache: opts.cache === false,
            secrets: parseSecrets(opts.secret ?? [], env, cwd),
            ssh: parseSsh(opts.ssh ?? [], env, cwd),
            ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }),
            destinations: [target],
            ...(opts.runtime ? { runtime: opts.runtime } : {}),
            ...(opts.network ? { network: parseNetworkMode(opts.network) } : {}),
            allow: parseEntitlements(opts.allow ?? []),
            log,
            onOutput: (chunk) => {
              heartbeat.note(chunk);
              if (!opts.quiet) out.stderr.write(chunk);
            },
          },
          ctx,
        );
        const result = await build.build();
        if (result.unusedBuildArgs.length) {
          log(`[Warning] one or more build-args [${result.unusedBuildArgs.join(" ")}] were not consumed`);
        }
        if (opts.json) {
          const image = await readBuilt(target.text, ctx);
          const cfg = image.config?.config;
          const command = [...(cfg?.Entrypoint ?? []), ...(cfg?.Cmd ?? [])];
          const final = result.stages[result.stages.length - 1];
          // layers this build wrote: one per RUN, COPY or ADD step of the target stage that did not come from the cache
          const written = result.steps.filter(
            (st) => st.stage === final && !st.cached && /^(RUN|COPY|ADD)\b/i.test(st.instruction),
          ).length;
          const total = image.manifest.layers.length;
          printJson(out, {
            schemaVersion: 1,
            way: "dockerfile",
            image: tag,
            digest: result.digest,
            imageId: result.configDigest,
            tags: [tag],
            processes: command.length
              ? [{ type: "default", command, workDir: cfg?.WorkingDir || undefined, default: true }]
              : [],
            layers: { total, reused: Math.max(0, total - written) },
            steps: result.steps.map((st) => ({
              stage: st.stage,
              step: st.step,
              instruction: st.instruction,
              cached: st.cached,
            })),
            unusedBuildArgs: result.unusedBuildArgs,
          } satisfies BuildJson);
        } else if (opts.quiet) out.stdout.write(`${result.digest}\n`);
        else {
          const cached = result.steps.filter((s) => s.cached).length;
          info(out, `Successfully built ${result.digest} (${result.steps.length} steps, ${cached} cached)`);
          info(out, `Wrote ${result.digest} to ${target.text}`);
        }
      } finally {
        heartbeat.stop();
      }
    });
}

/** pack's pull policy for a named builder and its run image (`--run-image`, else the builder's first). */
async function pullBuildImages(
  c: Cli,
  builder: string,
  runImage: string | undefined,
  policy: PackPullPolicy,
  target: ImageArgument,
): Promise<void> {
  await ensureInStore(c, builder, policy, "builder");
  // The run image: with if-not-present the build itself reads it from the store, else from its registry in
  // place (as pack's lifecycle does: a --publish build then mounts its layers, downloading none); always and
  // never are settled here.
  if (policy === "if-not-present") return;
  if (runImage !== undefined) {
    await ensureInStore(c, runImage, policy, "run image");
    return;
  }
  const opened = await openImage(builder, c.ctx);
  let names: { image: string; mirrors?: string[] }[];
  try {
    const info = readBuilderInfo(opened.image, builder);
    const run = info.metadata?.stack?.runImage;
    names = run?.image ? [{ image: run.image, mirrors: run.mirrors ?? [] }] : [];
  } finally {
    await opened.close();
  }
  if (!names.length) return;
  await ensureInStore(c, chooseRunImage(target, undefined, names).name, policy, "run image");
}
