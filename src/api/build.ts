/**
 * `build` (Cloud Native Buildpacks) and `buildDockerfile`: what `berth build` does, with its flags as
 * options (the same defaults and errors), and its `--json` document as the result. `chooseBuild` is how
 * `berth build` picks between them (`--dockerfile`, else project.toml's `[io.berth] build`).
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Writable } from "node:stream";
import { openImage } from "../cnb/image.ts";
import type { buildWithBuildpacks, buildWithLifecycle, cnbImageInfo } from "../cnb/index.ts";
import type { PhaseLogger } from "../cnb/log.ts";
import {
  type Annotation,
  annotationsFor,
  type BuildInputs,
  buildPlatforms,
  builtinArgs,
  type CheckInputs,
  type CheckResult,
  callSubrequest,
  checkAnnotations,
  checkDockerfile,
  DockerfileBuild,
  type BuildResult as DockerfileResult,
  type FilesystemExport,
  parseAnnotationFlag,
  parseAttestations,
  parseBuildContext,
  parseCacheFrom,
  parseCacheTo,
  parseOutput,
  RULES,
  ruleUrl,
  type SecretSource,
  type Subrequest,
  type SubrequestResult,
} from "../dockerfile/index.ts";
import { BerthError } from "../errors.ts";
import type { Image } from "../oci/image.ts";
import {
  formatPlatform,
  hostPlatform,
  type Platform,
  parsePlatformList,
  platformMatches,
} from "../oci/platform.ts";
import { parseShmSize, parseUlimits } from "../runtime/limits.ts";
import { parseAddHost, parseNetworkMode } from "../runtime/network.ts";
import type { TransportContext } from "../transport/context.ts";
import { type ImageArgument, parseImageArgument } from "../transport/parse.ts";
import { readFileWithin } from "../util/confined.ts";
import { packagePath } from "../util/package.ts";
import { dockerfileEngine } from "./dockerfile-engine.ts";
import { type Host, type HostOptions, hostOf, withShared } from "./host.ts";
import { ensureInStore, type PackPullPolicy, parsePackPullPolicy } from "./pull.ts";

/**
 * The CNB engine, the default builder's stack and the TOML parser, loaded by the buildpacks way only: a
 * Dockerfile build never loads them (~75 modules: 10 ms of a cached Dockerfile build's CPU).
 */
const loadCnb = () => import("../cnb/index.ts");
const loadStack = () => import("../cnb/stack/index.ts");
async function parseToml(text: string): Promise<unknown> {
  return (await import("smol-toml")).parse(text);
}

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
 * project) does; otherwise buildpacks, as `dubboctl build` and `pack build` do. Paths are absolute.
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
      doc = (await parseToml(text)) as Record<string, unknown>;
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

/** A build's result, as `berth build --json` prints it: one schema for both ways (README: "JSON output"). */
export interface BuildResult {
  schemaVersion: 1;
  way: "buildpacks" | "dockerfile";
  /** Where the image was written, as given. */
  image: string;
  /** The manifest digest. */
  digest: string;
  /** The config digest. */
  imageId: string;
  tags: string[];
  processes: { type: string; command: string[]; workDir: string | undefined; default: boolean }[];
  layers: { total: number; reused: number };
  /** Buildpacks: the group that built the app. */
  buildpacks?: { id: string; version: string }[];
  /** Dockerfile: every step, and whether its result came from the cache (with several platforms, whose). */
  steps?: { stage: number; step: number; instruction: string; cached: boolean; platform?: string }[];
  /**
   * Dockerfile: the manifest's (several platforms, or with provenance: the index's) descriptor, as buildx's
   * metadata file has it (with `--annotation`'s manifest-descriptor or index-descriptor annotations).
   */
  descriptor?: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
  /** Dockerfile with several platforms (`digest` is then the index's): each platform's image. */
  manifests?: { platform: string; digest: string; imageId: string }[];
  unusedBuildArgs?: string[];
  /** Dockerfile: BuildKit's build checks' warnings (each rule's name, description and URL, the sentence, the line). */
  warnings?: { rule: string; description: string; url: string; detail: string; line: number }[];
}

/** A NAME for `publish`: a registry reference (docker://), unless it already names a transport. */
export function publishTarget(name: string, publish: boolean): string {
  if (!publish || name.startsWith("docker://")) return name;
  const transport = /^(oci|oci-archive|docker-archive):/.exec(name)?.[1];
  if (transport) {
    const article = transport.startsWith("oci") ? "an" : "a";
    throw new BerthError(
      "USAGE",
      `--publish writes to a registry; ${name} names ${article} ${transport} destination`,
    );
  }
  return `docker://${name}`;
}

function targetOf(image: string, publish: boolean): ImageArgument {
  if (typeof image !== "string" || !image) {
    throw new BerthError("USAGE", "no image to write", { hint: "give the image option, e.g. app:1" });
  }
  return parseImageArgument(publish ? publishTarget(image, true) : image);
}

async function readBuilt(text: string, ctx: TransportContext): Promise<Image> {
  const opened = await openImage(text, ctx);
  await opened.close();
  return opened.image;
}

