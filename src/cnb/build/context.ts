/**
 * The context every step of a buildpacks run shares (`berth build` and `berth detect` alike): the builder and
 * the order to detect, the directories (the app copy, layers, platform) owned by the builder's CNB user, the
 * platform env, the executor (the build image through the runtime's sandbox, or this machine) and the
 * lifecycle's base environment. A step is a function of this context that returns values.
 */
import { existsSync } from "node:fs";
import { chown, cp, mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import { hostPlatform, type Platform } from "../../oci/platform.ts";
import { emulationOptions, ensureEmulation, type NetworkMode } from "../../runtime/index.ts";
import type { TransportContext } from "../../transport/context.ts";
import type { ModuleRef, Order } from "../buildpack/descriptor.ts";
import { Env } from "../buildpack/env.ts";
import { syncTree } from "../cache/workspace.ts";
import { type CnbPaths, type Executor, hostExecutor, sandboxExecutor } from "../executor.ts";
import type { PhaseLogger } from "../log.ts";
import type { DockerfileEngine } from "../phase/extend.ts";
import { pruneLayersDir } from "../phase/restore.ts";
import { type ExtractedBuilder, openBuilder } from "../platform/builder.ts";
import { writeBuildPlatformEnv } from "../platform/env.ts";
import { openLocalBuilder } from "../platform/local-builder.ts";
import { locateBuildpack, orderFromBuildpackArgs } from "../platform/locator.ts";
import {
  type ProjectBuildpack,
  type ProjectDescriptor,
  projectDir,
  projectSourceFilter,
  writeInlineBuildpack,
} from "../platform/project.ts";
import { withSystemBuildpacks } from "../platform/system.ts";
import { completeTarget, type TargetData } from "../platform/target.ts";

export type Isolation = "sandbox" | "host";

export interface RunOptions {
  /** `--builder`, in any transport (with `localBuilder`: the name messages use). */
  builder: string;
  /**
   * Inside a build step (`--isolation host` with no `--builder`): the builder is the filesystem berth runs
   * on (`<root>/cnb`, platform/local-builder.ts), buildpacks run from there as berth's own user.
   */
  localBuilder?: { root?: string; user: { uid: number; gid: number } };
  /**
   * Inside a build step: `workspace` and `layersDir` are the step's own (CNB_APP_DIR, CNB_LAYERS_DIR), and the
   * image holds the app and the layers there, as the lifecycle exports them.
   */
  inStep?: boolean | undefined;
  /**
   * The platform directory the step was given (CNB_PLATFORM_DIR): used as is when berth adds no env to it,
   * else copied into this run's own before `-e`/`--env-file` are written.
   */
  platformDir?: string;
  /** `--platform`: the builder's, run image's and buildpack images' platform (default the builder's own). */
  platform?: Platform | undefined;
  ctx: TransportContext;
  /** The app's folder and the project descriptor read from it, if any. */
  appDir: string;
  project?: ProjectDescriptor | undefined;
  /** Where the app copy buildpacks work on goes (kept between builds of one image: only changes are copied). */
  workspace: string;
  /** The layers directory: kept layer directories stay for restore; `clear` starts from nothing. */
  layersDir: string;
  clearLayers?: boolean;
  /** A folder of this run only (the builder, the platform dir, the sandbox's upper dir); the caller removes it. */
  work: string;
  /** `-e K=V` / bare `K`, and `--env-file`s (after project.toml's build env, before `-e`). */
  env?: readonly string[] | undefined;
  envFiles?: readonly string[];
  /** `--buildpack` arguments as pack takes them (platform/locator.ts); they replace the builder's order. */
  buildpacks?: readonly string[];
  /** The folder relative `--buildpack` paths are resolved against (pack: the current directory). */
  cwd?: string;
  /** pack's `--disable-system-buildpacks`. */
  disableSystemBuildpacks?: boolean;
  /** "sandbox" (default): buildpacks run in the build image; "host": on this machine. */
  isolation?: Isolation;
  /** On this machine as root, run buildpacks as the CNB user (`berth build`, as the lifecycle) or as berth's. */
  hostUser?: "cnb" | "berth";
  /** OCI runtime for the sandbox. */
  runtime?: string | undefined;
  network?: NetworkMode | undefined;
  /** Whether berth runs as root (then the directories are given to the CNB user, as the lifecycle does). */
  asRoot?: boolean;
  /** The host's environment, for bare `-e K`, the host executor and the search path. */
  hostEnv?: Record<string, string | undefined>;
  logger: PhaseLogger;
  /** Applies image extensions' Dockerfiles (berth's Dockerfile engine; the CLI wires it). */
  dockerfileEngine?: DockerfileEngine;
  signal?: AbortSignal | undefined;
}

export interface RunContext {
  readonly o: RunOptions;
  readonly log: PhaseLogger;
  readonly builder: ExtractedBuilder;
  /** The order detection walks, with the builder's system buildpacks unless disabled. */
  readonly order: Order;
  readonly paths: CnbPaths;
  readonly owner: { uid: number; gid: number };
  readonly executor: Executor;
  /** The lifecycle's own environment (`Env.forBuild` of the build image's, or of the host's). */
  readonly env: Env;
  /** Run `close` when the run ends (last registered first). */
  defer(close: () => Promise<void>): void;
  close(): Promise<void>;
}

export async function openRun(o: RunOptions): Promise<RunContext> {
  const builder = await (o.localBuilder
    ? openLocalBuilder(o.localBuilder)
    : openBuilder(o.builder, o.ctx, join(o.work, "builder"), o.platform)
  ).catch((err) => {
    // a builder with no image for the platform is refused in a sentence of its own (cnb/image.ts openImageFor)
    throw isBerthError(err, "PLATFORM_NOT_FOUND") ? err : wrapError(`reading builder ${o.builder}`, err);
  });
  // The builder's image stays open until the run ends: the sandbox reads the build image's layers from it.
  const closers: (() => Promise<void>)[] = [() => builder.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const order = await orderOf(o, builder);
    const owner = builder.info.user;
    const paths: CnbPaths = {
      app: o.workspace,
      layers: o.layersDir,
      platform: platformDirOf(o),
      buildpacks: builder.buildpacksDir,
      buildConfig: builder.buildConfigDir,
      ...(builder.extensions.all().length ? { extensions: builder.extensionsDir } : {}),
    };
    await prepareDirs(o, paths, owner);
    const { executor, env } = await executorOf(o, builder, paths);
    return {
      o,
      log: o.logger,
      builder,
      order: o.disableSystemBuildpacks ? order : withSystemBuildpacks(order, builder.system),
      paths,
      owner,
      executor,
      env,
      defer: (c) => closers.push(c),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The platform the run's images are for, as pack picks it (pkg/client/build.go `targetToUse`): `--platform`,
 * else the builder image's own. The run image and the buildpack images `--buildpack` names are opened for it.
 */
export function buildPlatformOf(o: Pick<RunOptions, "platform">, builder: ExtractedBuilder): Platform {
  return o.platform ?? builder.info.image.platform() ?? hostPlatform();
}

/** Target data of an image for this run (what its config lacks read from the build image's root). */
export function targetOf(c: RunContext, target: TargetData): Promise<TargetData> {
  return completeTarget(target, (p) => c.executor.readRootFile(p));
}

/** The app copy, the layers directory and the platform env, owned by the CNB user when berth is root. */
async function prepareDirs(
  o: RunOptions,
  paths: CnbPaths,
  owner: { uid: number; gid: number },
): Promise<void> {
  // Inside a step the app may already be the workspace (CNB_APP_DIR): nothing to copy then.
  if (resolve(o.appDir) !== resolve(paths.app)) await syncApp(o, paths.app, owner);
  if (o.clearLayers) await rm(paths.layers, { recursive: true, force: true });
  await pruneLayersDir(paths.layers);
  if (o.asRoot) await chown(paths.layers, owner.uid, owner.gid);
  if (paths.platform === o.platformDir) return;
  if (o.platformDir && existsSync(join(o.platformDir, "env"))) {
    await mkdir(paths.platform, { recursive: true });
    await cp(join(o.platformDir, "env"), join(paths.platform, "env"), { recursive: true });
  }
  await writeRunEnv(o, paths.platform);
}

/** The step's platform dir when berth has nothing to add to it, else this run's own. */
function platformDirOf(o: RunOptions): string {
  const adds = (o.env?.length ?? 0) + (o.envFiles?.length ?? 0) + (o.project?.buildEnv?.length ?? 0);
  if (o.platformDir && adds === 0 && existsSync(o.platformDir)) return o.platformDir;
  return join(o.work, "platform");
}

/**
 * The app copy buildpacks work on (project.toml's include/exclude applied), owned by the CNB user when berth
 * is root. Shared with `--lifecycle builder` (build/lifecycle.ts).
 */
export async function syncApp(
  o: Pick<RunOptions, "appDir" | "project" | "asRoot">,
  dest: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  const filter = projectSourceFilter(o.project);
  await syncTree(resolve(o.appDir), dest, {
    ...(o.asRoot ? { uid: owner.uid, gid: owner.gid } : {}),
    filter,
  });
}

/** `<platform>/env/`: project.toml's build env, then `--env-file`s, then `-e`. Shared with `--lifecycle builder`. */
export async function writeRunEnv(
  o: Pick<RunOptions, "project" | "envFiles" | "env" | "hostEnv">,
  platformDir: string,
): Promise<void> {
  await mkdir(platformDir, { recursive: true });
  await writeBuildPlatformEnv(platformDir, {
    projectEnv: o.project?.buildEnv,
    envFiles: o.envFiles,
    env: o.env,
    hostEnv: o.hostEnv ?? {},
  });
}

/**
 * A build image foreign to this machine runs under qemu-user-static, as docker runs pack's foreign builder
 * (runtime/binfmt.ts: its binfmt_misc entry checked, registered as root, or one sentence). Shared with
 * `--lifecycle builder`.
 */
export async function emulateForeign(
  image: Image,
  hostEnv: Record<string, string | undefined>,
  logger: PhaseLogger,
): Promise<void> {
  const platform = image.platform();
  if (platform)
    await ensureEmulation(
      platform,
      emulationOptions(hostEnv, (l) => logger.info(l)),
    );
}

async function executorOf(
  o: RunOptions,
  builder: ExtractedBuilder,
  paths: CnbPaths,
): Promise<{ executor: Executor; env: Env }> {
  const hostEnv = o.hostEnv ?? {};
  const owner = builder.info.user;
  if (o.isolation === "host") {
    const asCnb = o.asRoot && o.hostUser !== "berth";
    return { executor: hostExecutor({ paths, ...(asCnb ? { owner } : {}) }), env: Env.forBuild(hostEnv) };
  }
  await emulateForeign(builder.info.image, hostEnv, o.logger);
  const executor = await sandboxExecutor({
    runtime: {
      home: o.ctx.home,
      runtime: o.runtime || undefined,
      searchPath: hostEnv.PATH || undefined,
    },
    image: builder.info.image,
    imageName: o.builder,
    paths,
    owner,
    upperDir: join(o.work, "upper"),
    network: o.network ?? "default",
    hostEnv,
    onUnpack: (n) =>
      o.logger.info(
        `Unpacking the build image ${o.builder} (${n} layer${n === 1 ? "" : "s"}) into snapshots (first use; later builds reuse them)`,
      ),
  });
  // The lifecycle's own env inside the build image: the image's Env, filtered.
  return { executor, env: Env.forBuild(builder.info.image.config?.config?.Env ?? []) };
}

/**
 * The order: `--buildpack` as pack takes it (relative paths against the CLI's current directory), else the
 * project's group (it replaces the builder's order), else the project's pre/post around every builder group,
 * else the builder's. Shared with `--lifecycle builder` (build/lifecycle-run.ts).
 */
export async function orderOf(
  o: Pick<RunOptions, "buildpacks" | "cwd" | "project" | "ctx" | "work" | "logger" | "builder" | "platform">,
  builder: ExtractedBuilder,
): Promise<Order> {
  const locate = {
    builderOrder: builder.order,
    store: builder.store,
    buildpacksDir: builder.buildpacksDir,
    ctx: o.ctx,
    platform: buildPlatformOf(o, builder),
    tmp: join(o.work, "bp-tmp"),
    warn: (l: string) => o.logger.warn(l),
  };
  if (o.buildpacks?.length)
    return orderFromBuildpackArgs(o.buildpacks, { ...locate, cwd: resolve(o.cwd ?? ".") });
  const project = o.project;
  if (!project) return builder.order;
  // project.toml's buildpacks as pack takes them: an inline script becomes a buildpack folder, a uri is loaded
  // against the descriptor's folder, an id (and version) is the builder's.
  const fromProject = async (list: readonly ProjectBuildpack[], key: string): Promise<ModuleRef[]> => {
    const out: ModuleRef[] = [];
    for (const bp of list) {
      if (bp.script && bp.id) {
        const dir = await writeInlineBuildpack(bp, join(o.work, "inline"), builder.info.stackId);
        out.push(await locateBuildpack(dir, { ...locate, cwd: dir }));
      } else if (bp.uri) {
        out.push(await locateBuildpack(bp.uri, { ...locate, cwd: projectDir(project) }));
      } else if (bp.id) {
        out.push(builderBuildpack(builder, project, bp, key, o.builder));
      }
    }
    return out;
  };
  if (project.group.length) return [{ group: await fromProject(project.group, "group") }];
  if (!project.pre.length && !project.post.length) return builder.order;
  const pre = await fromProject(project.pre, "pre");
  const post = await fromProject(project.post, "post");
  return builder.order.map((g) => ({ ...g, group: [...pre, ...g.group, ...post] }));
}

function builderBuildpack(
  builder: ExtractedBuilder,
  project: ProjectDescriptor,
  bp: ProjectBuildpack,
  key: string,
  builderName: string,
): ModuleRef {
  try {
    const found = builder.store.lookup(bp.id!, bp.version);
    return { id: found.descriptor.buildpack.id, version: found.descriptor.buildpack.version };
  } catch (err) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `${project.file}: ${key} buildpack ${bp.id}${bp.version ? `@${bp.version}` : ""} is not in the builder ${builderName}`,
      { cause: err, hint: "give its uri (a folder, .cnb or image) in project.toml" },
    );
  }
}
