/**
 * Image extensions in `berth build` (the generate step between detect and openCache, as pack's non-creator
 * flow runs them):
 * GENERATING (phase/generate.ts), analyzed.toml updated as the lifecycle's generator does it, then EXTENDING
 * (phase/extend.ts): the build image for the build phase, the run image for export. Returns what the later
 * phases use instead of the detect results and the analyzed run image.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import type { NetworkMode, RuntimeContext } from "../../runtime/index.ts";
import type { TransportContext } from "../../transport/context.ts";
import { Env } from "../buildpack/env.ts";
import { type Executor, layersTree, sandboxExecutor } from "../executor.ts";
import { updateAnalyzed } from "../files/analyzed.ts";
import { encodeGroup, type Group } from "../files/group.ts";
import { encodePlan, type Plan } from "../files/plan.ts";
import { resolveImage } from "../image.ts";
import type { PhaseLogger } from "../log.ts";
import type { Analyzed } from "../phase/analyze.ts";
import type { RunImageInput } from "../phase/export.ts";
import {
  type DockerfileEngine,
  type Extended,
  extendImage,
  type GeneratedDockerfile,
} from "../phase/extend.ts";
import { generate } from "../phase/generate.ts";
import type { ExtractedBuilder } from "../platform/builder.ts";
import type { TargetData } from "../platform/target.ts";

export interface ExtensionsInputs {
  builder: ExtractedBuilder;
  /** How the builder was named (the image the build.Dockerfiles extend). */
  builderName: string;
  group: Group;
  plan: Plan;
  analyzed: Analyzed;
  executor: Executor;
  env: Env;
  target: TargetData;
  platformApi: string;
  engine: DockerfileEngine | undefined;
  /** For the build phase in the extended build image. */
  sandbox: { runtime: RuntimeContext; network: NetworkMode; upperDir: string } | undefined;
  /**
   * `--publish`: a run image a run.Dockerfile switches to is read from its registry before the store, as the
   * analyzer reads the builder's (pack's restorer pulls it from the registry).
   */
  publish: boolean;
  workDir: string;
  ctx: TransportContext;
  logger: PhaseLogger;
  signal?: AbortSignal | undefined;
}

export interface ExtensionsResult {
  plan: Plan;
  /** The build phase's executor and env when a build.Dockerfile extended the build image. */
  executor?: Executor;
  env?: Env;
  /** The run image export puts the app on, when an extension switched or extended it. */
  runImage?: RunImageInput;
  close(): Promise<void>;
}

/** Run the generate and extend phases when detection chose extensions; undefined when it chose none. */
export async function runExtensions(i: ExtensionsInputs): Promise<ExtensionsResult | undefined> {
  const exts = i.group.groupExtensions ?? [];
  if (exts.length === 0) return undefined;
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const generated = await generate({
      extensions: i.builder.extensions,
      group: exts,
      plan: i.plan,
      engine: i.engine,
      runImage: i.analyzed.runImage.name,
      runImages: i.builder.runImages,
      executor: i.executor,
      env: i.env,
      target: i.target,
      platformApi: i.platformApi,
      logger: i.logger,
      signal: i.signal,
    });
    await rewriteAnalyzed(i.executor.host.layers, generated.newRunImage, generated.extendRun);
    // group.toml and plan.toml as the lifecycle's detector leaves them after generating (the plan without the
    // entries the extensions met).
    await layersTree(i.executor).writeFile("group.toml", encodeGroup(i.group));
    // (An empty plan is an empty file, as the lifecycle's TOML encoder leaves a nil list out.)
    await layersTree(i.executor).writeFile(
      "plan.toml",
      generated.plan.entries.length ? encodePlan(generated.plan) : "",
    );
    const result: ExtensionsResult = { plan: generated.plan, close };
    const build = generated.dockerfiles.filter((d) => d.kind === "build");
    const run = generated.dockerfiles.filter((d) => d.kind === "run" && !d.ignore && d.extend);
    if (build.length || run.length) i.logger.info("===> EXTENDING");
    if (build.length) Object.assign(result, await extendBuildImage(i, build, closers));
    const runImage = await extendRunImage(i, generated.newRunImage, run, closers);
    if (runImage !== i.analyzed.runImage) result.runImage = runImage;
    return result;
  } catch (err) {
    await close();
    throw err;
  }
}