/** `berth build`'s buildpacks flags as options (pack's names and meanings). */
export interface BuildOptions extends HostOptions {
  /** The app folder (pack's --path); default `cwd`. */
  path?: string;
  /** The image to write: a store name (`app:1`), any transport, or with `publish` a registry reference. */
  image: string;
  /** pack's `--tag`: more names the built image is written to, each as `image` is (with `publish`, registries). */
  tags?: readonly string[] | undefined;
  /** Write the image straight to its registry. */
  publish?: boolean;
  /** The builder image; default project.toml's, else the default builder (berth's own, made on first use). */
  builder?: string | undefined;
  /** The run image; default the builder's. */
  runImage?: string | undefined;
  /**
   * pack's `--platform`: one os/arch[/variant]; the builder, run image and buildpack images are taken for it
   * from their indexes, and the app image is for it (default: the builder image's own platform). A builder
   * foreign to this machine runs under qemu-user-static, as docker runs it.
   */
  platform?: string | undefined;
  /**
   * When the builder and run image are pulled into the store: "if-not-present" (default), "always", "never".
   */
  pullPolicy?: PackPullPolicy | string | undefined;
  /** Build-time environment: `K=V`, or `K` alone to take it from `hostEnv`; or a record. */
  env?: string[] | Record<string, string>;
  envFile?: string | undefined;
  /**
   * Buildpacks to use instead of the builder's order: a dir, .tgz or .cnb (relative to `cwd`), ID[@VERSION],
   * docker://REF…
   */
  buildpacks?: string[];
  disableSystemBuildpacks?: boolean;
  cacheDir?: string | undefined;
  cacheImage?: string | undefined;
  clearCache?: boolean;
  previousImage?: string | undefined;
  /**
   * Seconds since the epoch, or "now"; default `sourceDateEpoch` (SOURCE_DATE_EPOCH, as the lifecycle's exporter
   * reads it), else 1980-01-01 (reproducible), as pack's. The created time of the config and history only: layer
   * entries keep the lifecycle's fixed 1980 time.
   */
  creationTime?: string | undefined;
  defaultProcess?: string | undefined;
  sbomOutputDir?: string | undefined;
  reportOutputDir?: string | undefined;
  /** project.toml; default PATH/project.toml. */
  descriptor?: string | undefined;
  /** Network of the buildpacks: "default" (private, outbound access), "host", "none". */
  network?: string | undefined;
  /** "berth" (default): berth's engine runs the phases; "builder": the builder's /cnb/lifecycle does. */
  lifecycle?: "berth" | "builder" | string | undefined;
  /** With lifecycle "builder": run the builder's creator in one container. */
  trustBuilder?: boolean;
  /**
   * "sandbox" (default): buildpacks run in the build image through runc. "host": berth itself runs inside the
   * builder's build image (a build step) as the lifecycle's creator does: the builder is `/cnb` of this
   * filesystem unless `builder` is given, the spec's directories are `step`'s, no runc, no mounts, no root.
   */
  isolation?: "sandbox" | "host";
  /**
   * With isolation "host": the step's directories (the lifecycle's CNB_APP_DIR, CNB_LAYERS_DIR,
   * CNB_PLATFORM_DIR; default /workspace, /layers, /platform) and CNB user (default `uid`/`gid`).
   */
  step?: {
    appDir?: string;
    layersDir?: string;
    platformDir?: string;
    user?: { uid: number; gid: number } | undefined;
  };
  /** Where report.toml goes (the lifecycle's CNB_REPORT_PATH); default `<layers>/report.toml`. */
  reportPath?: string | undefined;
  /** The default builder's definition; default berth's builders/default/builder.toml. */
  defaultBuilderToml?: string;
  /**
   * Trust this machine's local CAs (/usr/local/share/ca-certificates) in the default builder's stack; default
   * true.
   */
  trustHostCas?: boolean;
  /** Phase details (the CLI's --verbose). */
  verbose?: boolean;
  /** The clock for `creationTime: "now"`; default the system's. */
  now?: () => Date;
  signal?: AbortSignal | undefined;
}

function phaseLogger(host: Host, verbose: boolean): PhaseLogger {
  return {
    info: host.info,
    warn: host.warn,
    debug: verbose ? host.debug : () => {},
    output: host.output,
  };
}

/** Whether project.toml names a builder (`[io.buildpacks] builder`). */
async function projectNamesBuilder(appDir: string, descriptor: string | undefined): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(descriptor ?? join(appDir, "project.toml"), "utf8");
  } catch {
    return false;
  }
  try {
    const doc = (await parseToml(text)) as { io?: { buildpacks?: { builder?: string } } };
    return Boolean(doc.io?.buildpacks?.builder);
  } catch {
    return false; // the build reports a malformed project.toml itself
  }
}

/**
 * pack's pull policy for a named builder and its run image (`runImage`, else the builder's first), for
 * `platform` (`--platform`) when given: an index's image for it.
 */
async function pullBuildImages(
  host: Host,
  builder: string,
  runImage: string | undefined,
  policy: PackPullPolicy,
  target: ImageArgument,
  platform: Platform | undefined,
): Promise<void> {
  await ensureInStore(host, builder, policy, "builder", platform);
  // The run image: with if-not-present the build itself reads it from the store, else from its registry in
  // place (as pack's lifecycle does: a --publish build then mounts its layers, downloading none); always and
  // never are settled here.
  if (policy === "if-not-present") return;
  if (runImage !== undefined) {
    await ensureInStore(host, runImage, policy, "run image", platform);
    return;
  }
  const { chooseRunImage, labelRunImages, readBuilderInfo } = await loadCnb();
  const opened = await openImage(builder, host.ctx, platform);
  let names: { image: string; mirrors?: string[] }[];
  try {
    names = labelRunImages(readBuilderInfo(opened.image, builder).metadata);
  } finally {
    await opened.close();
  }
  if (!names.length) return;
  // pack's rule: --platform, else the builder's own
  const runPlatform = platform ?? opened.image.platform();
  await ensureInStore(host, chooseRunImage(target, undefined, names).name, policy, "run image", runPlatform);
}

