/**
 * `berth build` with buildpacks: the steps of pack's creator (`build/steps.ts`) over one build context
 * (`build/context.ts`): analyze, detect, generate (image extensions, `build/extensions.ts`), restore, build,
 * export, then the image saved, the cache saved and report.toml written.
 *
 * Working state: `$BERTH_HOME/cache/cnb/<hash of the image name>/` holds the default directory cache
 * (`cache/`), the app copy buildpacks work on (`workspace/`) and the layers directory (`layers/`, kept between
 * builds so that restore need not extract a cache layer that is still there unchanged);
 * `$BERTH_HOME/cache/cnb/{fingerprints,blobs}` the layer index; a temp folder under `$BERTH_HOME/tmp` the
 * platform dir and the builder of this build.
 */
import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../errors.ts";
import { epochToRfc3339 } from "../image/append.ts";
import type { Platform } from "../oci/platform.ts";
import { Store } from "../oci/store.ts";
import type { NetworkMode } from "../runtime/index.ts";
import type { TransportContext } from "../transport/context.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { ownedTempDir } from "../util/fs.ts";
import { withOwnedLock } from "../util/lock.ts";
import { formatDuration } from "../util/progress.ts";
import { openRun } from "./build/context.ts";
import * as step from "./build/steps.ts";
import { LayerIndex } from "./cache/fingerprint.ts";
import type { GroupEntry } from "./files/group.ts";
import { type PhaseLogger, timedPhase } from "./log.ts";
import type { ExportStats } from "./phase/export.ts";
import type { DockerfileEngine } from "./phase/extend.ts";
import type { RestoreResult } from "./phase/restore.ts";
import { LOCAL_BUILDER_NAME } from "./platform/local-builder.ts";
import { type ProjectDescriptor, projectAndBuilder } from "./platform/project.ts";

export interface BuildWithBuildpacksOptions {
  /** The app's folder (APP, default the current folder). */
  appDir: string;
  /** Where the image goes (`-t`): a store name, `oci:`, `docker-archive:`, or `docker://` with --publish. */
  image: ImageArgument;
  /** `--builder` (default: project.toml's). */
  builder?: string | undefined;
  runImage?: string | undefined;
  /**
   * `--platform`: the builder, run image and buildpack images are this platform's (from their indexes), and so
   * the app image; default the builder image's own (pack's `targetToUse`).
   */
  platform?: Platform | undefined;
  /** `-e K=V` / bare `K`. */
  env?: string[];
  envFile?: string;
  /** `--buildpack` arguments as pack takes them (platform/locator.ts); they replace the builder's order. */
  buildpacks?: string[];
  /** The folder relative `--buildpack` paths are resolved against (pack: the current directory). */
  cwd?: string;
  /** pack's `--disable-system-buildpacks`: leave out the builder's `[system]` pre/post buildpacks. */
  disableSystemBuildpacks?: boolean;
  cacheDir?: string;
  cacheImage?: string | undefined;
  clearCache?: boolean;
  previousImage?: string | undefined;
  publish?: boolean;
  /** `--creation-time`: seconds since the epoch, or "now". */
  creationTime?: string | undefined;
  defaultProcess?: string | undefined;
  sbomOutputDir?: string;
  reportOutputDir?: string;
  /** project.toml (default APP/project.toml). */
  descriptor?: string | undefined;
  /** Default "default": a private namespace with outbound access; "host": the host's; "none". */
  network?: NetworkMode | undefined;
  /** "sandbox" (default): buildpacks run in the build image; "host": on this machine. */
  isolation?: "sandbox" | "host";
  /** OCI runtime for the sandbox. */
  runtime?: string | undefined;
  /** Whether berth runs as root (then files are given to the CNB user, as the lifecycle does). */
  asRoot?: boolean;
  /** Extra tags (`-t` repeated). */
  tags?: string[];
  /**
   * Inside a build step (`--isolation host`, README "Running berth inside a build step"): the spec's
   * directories as the step was given them (CNB_APP_DIR, CNB_LAYERS_DIR, CNB_PLATFORM_DIR) instead of
   * berth's own under BERTH_HOME, and, with no `builder`, the builder on this filesystem (`root`/cnb).
   */
  step?: {
    appDir: string;
    layersDir: string;
    platformDir: string;
    /** Where `/cnb` is (default `/`). */
    root?: string;
    /** The CNB user (CNB_USER_ID/CNB_GROUP_ID, else berth's). */
    user: { uid: number; gid: number };
  };
  /** Where report.toml goes (CNB_REPORT_PATH; default `<layers>/report.toml`). */
  reportPath?: string;
  ctx: TransportContext;
  /** The host's environment, for bare `-e K` and the compiler. */
  hostEnv?: Record<string, string | undefined>;
  logger: PhaseLogger;
  /** Applies image extensions' Dockerfiles (berth's Dockerfile engine; the CLI wires it). */
  dockerfileEngine?: DockerfileEngine;
  /** The current time, for `--creation-time now` (the CLI passes it; library code reads no clock). */
  now?: () => Date;
  signal?: AbortSignal | undefined;
}

export interface BuildWithBuildpacksResult {
  /** Manifest digest of the app image. */
  digest: string;
  /** Image ID (config digest). */
  imageId: string;
  manifestSize: number;
  /** Where it was written. */
  image: string;
  group: GroupEntry[];
  defaultProcess: string | undefined;
  stats: ExportStats & { uploaded: number; existing: number; mounted: number };
  /** What restore did: layers whose metadata came back, extracted from the cache, kept in place. */
  restore: RestoreResult;
}