/** The build image the build.Dockerfiles extend: a sandbox executor on it, and its Env for the build phase. */
async function extendBuildImage(
  i: ExtensionsInputs,
  dockerfiles: GeneratedDockerfile[],
  closers: (() => Promise<void>)[],
): Promise<{ executor: Executor; env: Env }> {
  if (!i.sandbox) {
    throw new BerthError(
      "CNB_EXTENSION_INVALID",
      `extension ${dockerfiles[0]!.extensionId} extends the build image, which needs the build to run in it`,
      { hint: "leave out --isolation host" },
    );
  }
  const extended = await extendWith(i, "build", i.builderName, dockerfiles, closers);
  const executor = await sandboxExecutor({
    runtime: i.sandbox.runtime,
    image: extended.image,
    imageName: `${i.builderName} (extended)`,
    paths: i.executor.host,
    owner: i.builder.info.user,
    upperDir: i.sandbox.upperDir,
    network: i.sandbox.network,
  });
  // lc: the extended image's Env becomes the build's environment.
  return { executor, env: Env.forBuild(extended.image.config?.config?.Env ?? []) };
}

/**
 * The run image export puts the app on: the one a run.Dockerfile switched to (opened as the analyzer opens the
 * builder's), else the analyzed one, extended by the run.Dockerfiles that extend it.
 */
async function extendRunImage(
  i: ExtensionsInputs,
  newRunImage: string | undefined,
  dockerfiles: GeneratedDockerfile[],
  closers: (() => Promise<void>)[],
): Promise<RunImageInput> {
  let runImage = i.analyzed.runImage;
  let baseArg = runArgument(i.analyzed);
  if (newRunImage) {
    const name = newRunImage;
    const opened = await resolveImage(name, i.ctx, {
      registryFallback: true,
      preferRegistry: i.publish,
    }).catch((err) => {
      throw wrapError(`identifying run image ${name} (from a run.Dockerfile)`, err);
    });
    if (!opened) {
      throw new BerthError(
        "CNB_ANALYZE_FAILED",
        `identifying run image: ${name} (from a run.Dockerfile) was not found`,
      );
    }
    closers.push(opened.close);
    runImage = { image: opened.image, reference: opened.pinned, name };
    baseArg = opened.argument.transport === "docker" ? `docker://${opened.pinned}` : opened.argument.text;
    i.logger.info(`Run image: ${name} (from a run.Dockerfile)`);
  }
  if (dockerfiles.length === 0) return runImage;
  const extended = await extendWith(i, "run", baseArg, dockerfiles, closers);
  const diffIds = runImage.image.config?.rootfs.diff_ids ?? [];
  return { ...runImage, image: extended.image, topLayer: diffIds[diffIds.length - 1] ?? "" };
}

/** Apply `dockerfiles` to `base` with the Dockerfile engine; the result is closed with the others. */
async function extendWith(
  i: ExtensionsInputs,
  kind: "build" | "run",
  base: string,
  dockerfiles: GeneratedDockerfile[],
  closers: (() => Promise<void>)[],
): Promise<Extended> {
  const extended = await extendImage({
    engine: i.engine!,
    kind,
    base,
    dockerfiles,
    workDir: i.workDir,
    logger: i.logger,
    signal: i.signal,
  }).catch((err) => {
    throw wrapError(`extending the ${kind} image`, err);
  });
  closers.push(extended.close);
  return extended;
}

/** The run image as an argument the Dockerfile engine opens, pinned where it has a digest reference. */
function runArgument(a: Analyzed): string {
  return a.run.argument.transport === "docker" ? `docker://${a.run.pinned}` : a.run.argument.text;
}

/** Rewrite `<layers>/analyzed.toml` when a run.Dockerfile switched or extends the run image. */
async function rewriteAnalyzed(
  layersDir: string,
  newRunImage: string | undefined,
  extend: boolean,
): Promise<void> {
  if (!newRunImage && !extend) return;
  const file = join(layersDir, "analyzed.toml");
  await writeFile(file, updateAnalyzed(await readFile(file, "utf8"), file, { newRunImage, extend }));
}