/** The default builder, made on first use (stack, then builder); returns its name. */
export async function defaultBuilder(
  o: HostOptions & { defaultBuilderToml?: string; trustHostCas?: boolean; verbose?: boolean },
): Promise<string> {
  const host = hostOf(o);
  const { ensureDefaultBuilder, readExtraCas } = await loadStack();
  const made = await ensureDefaultBuilder({
    ctx: host.ctx,
    builderToml: o.defaultBuilderToml ?? packagePath("builders", "default", "builder.toml"),
    isRoot: host.uid === 0,
    searchPath: host.searchPath || undefined,
    // The host's own CAs (a company's, a proxy's) are trusted in the default stack, so that npm and pip work.
    extraCas: await readExtraCas([], o.trustHostCas ?? true, host.cwd),
    logger: phaseLogger(host, Boolean(o.verbose)),
  });
  return made.name;
}

/**
 * Build an app with Cloud Native Buildpacks, as `berth build --path PATH IMAGE` (and `pack build`) does:
 * the builder (named, project.toml's, or the default one, made on first use) pulled by `pullPolicy`, the
 * phases run in berth's sandbox, the image written to `image`. Resolves with the `--json` document.
 */
export function build(o: BuildOptions): Promise<BuildResult> {
  return withShared(o, (o) => buildOnce(o));
}

/** What `build`'s options ask for, checked: the engine, the isolation and, with --isolation host, the step's folders. */
function buildSettings(o: BuildOptions, host: Host) {
  const engine = o.lifecycle ?? "berth";
  if (engine !== "berth" && engine !== "builder") {
    throw new BerthError("USAGE", `--lifecycle ${JSON.stringify(engine)} must be berth or builder`);
  }
  if (o.trustBuilder && engine !== "builder") {
    throw new BerthError("USAGE", "--trust-builder only matters with --lifecycle builder");
  }
  const policy = parsePackPullPolicy(o.pullPolicy ?? "if-not-present");
  const isolation = o.isolation ?? "sandbox";
  if (isolation !== "sandbox" && isolation !== "host") {
    throw new BerthError("USAGE", `--isolation ${JSON.stringify(isolation)} must be sandbox or host`);
  }
  if (isolation === "host" && engine === "builder") {
    throw new BerthError(
      "USAGE",
      "--lifecycle builder runs the builder's lifecycle in the sandbox, not with --isolation host",
    );
  }
  const step =
    isolation === "host"
      ? {
          appDir: resolve(host.cwd, o.step?.appDir ?? "/workspace"),
          layersDir: resolve(host.cwd, o.step?.layersDir ?? "/layers"),
          platformDir: resolve(host.cwd, o.step?.platformDir ?? "/platform"),
          user: o.step?.user ?? { uid: host.uid, gid: host.gid },
        }
      : undefined;
  const platform = buildpacksPlatform(o.platform);
  if (step && platform && !platformMatches(hostPlatform(), platform)) {
    throw new BerthError(
      "USAGE",
      `--platform ${formatPlatform(platform)} cannot be built with --isolation host: the buildpacks run on this machine, ${formatPlatform(hostPlatform())}`,
      {
        hint: "leave out --platform, or build in the sandbox (without --isolation host), where a foreign builder runs under qemu-user-static",
      },
    );
  }
  return { engine, policy, step, platform };
}

/** `--platform` of a buildpacks build: one platform, as pack's (a buildpacks build makes one image). */
function buildpacksPlatform(text: string | undefined): Platform | undefined {
  if (!text) return undefined;
  const platforms = parsePlatformList(text);
  if (platforms.length > 1) {
    throw new BerthError(
      "USAGE",
      `--platform ${text} names ${platforms.length} platforms; a buildpacks build makes one image, for one platform`,
      { hint: `give one (--platform ${formatPlatform(platforms[0])}) and build once per platform` },
    );
  }
  return platforms[0];
}