/** Build an app image with buildpacks: pack build, daemonless. */
export async function buildWithBuildpacks(o: BuildWithBuildpacksOptions): Promise<BuildWithBuildpacksResult> {
  const local = o.step && o.builder === undefined;
  const {
    appDir,
    project,
    builderName: builder,
  } = await projectAndBuilder(local ? { ...o, builder: LOCAL_BUILDER_NAME } : o);
  if (o.cacheDir && o.cacheImage)
    throw new BerthError("USAGE", "--cache-dir and --cache-image cannot be used together");
  const created = creationTime(o);
  const per = join(o.ctx.home, "cache", "cnb", nameHash(o.image));
  // One build per image name at a time: they share the app copy, the layers directory and the cache. A
  // second build of the name waits (pack's builds of one name both succeed too; the last one's tag stays).
  // The lock names its holder, so one left by a killed build is taken over at once.
  return withOwnedLock(
    join(per, "build"),
    () => buildUnderLock(o, { project, builder, created, per, appDir }),
    {
      waitMs: Number.POSITIVE_INFINITY,
      onWait: (holder) =>
        o.logger.info(
          `Waiting for another build of ${o.image.text} (process ${holder.split(" ")[0]}) to finish`,
        ),
    },
  );
}

/** The build's steps, in the spec's order, over one context. */
async function buildUnderLock(
  o: BuildWithBuildpacksOptions,
  p: {
    project: ProjectDescriptor | undefined;
    builder: string;
    created: string | undefined;
    per: string;
    appDir: string;
  },
): Promise<BuildWithBuildpacksResult> {
  const started = Date.now();
  const work = await ownedTempDir(join(o.ctx.home, "tmp"), "cnb-build-");
  const timed = <T>(name: string, fn: () => Promise<T>) => timedPhase(o.logger, name, fn);
  let run: Awaited<ReturnType<typeof openRun>> | undefined;
  try {
    run = await openRun({
      ...o,
      builder: p.builder,
      appDir: p.appDir,
      project: p.project,
      workspace: o.step?.appDir ?? join(p.per, "workspace"),
      layersDir: o.step?.layersDir ?? join(p.per, "layers"),
      ...(o.step
        ? {
            inStep: true,
            platformDir: o.step.platformDir,
            ...(o.builder === undefined ? { localBuilder: { ...o.step } } : {}),
          }
        : {}),
      clearLayers: o.clearCache ?? false,
      work,
      envFiles: o.envFile ? [o.envFile] : [],
      hostUser: "cnb",
    });
    const c: step.BuildContext = {
      ...run,
      image: o.image,
      project: p.project,
      created: p.created,
      defaultCacheDir: join(p.per, "cache"),
      index: new LayerIndex(join(o.ctx.home, "cache", "cnb")),
      work,
      opts: o,
    };
    const { analyzed, target } = await timed("Analyze", () => step.analyze(c));
    const detected = await timed("Detect", () => step.detect(c, target));
    const generating = Date.now();
    const extended = await step.generate(c, analyzed, detected, target);
    if (extended) o.logger.info(`Generate done in ${formatDuration(Date.now() - generating)}`);
    const group = detected.group.group;
    const cache = await step.openCache(c);
    const restored = await timed("Restore", () => step.restore(c, analyzed, group, cache));
    // An extended build image is the build step's executor (context fields are readonly: a new context).
    const cb: step.BuildContext = extended?.executor
      ? { ...c, executor: extended.executor, env: extended.env ?? c.env }
      : c;
    await timed("Build", () =>
      step.build(cb, extended ? { ...detected, plan: extended.plan } : detected, target),
    );
    const exported = await timed("Export", () =>
      step.exportImage(
        c,
        extended?.runImage ? { ...analyzed, runImage: extended.runImage } : analyzed,
        group,
        cache,
        target,
      ),
    );
    const saved = await timed("Saving the image", () => step.save(c, exported));
    await timed("Saving the cache", () => step.saveCache(c, exported, cache));
    await step.report(c, saved);
    o.logger.info(`Buildpacks build done in ${formatDuration(Date.now() - started)}`);
    return {
      digest: saved.digest,
      imageId: saved.imageId,
      manifestSize: saved.manifestSize,
      image: o.image.text,
      group,
      defaultProcess: exported.defaultProcess,
      stats: { ...exported.stats, ...saved.blobs },
      restore: restored,
    };
  } finally {
    await run?.close();
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The directory a build of this image name keeps its state in (`cache/cnb/<sha256(name)[:24]>`). */
function nameHash(arg: ImageArgument): string {
  const key = arg.transport === "store" || arg.transport === "docker" ? Store.normalize(arg.ref) : arg.text;
  return createHash("sha256").update(key).digest("hex").slice(0, 24);
}

/**
 * `--creation-time` in seconds: a number of seconds, or "now" (`o.now`); undefined when not given. The engines
 * make it the config's `created` (berth's) or the lifecycle's SOURCE_DATE_EPOCH (the builder's).
 */
export function creationSeconds(
  o: Pick<BuildWithBuildpacksOptions, "creationTime" | "now">,
): number | undefined {
  const t = o.creationTime;
  if (t === undefined || t === "") return undefined;
  if (t === "now") return Math.floor((o.now?.() ?? new Date(0)).getTime() / 1000);
  if (!/^\d+$/.test(t))
    throw new BerthError("USAGE", `--creation-time ${JSON.stringify(t)} is not a number of seconds or "now"`);
  return Number(t);
}

function creationTime(o: BuildWithBuildpacksOptions): string | undefined {
  const seconds = creationSeconds(o);
  return seconds === undefined ? undefined : epochToRfc3339(seconds);
}
