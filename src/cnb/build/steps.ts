/**
 * The steps of a buildpacks build, in the spec's order (pack's creator): analyze → detect → (generate, when
 * detection chose image extensions) → restore → build → export → cache → report, with the image saved after
 * export. Each step is a function of the build context
 * that returns what later steps need; `buildWithBuildpacks` (`../build.ts`) lists them.
 */
import { cp, lstat, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import { type AssembledLayer, assemble, contentLayers } from "../../oci/assemble.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { Store } from "../../oci/store.ts";
import { reported, type TransportContext } from "../../transport/context.ts";
import { writeImage } from "../../transport/copy.ts";
import { openSource } from "../../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../../transport/parse.ts";
import { PLATFORM_API } from "../api.ts";
import { type Cache, DirectoryCache, ImageCache } from "../cache/cache.ts";
import type { LayerIndex } from "../cache/fingerprint.ts";
import { CONTAINER_PATHS, layersTree } from "../executor.ts";
import { encodeAnalyzed } from "../files/analyzed.ts";
import type { GroupEntry } from "../files/group.ts";
import { encodeReport } from "../files/report.ts";
import { resolveImage } from "../image.ts";
import { berthLauncher, lifecycleLauncher } from "../launch/index.ts";
import { type Analyzed, Analyzer } from "../phase/analyze.ts";
import { type BuildResult, build as buildPhase } from "../phase/build.ts";
import { type DetectResult, detect as detectPhase } from "../phase/detect.ts";
import { type BlobHolder, Exporter, type ExportResult } from "../phase/export.ts";
import type { PhaseInputs } from "../phase/inputs.ts";
import { type RestoreResult, Restorer } from "../phase/restore.ts";
import type { ProjectDescriptor } from "../platform/project.ts";
import { projectMetadata } from "../platform/project.ts";
import type { TargetData } from "../platform/target.ts";
import { buildPlatformOf, type RunContext, targetOf } from "./context.ts";
import { type ExtensionsResult, runExtensions } from "./extensions.ts";

/** What a build adds to a run's context: where the image goes and the options that shape it. */
export interface BuildContext extends RunContext {
  readonly image: ImageArgument;
  readonly project: ProjectDescriptor | undefined;
  /** The image's config `created` (RFC 3339), when not the lifecycle's 1980 default. */
  readonly created: string | undefined;
  /** The directory cache of this image name (`cache/cnb/<hash>/cache`), unless --cache-dir/--cache-image. */
  readonly defaultCacheDir: string;
  readonly index: LayerIndex;
  readonly work: string;
  readonly opts: {
    runImage?: string | undefined;
    previousImage?: string | undefined;
    publish?: boolean | undefined;
    cacheDir?: string | undefined;
    cacheImage?: string | undefined;
    clearCache?: boolean | undefined;
    defaultProcess?: string | undefined;
    tags?: string[] | undefined;
    sbomOutputDir?: string | undefined;
    reportOutputDir?: string | undefined;
    /** CNB_REPORT_PATH: report.toml here instead of `<layers>/report.toml`. */
    reportPath?: string | undefined;
  };
}

/** ANALYZING: the previous image, the run image and its target; writes `analyzed.toml`. */
export async function analyze(c: BuildContext): Promise<{ analyzed: Analyzed; target: TargetData }> {
  c.log.info("===> ANALYZING");
  const analyzed = await new Analyzer({
    target: c.image,
    previousImage: c.opts.previousImage || undefined,
    runImage: c.opts.runImage || undefined,
    runImages: c.builder.runImages,
    publish: c.opts.publish ?? false,
    platform: buildPlatformOf(c.o, c.builder),
    ctx: c.o.ctx,
    log: (l) => c.log.info(l),
  }).analyze();
  c.defer(() => analyzed.close());
  c.log.info(`Run image: ${analyzed.runImage.reference}`);
  const target = await targetOf(c, analyzed.target);
  await writeFile(
    join(c.paths.layers, "analyzed.toml"),
    encodeAnalyzed({
      ...(analyzed.previous ? { image: { reference: analyzed.previous.image.digest } } : {}),
      runImage: { reference: analyzed.runImage.reference, image: analyzed.runImage.name, target },
    }),
  );
  return { analyzed, target };
}

/** DETECTING: the first group of the order that passes, and its plan. */
export function detect(c: RunContext, target: TargetData): Promise<DetectResult> {
  return detectPhase({
    ...phaseInputs(c, target),
    order: c.order,
    orderExtensions: c.builder.orderExtensions,
    extensions: c.builder.extensions,
  });
}

/**
 * GENERATING and EXTENDING, when detection chose image extensions (undefined when it chose none): the plan
 * the buildpacks see, and the extended build image's executor and env and the run image export uses, when an
 * extension changed them. Later steps get them as `{ ...c, executor, env }`, `{ ...detected, plan }` and
 * `{ ...analyzed, runImage }`.
 */
export async function generate(
  c: BuildContext,
  analyzed: Analyzed,
  detected: DetectResult,
  target: TargetData,
): Promise<ExtensionsResult | undefined> {
  const hostEnv = c.o.hostEnv ?? {};
  const extended = await runExtensions({
    builder: c.builder,
    builderName: c.o.builder,
    group: detected.group,
    plan: detected.plan,
    analyzed,
    executor: c.executor,
    env: c.env,
    target,
    platformApi: PLATFORM_API,
    engine: c.o.dockerfileEngine,
    sandbox:
      c.o.isolation === "host"
        ? undefined
        : {
            runtime: {
              home: c.o.ctx.home,
              runtime: c.o.runtime || undefined,
              searchPath: hostEnv.PATH || undefined,
            },
            network: c.o.network ?? "default",
            upperDir: join(c.work, "upper-extended"),
          },
    publish: c.opts.publish ?? false,
    workDir: join(c.work, "extend"),
    ctx: c.o.ctx,
    logger: c.log,
    signal: c.o.signal,
  });
  if (extended) c.defer(extended.close);
  return extended;
}

/** What the detect and build phases run with. */
function phaseInputs(c: RunContext, target: TargetData): PhaseInputs {
  return {
    store: c.builder.store,
    executor: c.executor,
    env: c.env,
    target,
    platformApi: PLATFORM_API,
    logger: c.log,
    signal: c.o.signal,
  };
}

/** The cache this build restores from and exports to: an image (--cache-image) or a directory. */
export async function openCache(c: BuildContext): Promise<Cache> {
  const { cacheImage, cacheDir, clearCache } = c.opts;
  if (cacheImage) {
    const opened = clearCache ? undefined : await resolveImage(cacheImageArg(cacheImage).text, c.o.ctx);
    if (opened) c.defer(() => opened.close());
    return new ImageCache(cacheImage, opened?.image);
  }
  return new DirectoryCache(cacheDir ? resolve(cacheDir) : c.defaultCacheDir, { clear: clearCache ?? false });
}

/**
 * Where the image holds the layers and the app: in a build step, where buildpacks saw them (CNB_LAYERS_DIR,
 * CNB_APP_DIR; buildpacks write those paths into their layers: commands, scripts, links), as the lifecycle
 * exports them; else at `/layers` and `/workspace`, where the sandbox shows them.
 */
function seenPaths(c: BuildContext): { layers: string; app: string } {
  return c.o.inStep
    ? { layers: c.paths.layers, app: c.paths.app }
    : { layers: CONTAINER_PATHS.layers, app: CONTAINER_PATHS.app };
}

/** RESTORING: layer metadata, store.toml, cached layers and SBOMs, by the spec's reuse table. */
export async function restore(
  c: BuildContext,
  analyzed: Analyzed,
  group: readonly GroupEntry[],
  cache: Cache,
): Promise<RestoreResult> {
  c.log.info("===> RESTORING");
  return new Restorer({
    layersDir: c.paths.layers,
    layersPath: seenPaths(c).layers,
    reuse: true,
    group,
    previous: analyzed.previous?.metadata,
    ...(analyzed.previous ? { previousImage: analyzed.previous.image } : {}),
    // --clear-cache as pack runs the creator (-skip-restore): store.toml only.
    skipLayers: c.opts.clearCache ?? false,
    cache,
    index: c.index,
    uid: c.owner.uid,
    gid: c.owner.gid,
    chown: c.o.asRoot ?? false,
    log: (l) => c.log.info(l),
    warn: (l) => c.log.warn(l),
    signal: c.o.signal,
  }).restore();
}

/** BUILDING: each buildpack of the group's `bin/build`; writes `<layers>/config/metadata.toml`. */
export function build(c: RunContext, detected: DetectResult, target: TargetData): Promise<BuildResult> {
  return buildPhase({ ...phaseInputs(c, target), group: detected.group, plan: detected.plan });
}

/** EXPORTING: the app image (not yet written) and what the cache should hold. */
export async function exportImage(
  c: BuildContext,
  analyzed: Analyzed,
  group: readonly GroupEntry[],
  cache: Cache,
  target: TargetData,
): Promise<ExportResult> {
  c.log.info("===> EXPORTING");
  const home = c.o.ctx.home;
  const fromFs = c.builder.launcherPath;
  const launcher =
    (fromFs
      ? { kind: "lifecycle" as const, path: fromFs, version: c.builder.launcherVersion ?? "" }
      : undefined) ??
    (await lifecycleLauncher(c.builder.info.image, home)) ??
    (await berthLauncher({
      home,
      platform: { os: target.os, architecture: target.arch },
      env: c.o.hostEnv ?? {},
      onCompile: () => c.log.info("Compiling berth's launcher (first use; kept for later builds)"),
    }));
  const exportDir = join(c.work, "export");
  await mkdir(exportDir, { recursive: true });
  return new Exporter({
    layersDir: c.paths.layers,
    appDir: c.paths.app,
    layersPath: seenPaths(c).layers,
    appPath: seenPaths(c).app,
    group,
    runImage: analyzed.runImage,
    runImages: c.builder.runImages,
    previous: analyzed.previous,
    cache,
    index: c.index,
    workDir: exportDir,
    launcher,
    uid: c.owner.uid,
    gid: c.owner.gid,
    created: c.created || undefined,
    defaultProcess: c.opts.defaultProcess || undefined,
    projectMetadata: projectMetadata(c.project),
    platformApi: PLATFORM_API,
    blobHolders: await blobHolders(c),
    log: (l) => c.log.info(l),
    warn: (l) => c.log.warn(l),
    signal: c.o.signal,
  }).export();
}

/**
 * Where blobs export may reuse already are: the local store (leased before they are checked for, so a `gc`
 * cannot take them before the image that uses them is written) and a registry destination.
 */
async function blobHolders(c: BuildContext): Promise<BlobHolder[]> {
  const store = await Store.open(c.o.ctx.home);
  const lease = store.layout.lease();
  c.defer(() => lease.release());
  const holders: BlobHolder[] = [
    {
      hasBlob: async (d) => {
        await lease.add(d.digest);
        return store.layout.hasBlob(d);
      },
      source: store.layout,
    },
  ];
  if (c.image.transport !== "docker") return holders;
  const dest = await openSource(c.image, c.o.ctx).catch(() => undefined);
  if (!dest) return holders;
  c.defer(() => dest.close());
  const src = dest.source as unknown as { hasBlob?: (d: Descriptor) => Promise<boolean> };
  if (src.hasBlob) holders.push({ hasBlob: (d) => src.hasBlob!(d), source: undefined });
  return holders;
}

export interface Saved {
  tags: string[];
  digest: string;
  imageId: string;
  manifestSize: number;
  blobs: { uploaded: number; existing: number; mounted: number };
}

/** Write the image to its destination and every extra tag; remember the new blobs. */
export async function save(c: BuildContext, exported: ExportResult): Promise<Saved> {
  const image = exported.image;
  const arg = c.image;
  c.log.info(`Saving ${nameOf(arg)}...`);
  // a push to a registry shows its progress (the CLI's reporter); a local write is quick
  const written = await reported(
    arg.transport === "docker" ? c.o.ctx.progress : undefined,
    () => `Pushed ${arg.text}`,
    (hooks) => writeImage(image, nameOf(arg), arg, c.o.ctx, hooks),
  ).catch((err) => {
    throw wrapError(`saving ${arg.text}`, err);
  });
  const tags = [arg.text];
  for (const t of c.opts.tags ?? []) {
    const tagArg = parseImageArgument(t, c.opts.publish ? { default: "docker" } : {});
    await writeImage(image, t, tagArg, c.o.ctx);
    tags.push(t);
  }
  for (const b of exported.newBlobs) await c.index.rememberBlob(b.diffId, b.descriptor);
  const imageId = image.manifest.config.digest;
  c.log.info(`*** Images (${imageId.slice(7, 19)}):`);
  for (const t of tags) c.log.info(`      ${t}`);
  c.log.info("");
  c.log.info(`*** Image ID: ${imageId.slice(7)}`);
  c.log.info(`*** Manifest Digest: ${image.descriptor.digest}`);
  return {
    tags,
    digest: image.descriptor.digest,
    imageId,
    manifestSize: image.descriptor.size,
    blobs: {
      uploaded: written.blobs.written,
      existing: written.blobs.exists,
      mounted: written.blobs.mounted,
    },
  };
}

/** CACHING: the cache layers (pack's "Reusing/Adding cache layer" lines), saved to the directory or image. */
export async function saveCache(c: BuildContext, exported: ExportResult, cache: Cache): Promise<void> {
  const contents = exported.cache;
  if (!contents) return;
  const reused = (sha: string) => contents.layers.some((l) => l.diffId === sha && !l.tarPath && !l.blob);
  for (const b of contents.metadata.buildpacks) {
    for (const [name, l] of Object.entries(b.layers)) {
      const kept = reused(l.sha) || (cache.kind === "image" && (await cache.hasLayer(l.sha)));
      c.log.info(`${kept ? "Reusing" : "Adding"} cache layer '${b.key}:${name}'`);
    }
  }
  const sbomSha = contents.metadata.sbom?.sha;
  if (sbomSha) {
    c.log.info(`${reused(sbomSha) ? "Reusing" : "Adding"} cache layer 'buildpacksio/lifecycle:cache.sbom'`);
  }
  if (cache instanceof DirectoryCache) await cache.save(contents.metadata, contents.layers);
  else if (cache instanceof ImageCache) await saveImageCache(cache, contents, c.o.ctx);
}

/** Write the cache image as the lifecycle does: the cache layers' blobs, a history entry each, the cache metadata label. */
async function saveImageCache(
  cache: ImageCache,
  contents: NonNullable<ExportResult["cache"]>,
  ctx: TransportContext,
): Promise<void> {
  const layers: AssembledLayer[] = [];
  for (const l of contents.layers) {
    if (l.blob) {
      layers.push({ descriptor: l.blob.descriptor, diffId: l.diffId, from: l.blob.source });
      continue;
    }
    const d = cache.layer(l.diffId);
    if (!d || !cache.image) throw new BerthError("INTERNAL", `cache layer ${l.diffId} has no blob`);
    layers.push({ descriptor: d, diffId: l.diffId, from: cache.image.source });
  }
  const img = assemble(
    {
      created: "1980-01-01T00:00:01Z",
      architecture: "amd64",
      os: "linux",
      config: { Labels: { "io.buildpacks.lifecycle.cache.metadata": JSON.stringify(contents.metadata) } },
      rootfs: { type: "layers", diff_ids: [] },
      // One history entry per layer, as the lifecycle's cache image has: its exporter reuses a cache layer with
      // that layer's history entry and crashed on a berth cache image without one (imgutil getHistory indexes
      // `history` unchecked; test/cnb/lifecycle/pack-cross.test.ts).
      history: layers.map(() => ({ created: "1980-01-01T00:00:01Z" })),
    },
    contentLayers(layers),
    { docker: false },
  );
  const arg = cacheImageArg(cache.reference);
  await writeImage(img, cache.reference, arg, ctx).catch((err) => {
    throw wrapError(`saving the cache image ${cache.reference}`, err);
  });
}

/** report.toml in the layers directory (and --report-output-dir), the SBOMs to --sbom-output-dir. */
export async function report(c: BuildContext, saved: Saved): Promise<void> {
  const text = encodeReport(saved);
  const { reportOutputDir, sbomOutputDir, reportPath } = c.opts;
  // Buildpacks own the layers dir: never write through a report.toml one of them left as a symlink.
  if (reportPath) await writeFile(reportPath, text);
  else await layersTree(c.executor).writeFile("report.toml", text);
  if (reportOutputDir) {
    await mkdir(reportOutputDir, { recursive: true });
    await writeFile(join(reportOutputDir, "report.toml"), text);
  }
  const sbom = join(c.paths.layers, "sbom");
  if (sbomOutputDir && (await lstat(sbom).catch(() => undefined))?.isDirectory()) {
    await mkdir(sbomOutputDir, { recursive: true });
    await cp(sbom, sbomOutputDir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
  c.log.info(`Successfully built image '${nameOf(c.image)}'`);
}

/** The image's name as pack prints it. */
export function nameOf(arg: ImageArgument): string {
  return arg.transport === "store" || arg.transport === "docker" ? arg.ref : arg.text;
}

/** A cache image names a registry unless it says otherwise (pack's --cache-image is a registry image). */
function cacheImageArg(ref: string): ImageArgument {
  return parseImageArgument(ref, { default: "docker" });
}