/** One call of `build`, with the shared state it was given. */
async function buildOnce(o: BuildOptions): Promise<BuildResult> {
  const host = hostOf(o);
  const publish = Boolean(o.publish);
  const target = targetOf(o.image, publish);
  const appDir = resolve(host.cwd, o.path ?? ".");
  const descriptor = o.descriptor === undefined ? undefined : resolve(host.cwd, o.descriptor);
  const network = o.network === undefined ? undefined : parseNetworkMode(o.network);
  const { engine, policy, step, platform } = buildSettings(o, host);
  let builder = o.builder;
  if (step) {
    // Inside a build step the builder is the filesystem berth runs on, unless one is named.
    if (builder !== undefined) await pullBuildImages(host, builder, o.runImage, policy, target, platform);
  } else if (builder === undefined && !(await projectNamesBuilder(appDir, descriptor))) {
    // berth's own default builder (and its run image) are made here, never pulled, for this machine only
    if (platform && !platformMatches(hostPlatform(), platform)) {
      throw new BerthError(
        "PLATFORM_NOT_FOUND",
        `berth's default builder is made for this machine, ${formatPlatform(hostPlatform())}, not --platform ${formatPlatform(platform)}`,
        { hint: `give -B a builder with a ${formatPlatform(platform)} image` },
      );
    }
    builder = await defaultBuilder(o);
    host.info(`Using the default builder ${builder}`);
  } else if (builder !== undefined) {
    await pullBuildImages(host, builder, o.runImage, policy, target, platform);
  }
  const env = Array.isArray(o.env) ? [...o.env] : Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const { buildWithLifecycle, buildWithBuildpacks: cnbBuild, cnbImageInfo } = await loadCnb();
  const r = await (engine === "builder" ? buildWithLifecycle : cnbBuild)({
    ...(engine === "builder" ? { trustBuilder: Boolean(o.trustBuilder) } : {}),
    appDir,
    image: target,
    builder: builder || undefined,
    runImage: o.runImage || undefined,
    ...(platform ? { platform } : {}),
    env,
    ...(o.envFile ? { envFile: resolve(host.cwd, o.envFile) } : {}),
    buildpacks: o.buildpacks ?? [],
    cwd: host.cwd,
    disableSystemBuildpacks: Boolean(o.disableSystemBuildpacks),
    ...(o.cacheDir ? { cacheDir: resolve(host.cwd, o.cacheDir) } : {}),
    cacheImage: o.cacheImage || undefined,
    clearCache: Boolean(o.clearCache),
    previousImage: o.previousImage || undefined,
    publish,
    // the lifecycle's rule: SOURCE_DATE_EPOCH is the image's created time; pack's --creation-time, when given, wins
    creationTime: o.creationTime || (o.sourceDateEpoch === undefined ? undefined : String(o.sourceDateEpoch)),
    defaultProcess: o.defaultProcess || undefined,
    ...(o.sbomOutputDir ? { sbomOutputDir: resolve(host.cwd, o.sbomOutputDir) } : {}),
    ...(o.reportOutputDir ? { reportOutputDir: resolve(host.cwd, o.reportOutputDir) } : {}),
    descriptor: descriptor || undefined,
    network,
    runtime: host.runtime || undefined,
    ...(step
      ? {
          isolation: "host" as const,
          step,
          ...(o.reportPath ? { reportPath: resolve(host.cwd, o.reportPath) } : {}),
        }
      : {}),
    ctx: host.ctx,
    hostEnv: host.env,
    asRoot: host.uid === 0,
    dockerfileEngine: dockerfileEngine(host.ctx, {
      network,
      runtime: host.runtime || undefined,
      searchPath: host.searchPath || undefined,
    }),
    logger: phaseLogger(host, Boolean(o.verbose)),
    now: o.now ?? (() => new Date()),
    signal: o.signal,
  });
  const image = await readBuilt(target.text, host.ctx);
  const tags = await tagAgain(o, target, host);
  return { ...buildResult(o, r, image, cnbImageInfo(image, target.text)), tags };
}

/**
 * pack's additional `--tag`s: the built image copied to each (a store name, any transport, or with `publish` a
 * registry reference; the manifest's bytes kept but into a docker-archive, so the digest is the build's), after the
 * build wrote `target`.
 * The names the image has, the build's first.
 */
async function tagAgain(o: BuildOptions, target: ImageArgument, host: Host): Promise<string[]> {
  const more = [...new Set(o.tags ?? [])].filter((t) => t !== o.image);
  const { copyImage } = await import("../transport/copy.ts");
  for (const tag of more) {
    host.info(`Tagging ${tag}`);
    await copyImage(target, targetOf(tag, Boolean(o.publish)), host.ctx);
  }
  return [o.image, ...more];
}

type BuildpacksResult = Awaited<ReturnType<typeof buildWithBuildpacks>>;
type EngineResult = BuildpacksResult | Awaited<ReturnType<typeof buildWithLifecycle>>;

/** The `--json` document of a buildpacks build: what the engine reported and the image it wrote. */
function buildResult(
  o: BuildOptions,
  r: EngineResult,
  image: Image,
  cnb: ReturnType<typeof cnbImageInfo>,
): BuildResult {
  const { stats, group } = r as Partial<BuildpacksResult>;
  return {
    schemaVersion: 1,
    way: "buildpacks",
    image: o.image,
    digest: r.digest,
    imageId: (r as { imageId?: string }).imageId ?? image.manifest.config.digest,
    tags: [o.image],
    processes: (cnb?.processes ?? []).map((p) => ({
      type: p.type,
      command: [p.command, ...p.args],
      workDir: p.workDir || undefined,
      default: p.default,
    })),
    layers: { total: image.manifest.layers.length, reused: stats?.reused ?? 0 },
    buildpacks: (group ?? cnb?.buildpacks ?? []).map((g) => ({ id: g.id, version: g.version })),
  };
}

/** `berth build --dockerfile`'s flags as options (BuildKit's names and meanings). */
export interface DockerfileBuildOptions extends HostOptions {
  /** The build context folder; default `cwd`. */
  context?: string;
  /** The Dockerfile; default CONTEXT/Dockerfile (relative paths: to `cwd`). */
  file?: string;
  /**
   * The image(s) to write (each with the same digest): store names, any transport, or with `publish` registry
   * references. None when `outputs` say where the build goes.
   */
  tags: string | string[];
  /**
   * BuildKit's `--output` values (output-spec.ts): `type=local,dest=DIR`, `type=tar,dest=FILE|-`, `DIR`, `-`,
   * `type=image|registry|oci|docker,…` (more image destinations). Relative paths: to `cwd`.
   */
  outputs?: string[];
  /** Where `-o -` (a tar to standard output) writes. */
  stdout?: Writable | undefined;
  /** docker build's `--label KEY=VALUE` (KEY alone: an empty value), or a record: on the image, over LABEL. */
  labels?: string[] | Record<string, string>;
  /** Write straight to the registry. */
  publish?: boolean;
  /** `KEY=VALUE`, or `KEY` alone to take it from `hostEnv`; or a record. */
  buildArgs?: string[] | Record<string, string>;
  /** The stage to build; default the last. */
  target?: string | undefined;
  /**
   * os/arch[/variant]; default this machine's. Several, comma-separated (docker buildx's
   * `linux/amd64,linux/arm64`), build an image index with one image per platform.
   */
  platform?: string | undefined;
  /** Run every step, using no cached result. */
  noCache?: boolean;
  /**
   * BuildKit's `--cache-to` values: `type=registry,ref=REF[,mode=min|max]…`, `type=local,dest=DIR…`,
   * `type=inline`.
   */
  cacheTo?: string[];
  /** BuildKit's `--cache-from` values: `type=registry,ref=REF`, `type=local,src=DIR`, or a reference. */
  cacheFrom?: string[];
  /** docker buildx's `id=ID,src=FILE` or `id=ID,env=VARIABLE` (`hostEnv`) for RUN --mount=type=secret. */
  secrets?: string[];
  /**
   * `default`, `default=SOCKET` or `ID=SOCKET` for RUN --mount=type=ssh (`default` alone: SSH_AUTH_SOCK of
   * `hostEnv`).
   */
  ssh?: string[];
  /** RUN's network when the step names none: "default" (private, outbound access), "host", "none". */
  network?: string | undefined;
  /** BuildKit's entitlements: `network.host` lets `RUN --network=host` use the host's network. */
  allow?: string[];
  /**
   * docker buildx's `--build-context NAME=VALUE`: VALUE a directory, `docker-image://REF` or
   * `oci-layout://DIR[:TAG|@DIGEST]` (relative paths: to `cwd`), read by FROM NAME, --from=NAME and
   * RUN --mount=from=NAME in place of the stage or image of that name (a later NAME wins).
   */
  buildContexts?: string[];
  /** docker's `--add-host HOST:IP`: lines in RUN's /etc/hosts (not in the image). */
  addHosts?: string[];
  /** docker build's `--pull`: base images named without a transport are read from their registry. */
  pull?: boolean;
  /**
   * docker buildx's `--annotation [TYPE[PLATFORM],…:]KEY=VALUE` (TYPE manifest, the default,
   * manifest-descriptor, index, index-descriptor), as BuildKit's image exporter writes them; `-o`'s
   * `annotation*` attributes too (repeatable).
   */
  annotations?: string[];
  /** docker buildx's `--shm-size`: RUN's /dev/shm, bytes or `128m` (docker's RAMInBytes; default 64 MiB). */
  shmSize?: string | undefined;
  /** docker buildx's `--ulimit TYPE=SOFT[:HARD]`: RUN's process rlimits (repeatable). */
  ulimits?: string[];
  /** docker buildx's `--cgroup-parent`: RUN's cgroup is PARENT/buildkit/ID (BuildKit's runc executor's). */
  cgroupParent?: string | undefined;
  /** docker buildx's `--no-cache-filter`: stages whose steps all run, using no cached result. */
  noCacheFilter?: string[];
  /**
   * docker buildx's `--provenance` (`true`, `false`, or `mode=min|max,version=v0.2|v1,builder-id=…`) and
   * `--attest type=provenance,…`: a SLSA provenance attestation in an index with the image (BuildKit's).
   */
  provenance?: string | undefined;
  attest?: string[];
  /** docker buildx's `--load`: the store's image without attestations (as docker's exporter loads it). */
  load?: boolean;
  /** docker buildx's `--sbom`: refused unless `false` (berth makes no SBOM attestation). */
  sbom?: string | undefined;
  /**
   * Stages built at once when they do not need each other (default: the CPUs, at least 2; 1: one after
   * another; the image is the same either way).
   */
  stageJobs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** The Dockerfile was named by project.toml: it must lie inside the context (berth build's own use). */
  fileInContext?: boolean;
  /** A remote or standard-input context: its `.dockerignore` is not applied, as BuildKit's (berth build's use). */
  noIgnoreFile?: boolean;
}

/** `--label KEY=VALUE` (KEY alone: empty, as docker's), the last of a key winning. */
function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    if (i === 0 || v === "")
      throw new BerthError("USAGE", `--label ${JSON.stringify(v)} must be KEY=VALUE`, {
        hint: "--label org.opencontainers.image.version=1.2",
      });
    if (i < 0) out[v] = "";
    else out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/** `-o` values: the image destinations they add, and the filesystem exports. */
function outputsOf(o: DockerfileBuildOptions, cwd: string) {
  const destinations: ImageArgument[] = [];
  const exports: FilesystemExport[] = [];
  const annotated: { text: string; annotations: Annotation[] }[] = [];
  for (const spec of (o.outputs ?? []).map(parseOutput)) {
    if (spec.type === "image") {
      destinations.push(parseImageArgument(spec.destination));
      if (spec.annotations.length) annotated.push(spec);
      continue;
    }
    const { prefix, text } = spec;
    if (spec.type === "local")
      exports.push({ type: "local", dir: resolve(cwd, spec.dest), split: spec.split, prefix, text });
    else if (spec.dest !== "-") exports.push({ type: "tar", to: resolve(cwd, spec.dest), prefix, text });
    else if (o.stdout) exports.push({ type: "tar", to: o.stdout, prefix, text });
    else
      throw new BerthError(
        "USAGE",
        `-o ${spec.text}: this caller gave no standard output to write the tar to`,
      );
  }
  return { destinations, exports, annotated };
}

/**
 * The build's annotations: `-o`'s attributes, then `--annotation`s (buildx writes those into every output's
 * attributes over its own). berth writes one image to every destination, so image outputs giving different
 * annotations are refused; the checks BuildKit's image writer makes are made before anything runs, and a
 * docker-archive (no manifest, no index) is said to go without them.
 */
function annotationsOf(
  o: DockerfileBuildOptions,
  outputs: ReturnType<typeof outputsOf>,
  inputs: Pick<BuildInputs, "destinations" | "provenance" | "load">,
  platforms: { list: readonly Platform[]; multi: boolean },
  info: (line: string) => void,
): Annotation[] {
  const fromOutputs = outputs.annotated[0];
  const shape = (l: readonly Annotation[]) =>
    JSON.stringify(l.map((a) => [a.type, a.platform && formatPlatform(a.platform), a.key, a.value]));
  const other = outputs.annotated.find((x) => shape(x.annotations) !== shape(fromOutputs!.annotations));
  if (other) {
    throw new BerthError(
      "USAGE",
      `-o ${fromOutputs!.text} and -o ${other.text} give different annotations, and berth writes one image to every destination`,
      { hint: "give the annotations once, with --annotation" },
    );
  }
  const list = [...(fromOutputs?.annotations ?? []), ...(o.annotations ?? []).flatMap(parseAnnotationFlag)];
  const { destinations, provenance, load } = inputs;
  // no image written (-o type=local|tar alone): BuildKit's filesystem exporters take no annotation
  if (!list.length || !destinations.length) return list;
  const plain = (d: ImageArgument) => d.transport === "docker-archive" || (load && d.transport === "store");
  const indexWritten = platforms.multi || (provenance !== undefined && destinations.some((d) => !plain(d)));
  checkAnnotations(list, platforms.list, indexWritten);
  const archive = destinations.find((d) => d.transport === "docker-archive");
  if (archive)
    info(
      `--annotation: ${archive.text} is a docker-archive, which holds no manifest and no index: its image goes without them`,
    );
  return list;
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

export function parseBuildArgs(
  values: readonly string[],
  env: Record<string, string | undefined>,
): Record<string, string> {
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

/**
 * The build's SOURCE_DATE_EPOCH as BuildKit takes it: the `SOURCE_DATE_EPOCH` build arg's (dockerui's; empty:
 * none), else `fromEnv` (the environment's), which buildx passes on as that build arg when none is given, so that
 * an `ARG SOURCE_DATE_EPOCH` sees it: added to `buildArgs` here.
 */
function epochOf(buildArgs: Record<string, string>, fromEnv: number | undefined): number | undefined {
  const given = buildArgs.SOURCE_DATE_EPOCH;
  if (given === undefined) {
    if (fromEnv !== undefined) buildArgs.SOURCE_DATE_EPOCH = String(fromEnv);
    return fromEnv;
  }
  if (given === "") return undefined;
  // Go's strconv.ParseInt(v, 10, 64): an optional sign, decimal digits, within int64
  if (!/^[+-]?\d+$/.test(given) || !Number.isSafeInteger(Number(given))) {
    throw new BerthError(
      "USAGE",
      `--build-arg SOURCE_DATE_EPOCH=${given}: invalid SOURCE_DATE_EPOCH (seconds since 1970 as a whole number)`,
      { hint: "e.g. --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)" },
    );
  }
  return Number(given);
}

/**
 * `--secret` as docker buildx takes it: `id=ID` with `src=FILE` (or `source=`), or `env=VARIABLE` (the secret
 * is the variable's value), `type=file|env` (with type=env, src= names the variable); with neither, the
 * variable named ID if it is set, else the file ID (BuildKit's secrets provider). An unset variable is refused
 * (BuildKit would give an empty secret). Messages name the variable, never its value.
 */
function parseSecrets(
  values: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Record<string, SecretSource> {
  const out: Record<string, SecretSource> = {};
  const known = new Set(["type", "id", "src", "source", "env"]);
  for (const v of values) {
    // messages show the fields berth knows; anything else might be a value pasted in by mistake
    const shown = v
      .split(",")
      .map((f) => (known.has(f.slice(0, Math.max(0, f.indexOf("="))).toLowerCase()) ? f : "…"))
      .join(",");
    const bad = (why: string, hint?: string) =>
      new BerthError(
        "USAGE",
        `--secret ${JSON.stringify(shown)}: ${why}`,
        hint === undefined ? {} : { hint },
      );
    let id: string | undefined;
    let src: string | undefined;
    let variable: string | undefined;
    let type: string | undefined;
    for (const field of v.split(",")) {
      const i = field.indexOf("=");
      if (i < 0) throw bad("each field must be a key=value pair");
      const value = field.slice(i + 1);
      switch (field.slice(0, i).toLowerCase()) {
        case "type":
          if (value !== "file" && value !== "env") throw bad(`type=${value} must be file or env`);
          type = value;
          break;
        case "id":
          id = value;
          break;
        case "src":
        case "source":
          src = value;
          break;
        case "env":
          variable = value;
          break;
        default:
          throw bad(`unknown key ${JSON.stringify(field.slice(0, i))} (id, src, source, env, type)`);
      }
    }
    if (!id) throw bad("needs id=", "as --secret id=ID,src=FILE or --secret id=ID,env=VARIABLE");
    if (type === "env" && variable === undefined) [variable, src] = [src ?? id, undefined];
    if (type === "file" && variable !== undefined) throw bad("type=file takes src=, not env=");
    if (variable !== undefined && src !== undefined) throw bad("give src= or env=, not both");
    if (variable === undefined && src === undefined) {
      if (env[id] !== undefined) variable = id;
      else src = id;
    }
    if (variable !== undefined) {
      const value = env[variable];
      if (value === undefined)
        throw bad(`the environment variable ${variable} is not set`, `export ${variable}, or give src=FILE`);
      out[id] = { env: variable, value };
    } else out[id] = { file: resolve(cwd, src!) };
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

/**
 * Build an image from a Dockerfile, as `berth build --dockerfile` (and `docker build`) does: steps cached
 * under BERTH_HOME/cache/dockerfile, RUN in berth's sandbox, reproducible with `sourceDateEpoch`. Resolves
 * with the `--json` document.
 */
export function buildDockerfile(o: DockerfileBuildOptions): Promise<BuildResult> {
  return withShared(o, (o) => buildDockerfileOnce(o));
}

/** One call of `buildDockerfile`, with the shared state it was given. */
async function buildDockerfileOnce(o: DockerfileBuildOptions): Promise<BuildResult> {
  const host = hostOf(o);
  const publish = Boolean(o.publish);
  const tags = typeof o.tags === "string" ? [o.tags] : [...(o.tags ?? [])];
  const outputs = outputsOf(o, host.cwd);
  if (!tags.length && !o.outputs?.length)
    throw new BerthError("USAGE", "no image to write", { hint: "give tags, e.g. app:1, or outputs" });
  const destinations = [...tags.map((t) => targetOf(t, publish)), ...outputs.destinations];
  const contextDir = resolve(host.cwd, o.context ?? ".");
  const file = o.file === undefined ? join(contextDir, "Dockerfile") : resolve(host.cwd, o.file);
  const buildArgs = Array.isArray(o.buildArgs)
    ? parseBuildArgs(o.buildArgs, host.env)
    : { ...(o.buildArgs ?? {}) };
  const sourceDateEpoch = epochOf(buildArgs, o.sourceDateEpoch);
  const builtin = builtinArgs(buildArgs);
  const platforms = o.platform ? parsePlatformList(o.platform) : [];
  if (platforms.length > 1 && builtin.multiPlatform === false) {
    throw new BerthError(
      "USAGE",
      `--platform ${o.platform} with --build-arg BUILDKIT_MULTI_PLATFORM=${buildArgs.BUILDKIT_MULTI_PLATFORM}: conflicting config: returning multiple target platforms is not allowed`,
      { hint: "leave out BUILDKIT_MULTI_PLATFORM, or give one platform" },
    );
  }
  const cacheTo = (o.cacheTo ?? []).map(parseCacheTo);
  // BUILDKIT_INLINE_CACHE=1 is buildx's --cache-to type=inline
  if (builtin.inlineCache && !cacheTo.some((c) => c.type === "inline"))
    cacheTo.push(parseCacheTo("type=inline"));
  const inputs: BuildInputs = {
    contextDir,
    dockerfile: { path: file, ...(o.fileInContext ? { inContext: true } : {}) },
    ...(o.noIgnoreFile ? { noIgnoreFile: true } : {}),
    buildArgs,
    target: o.target || undefined,
    platform: platforms.length === 1 ? platforms[0] : undefined,
    noCache: Boolean(o.noCache),
    noCacheStages: o.noCacheFilter ?? [],
    pull: Boolean(o.pull),
    contexts: [
      ...new Map(
        (o.buildContexts ?? [])
          .map((v) => parseBuildContext(v, host.cwd))
          .map((c) => [`${c.name}::${c.platform ?? ""}`, c]),
      ).values(),
    ],
    extraHosts: (o.addHosts ?? []).map(parseAddHost),
    hostname: builtin.hostname,
    cacheMountNamespace: builtin.cacheMountNamespace,
    shmSize: o.shmSize ? parseShmSize(o.shmSize) : undefined,
    ulimits: parseUlimits(o.ulimits ?? []),
    cgroupParent: o.cgroupParent || undefined,
    cacheTo,
    cacheFrom: (o.cacheFrom ?? []).map(parseCacheFrom),
    secrets: parseSecrets(o.secrets ?? [], host.env, host.cwd),
    ssh: parseSsh(o.ssh ?? [], host.env, host.cwd),
    sourceDateEpoch,
    destinations,
    exports: outputs.exports,
    labels: Array.isArray(o.labels) ? parseLabels(o.labels) : o.labels,
    runtime: host.runtime || undefined,
    searchPath: host.searchPath || undefined,
    ...(o.network ? { network: parseNetworkMode(o.network) } : {}),
    allow: parseEntitlements(o.allow ?? []),
    stageJobs: o.stageJobs,
    load: Boolean(o.load),
    provenance: parseAttestations({ provenance: o.provenance, sbom: o.sbom, attest: o.attest ?? [] }),
    log: host.info,
    onOutput: (chunk, stream) => host.output(chunk, stream),
    onStep: o.logger?.step,
    onWarning: o.logger?.warning,
    signal: o.signal,
  };
  // several platforms, or BUILDKIT_MULTI_PLATFORM: an index (and a folder per platform), one platform too
  const multi = platforms.length > 1 || Boolean(builtin.multiPlatform);
  const list = platforms.length ? platforms : [hostPlatform()];
  inputs.annotations = annotationsOf(o, outputs, inputs, { list, multi }, host.info);
  if (multi) {
    const r = await buildPlatforms(inputs, list, host.ctx);
    const doc = await dockerfileDocument(r.platforms[0]!.result, tags, destinations[0], host, list[0]);
    return {
      ...doc,
      digest: r.digest,
      descriptor: annotated(r.descriptor, annotationsFor(inputs.annotations).indexDescriptor),
      manifests: r.platforms.map((p) => ({
        platform: formatPlatform(p.platform),
        digest: p.result.digest,
        imageId: p.result.configDigest,
      })),
      steps: r.platforms.flatMap((p) =>
        stepsOf(p.result).map((st) => ({ ...st, platform: formatPlatform(p.platform) })),
      ),
    };
  }
  const result = await new DockerfileBuild(inputs, host.ctx).build();
  const doc = await dockerfileDocument(result, tags, destinations[0], host);
  // the root's descriptor annotations: the index's (with provenance), else the image's alone (none scoped)
  const notes = annotationsFor(inputs.annotations);
  const descriptorNotes = result.provenance?.index ? notes.indexDescriptor : notes.manifestDescriptor;
  return { ...doc, descriptor: annotated(doc.descriptor!, descriptorNotes) };
}

/** A descriptor with annotations, when there are any. */
function annotated<D extends object>(desc: D, annotations: Record<string, string>): D {
  return Object.keys(annotations).length ? { ...desc, annotations } : desc;
}

/** `platform`'s image in the index written to `destination`. */
async function writtenImage(destination: ImageArgument, host: Host, platform: Platform): Promise<Image> {
  const opened = await openImage(destination, host.ctx, platform);
  await opened.close();
  return opened.image;
}

/** `--json`'s steps of a Dockerfile build. */
function stepsOf(result: DockerfileResult): NonNullable<BuildResult["steps"]> {
  return result.steps.map((st) => ({
    stage: st.stage,
    step: st.step,
    instruction: st.instruction,
    cached: st.cached,
  }));
}

/**
 * The `--json` document of a Dockerfile build: of the image the build wrote (not read back from where it went,
 * a registry round trip for --publish), or `platform`'s of the index written.
 */
async function dockerfileDocument(
  result: DockerfileResult,
  tags: string[],
  destination: ImageArgument | undefined,
  host: Host,
  platform?: Platform,
): Promise<BuildResult> {
  if (result.unusedBuildArgs.length) {
    host.info(`[Warning] one or more build-args [${result.unusedBuildArgs.join(" ")}] were not consumed`);
  }
  // an -o type=local|tar build writes no image: its document is of the image it exported
  const image = platform && destination ? await writtenImage(destination, host, platform) : result.image;
  const cfg = image.config?.config;
  const command = [...(cfg?.Entrypoint ?? []), ...(cfg?.Cmd ?? [])];
  const final = result.stages[result.stages.length - 1];
  // layers this build wrote: one per RUN, COPY or ADD step of the target stage that did not come from the cache
  const written = result.steps.filter(
    (st) => st.stage === final && !st.cached && /^(RUN|COPY|ADD)\b/i.test(st.instruction),
  ).length;
  const total = image.manifest.layers.length;
  // with provenance, the index of the image and its attestation is what was written
  const root = result.provenance?.index ?? result.image;
  return {
    schemaVersion: 1,
    way: "dockerfile",
    image: tags[0] ?? destination?.text ?? "",
    digest: root.digest,
    descriptor: { mediaType: root.mediaType, digest: root.digest, size: root.descriptor.size },
    imageId: result.configDigest,
    tags,
    processes: command.length
      ? [{ type: "default", command, workDir: cfg?.WorkingDir || undefined, default: true }]
      : [],
    layers: { total, reused: Math.max(0, total - written) },
    steps: stepsOf(result),
    unusedBuildArgs: result.unusedBuildArgs,
    warnings: result.warnings.map((w) => ({
      rule: w.rule,
      description: RULES[w.rule],
      url: ruleUrl(w.rule),
      detail: w.detail,
      line: w.line,
    })),
  };
}

/**
 * `berth build --check` (buildx's `--call=check`): BuildKit's build checks on the Dockerfile, every stage (the
 * target's, given one), its stages' base images read for their env; no step runs and nothing is written.
 */
type CheckBuildOptions = Pick<
  DockerfileBuildOptions,
  | keyof HostOptions
  | "context"
  | "file"
  | "fileInContext"
  | "noIgnoreFile"
  | "buildArgs"
  | "target"
  | "platform"
  | "pull"
  | "buildContexts"
>;

export function checkDockerfileBuild(o: CheckBuildOptions): Promise<CheckResult> {
  return withShared(o, async (o) => {
    const host = hostOf(o);
    return checkDockerfile(checkInputs(o, host), host.ctx);
  });
}

/**
 * buildx's `--call outline` / `--call targets`: what the Dockerfile's target asks for (its build args,
 * secrets and SSH ids) or its stages, as BuildKit's result JSON and buildx's text of it, nothing built.
 */
export function callDockerfileBuild(what: Subrequest, o: CheckBuildOptions): Promise<SubrequestResult> {
  return withShared(o, async (o) => {
    const host = hostOf(o);
    return callSubrequest(what, checkInputs(o, host), host.ctx);
  });
}

/** The checks' and subrequests' inputs: the context, the Dockerfile, build args, target, platform. */
function checkInputs(o: CheckBuildOptions, host: Host): CheckInputs {
  const contextDir = resolve(host.cwd, o.context ?? ".");
  const platforms = o.platform ? parsePlatformList(o.platform) : [];
  return {
    contextDir,
    dockerfile: {
      path: o.file === undefined ? join(contextDir, "Dockerfile") : resolve(host.cwd, o.file),
      ...(o.fileInContext ? { inContext: true } : {}),
    },
    ...(o.noIgnoreFile ? { noIgnoreFile: true } : {}),
    buildArgs: Array.isArray(o.buildArgs)
      ? parseBuildArgs(o.buildArgs, host.env)
      : { ...(o.buildArgs ?? {}) },
    target: o.target || undefined,
    platform: platforms[0],
    pull: Boolean(o.pull),
    contexts: (o.buildContexts ?? []).map((v) => parseBuildContext(v, host.cwd)),
  };
}
