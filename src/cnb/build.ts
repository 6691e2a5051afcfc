/**
 * `berth build` with buildpacks: the phases strung together as pack's creator does (analyze, detect, restore,
 * build, export), then the image saved to its destination, the cache saved and report.toml written.
 *
 * Working state: `$BERTH_HOME/cache/cnb/<hash of the image name>/` holds the default directory cache
 * (`cache/`), the app copy buildpacks work on (`workspace/`) and the layers directory (`layers/`, kept between
 * builds so that restore need not extract a cache layer that is still there unchanged);
 * `$BERTH_HOME/cache/cnb/{fingerprints,blobs}` the layer index; a temp folder under `$BERTH_HOME/tmp` the
 * platform dir and the builder of this build.
 */
import { createHash } from "node:crypto";
import { chown, cp, lstat, mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BerthError, wrapError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { Store } from "../oci/store.ts";
import type { NetworkMode } from "../runtime/index.ts";
import type { TransportContext } from "../transport/context.ts";
import { writeImage } from "../transport/copy.ts";
import { openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../transport/parse.ts";
import { ownedTempDir } from "../util/fs.ts";
import { withOwnedLock } from "../util/lock.ts";
import { PLATFORM_API } from "./api.ts";
import type { ModuleRef, Order } from "./buildpack/descriptor.ts";
import { Env } from "./buildpack/env.ts";
import { type Cache, DirectoryCache, ImageCache } from "./cache/cache.ts";
import { LayerIndex } from "./cache/fingerprint.ts";
import { syncTree } from "./cache/workspace.ts";
import { encodeAnalyzed } from "./files/analyzed.ts";
import type { GroupEntry } from "./files/group.ts";
import { encodeReport } from "./files/report.ts";
import { berthLauncher, lifecycleLauncher } from "./launch/index.ts";
import { type Analyzed, Analyzer, resolveImage } from "./phase/analyze.ts";
import { assembleImage } from "./phase/assemble.ts";
import { build } from "./phase/build.ts";
import { detect } from "./phase/detect.ts";
import { type Executor, hostExecutor, layersTree, sandboxExecutor } from "./phase/executor.ts";
import { type BlobHolder, Exporter, type ExportStats, type LauncherInput } from "./phase/export.ts";
import type { PhaseLogger } from "./phase/log.ts";
import { pruneLayersDir, type RestoreResult, Restorer } from "./phase/restore.ts";
import { openBuilder } from "./platform/builder.ts";
import { mergePlatformEnv, parseEnvArg, readEnvFile, writePlatformEnv } from "./platform/env.ts";
import { locateBuildpack, orderFromBuildpackArgs } from "./platform/locator.ts";
import {
  type ProjectBuildpack,
  projectDir,
  projectMetadata,
  projectSourceFilter,
  readProjectToml,
  writeInlineBuildpack,
} from "./platform/project.ts";
import { withSystemBuildpacks } from "./platform/system.ts";
import { completeTarget } from "./platform/target.ts";

export interface BuildWithBuildpacksOptions {
  /** The app's folder (APP, default the current folder). */
  appDir: string;
  /** Where the image goes (`-t`): a store name, `oci:`, `docker-archive:`, or `docker://` with --publish. */
  image: ImageArgument;
  /** `--builder` (default: project.toml's). */
  builder?: string;
  runImage?: string;
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
  cacheImage?: string;
  clearCache?: boolean;
  previousImage?: string;
  publish?: boolean;
  /** `--creation-time`: seconds since the epoch, or "now". */
  creationTime?: string;
  defaultProcess?: string;
  sbomOutputDir?: string;
  reportOutputDir?: string;
  /** project.toml (default APP/project.toml). */
  descriptor?: string;
  /** Default "default": a private namespace with outbound access; "host": the host's; "none". */
  network?: NetworkMode;
  /** "sandbox" (default): buildpacks run in the build image; "host": on this machine. */
  isolation?: "sandbox" | "host";
  /** OCI runtime for the sandbox. */
  runtime?: string;
  /** Whether berth runs as root (then files are given to the CNB user, as the lifecycle does). */
  asRoot?: boolean;
  /** Extra tags (`-t` repeated). */
  tags?: string[];
  ctx: TransportContext;
  /** The host's environment, for bare `-e K` and the compiler. */
  hostEnv?: Record<string, string | undefined>;
  logger: PhaseLogger;
  /** The current time, for `--creation-time now` (the CLI passes it; library code reads no clock). */
  now?: () => Date;
  signal?: AbortSignal;
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

function nameHash(arg: ImageArgument): string {
  const key = arg.transport === "store" || arg.transport === "docker" ? Store.normalize(arg.ref) : arg.text;
  return createHash("sha256").update(key).digest("hex").slice(0, 24);
}

function creationTime(o: BuildWithBuildpacksOptions): string | undefined {
  const t = o.creationTime;
  if (t === undefined || t === "") return undefined;
  if (t === "now") return (o.now?.() ?? new Date(0)).toISOString().replace(/\.\d{3}Z$/, "Z");
  if (!/^\d+$/.test(t))
    throw new BerthError("USAGE", `--creation-time ${JSON.stringify(t)} is not a number of seconds or "now"`);
  return new Date(Number(t) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Build an app image with buildpacks: pack build, daemonless. */
export async function buildWithBuildpacks(o: BuildWithBuildpacksOptions): Promise<BuildWithBuildpacksResult> {
  const log = o.logger;
  const ctx = o.ctx;
  const home = ctx.home;
  const appDir = resolve(o.appDir);
  const project = await readProjectToml(
    o.descriptor ?? join(appDir, "project.toml"),
    o.descriptor === undefined,
    appDir,
  );
  for (const w of project?.warnings ?? []) log.warn(w);
  const builderName = o.builder ?? project?.builder;
  if (!builderName) {
    throw new BerthError(
      "USAGE",
      "no builder: give one with --builder (or [io.buildpacks] builder in project.toml)",
    );
  }
  if (o.cacheDir && o.cacheImage)
    throw new BerthError("USAGE", "--cache-dir and --cache-image cannot be used together");
  const created = creationTime(o);
  const per = join(home, "cache", "cnb", nameHash(o.image));
  // One build per image name at a time: they share the app copy, the layers directory and the cache. A
  // second build of the name waits (pack's builds of one name both succeed too; the last one's tag stays).
  // The lock names its holder, so one left by a killed build is taken over at once.
  return withOwnedLock(
    join(per, "build"),
    () => buildUnderLock(o, { project, builderName, created, per, appDir }),
    {
      waitMs: Number.POSITIVE_INFINITY,
      onWait: (holder) =>
        log.info(`Waiting for another build of ${o.image.text} (process ${holder.split(" ")[0]}) to finish`),
    },
  );
}

async function buildUnderLock(
  o: BuildWithBuildpacksOptions,
  p: {
    project: Awaited<ReturnType<typeof readProjectToml>>;
    builderName: string;
    created: string | undefined;
    per: string;
    appDir: string;
  },
): Promise<BuildWithBuildpacksResult> {
  const { project, builderName, created, per, appDir } = p;
  const log = o.logger;
  const ctx = o.ctx;
  const home = ctx.home;
  const work = await ownedTempDir(join(home, "tmp"), "cnb-build-");
  const closers: (() => Promise<void>)[] = [];
  try {
    // The builder: its /cnb extracted (buildpacks, order, run images, build config).
    const builder = await openBuilder(builderName, ctx, join(work, "builder")).catch((err) => {
      throw wrapError(`reading builder ${builderName}`, err);
    });
    const owner = builder.info.user;
    // Buildpacks as pack locates them (platform/locator.ts): a path (relative to `relativeTo`), a builder
    // buildpack ID[@VERSION], an image; fetched ones are added to the builder's store. The group entry.
    const locate = {
      builderOrder: builder.order,
      store: builder.store,
      buildpacksDir: builder.buildpacksDir,
      ctx,
      tmp: join(work, "bp-tmp"),
      warn: (l: string) => log.warn(l),
    };
    const addRef = (ref: string, relativeTo: string): Promise<ModuleRef> =>
      locateBuildpack(ref, { ...locate, cwd: relativeTo });
    // project.toml's buildpacks as pack takes them: an inline script becomes a buildpack folder, a uri is
    // loaded against the descriptor's folder, an id (and version) is the builder's.
    const fromProject = async (list: readonly ProjectBuildpack[], key: string): Promise<ModuleRef[]> => {
      const out: ModuleRef[] = [];
      for (const bp of list) {
        if (bp.script && bp.id) {
          const dir = await writeInlineBuildpack(bp, join(work, "inline"), builder.info.stackId);
          out.push(await addRef(dir, dir));
        } else if (bp.uri) {
          out.push(await addRef(bp.uri, projectDir(project!)));
        } else if (bp.id) {
          try {
            const found = builder.store.lookup(bp.id, bp.version);
            out.push({ id: found.descriptor.buildpack.id, version: found.descriptor.buildpack.version });
          } catch (err) {
            throw new BerthError(
              "CNB_CONFIG_INVALID",
              `${project!.file}: ${key} buildpack ${bp.id}${bp.version ? `@${bp.version}` : ""} is not in the builder ${builderName}`,
              { cause: err, hint: "give its uri (a folder, .cnb or image) in project.toml" },
            );
          }
        }
      }
      return out;
    };
    let order: Order = builder.order;
    if (o.buildpacks?.length) {
      // --buildpack as pack takes it, relative paths against the CLI's current directory.
      order = await orderFromBuildpackArgs(o.buildpacks, { ...locate, cwd: resolve(o.cwd ?? ".") });
    } else if (project?.group.length) {
      // The project's group replaces the builder's order (pack: --buildpack wins over it).
      order = [{ group: await fromProject(project.group, "group") }];
    } else if (project && (project.pre.length || project.post.length)) {
      // pre/post wrap every group of the builder's order.
      const pre = await fromProject(project.pre, "pre");
      const post = await fromProject(project.post, "post");
      order = builder.order.map((g) => ({ ...g, group: [...pre, ...g.group, ...post] }));
    }

    // Directories: the app copy, layers, platform.
    const workspace = join(per, "workspace");
    const filter = projectSourceFilter(project);
    const asRoot = o.asRoot ?? false;
    await syncTree(appDir, workspace, {
      ...(asRoot ? { uid: owner.uid, gid: owner.gid } : {}),
      ...(filter ? { filter } : {}),
    });
    // The layers directory is the previous build's: only its layer directories stay (the restorer keeps
    // those the cache holds unchanged); --clear-cache starts from nothing.
    const layersDir = join(per, "layers");
    if (o.clearCache) await rm(layersDir, { recursive: true, force: true });
    await pruneLayersDir(layersDir);
    const platformDir = join(work, "platform");
    await mkdir(platformDir, { recursive: true });
    if (asRoot) await chown(layersDir, owner.uid, owner.gid);
    const hostEnv = o.hostEnv ?? {};
    const envPairs: [string, string][] = [];
    for (const e of project?.buildEnv ?? []) envPairs.push([e.name, e.value]);
    if (o.envFile) envPairs.push(...(await readEnvFile(o.envFile, hostEnv)));
    for (const e of o.env ?? []) {
      const kv = parseEnvArg(e, hostEnv);
      if (kv) envPairs.push(kv);
    }
    await writePlatformEnv(platformDir, mergePlatformEnv(envPairs));

    // ANALYZING
    log.info("===> ANALYZING");
    const analyzed: Analyzed = await new Analyzer({
      target: o.image,
      ...(o.previousImage ? { previousImage: o.previousImage } : {}),
      ...(o.runImage ? { runImage: o.runImage } : {}),
      runImages: builder.runImages,
      publish: o.publish ?? false,
      ctx,
      log: (l) => log.info(l),
    }).analyze();
    closers.push(() => analyzed.close());
    log.info(`Run image: ${analyzed.runImage.reference}`);

    // The executor: the build image through the sandbox, or this machine.
    const paths = {
      app: workspace,
      layers: layersDir,
      platform: platformDir,
      buildpacks: builder.buildpacksDir,
      buildConfig: builder.buildConfigDir,
    };
    let executor: Executor;
    let env: Env;
    if (o.isolation === "host") {
      executor = hostExecutor({ paths, ...(asRoot ? { owner } : {}) });
      env = Env.forBuild(hostEnv);
    } else {
      executor = await sandboxExecutor({
        runtime: {
          home,
          ...(o.runtime ? { runtime: o.runtime } : {}),
          ...(hostEnv.PATH ? { searchPath: hostEnv.PATH } : {}),
        },
        image: builder.info.image,
        imageName: builderName,
        paths,
        owner,
        upperDir: join(work, "upper"),
        network: o.network ?? "default",
      });
      env = Env.forBuild(builder.info.image.config?.config?.Env ?? []);
    }
    const target = await completeTarget(analyzed.target, (p) => executor.readRootFile(p));
    await writeFile(
      join(layersDir, "analyzed.toml"),
      encodeAnalyzed({
        ...(analyzed.previous ? { image: { reference: analyzed.previous.image.digest } } : {}),
        runImage: { reference: analyzed.runImage.reference, image: analyzed.runImage.name, target },
      }),
    );

    // DETECTING
    const detected = await detect({
      order: o.disableSystemBuildpacks ? order : withSystemBuildpacks(order, builder.system),
      store: builder.store,
      executor,
      env,
      target,
      platformApi: PLATFORM_API,
      logger: log,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const group: GroupEntry[] = detected.group.group.map((g) => {
      const bp = builder.store.lookup(g.id, g.version);
      return {
        id: g.id,
        version: g.version,
        api: g.api ?? bp.descriptor.api,
        ...(g.homepage ? { homepage: g.homepage } : {}),
      };
    });

    // The cache.
    const index = new LayerIndex(join(home, "cache", "cnb"));
    let cache: Cache;
    if (o.cacheImage) {
      const opened = o.clearCache ? undefined : await resolveImage(imageArgText(o.cacheImage), ctx);
      if (opened) closers.push(() => opened.close());
      cache = new ImageCache(o.cacheImage, opened?.image);
    } else {
      cache = new DirectoryCache(o.cacheDir ? resolve(o.cacheDir) : join(per, "cache"), {
        clear: o.clearCache ?? false,
      });
    }

    // RESTORING
    log.info("===> RESTORING");
    const restored = await new Restorer({
      layersDir,
      reuse: true,
      group,
      previous: analyzed.previous?.metadata,
      ...(analyzed.previous ? { previousImage: analyzed.previous.image } : {}),
      // --clear-cache as pack runs the creator (-skip-restore): store.toml only.
      skipLayers: o.clearCache ?? false,
      cache,
      index,
      uid: owner.uid,
      gid: owner.gid,
      chown: asRoot,
      log: (l) => log.info(l),
      warn: (l) => log.warn(l),
      ...(o.signal ? { signal: o.signal } : {}),
    }).restore();

    // BUILDING
    await build({
      group: detected.group,
      plan: detected.plan,
      store: builder.store,
      executor,
      env,
      target,
      platformApi: PLATFORM_API,
      logger: log,
      ...(o.signal ? { signal: o.signal } : {}),
    });

    // EXPORTING
    log.info("===> EXPORTING");
    const launcher: LauncherInput =
      (await lifecycleLauncher(builder.info.image, home)) ??
      (await berthLauncher({
        home,
        platform: { os: target.os, architecture: target.arch },
        env: hostEnv,
      }));
    const store = await Store.open(home);
    // Blobs export reuses from the store are leased before they are checked for, so a `gc` cannot take them
    // before the image that uses them is written.
    const storeLease = store.layout.lease();
    closers.push(() => storeLease.release());
    const holders: BlobHolder[] = [
      {
        hasBlob: async (d) => {
          await storeLease.add(d.digest);
          return store.layout.hasBlob(d);
        },
        source: store.layout,
      },
    ];
    let destRepo: { hasBlob(d: Descriptor): Promise<boolean> } | undefined;
    if (o.image.transport === "docker") {
      const dest = await openSource(o.image, ctx).catch(() => undefined);
      if (dest) {
        closers.push(() => dest.close());
        const src = dest.source as unknown as { hasBlob?: (d: Descriptor) => Promise<boolean> };
        if (src.hasBlob) destRepo = { hasBlob: (d) => src.hasBlob!(d) };
      }
    }
    if (destRepo) holders.push({ hasBlob: (d) => destRepo!.hasBlob(d), source: undefined });
    const exportDir = join(work, "export");
    await mkdir(exportDir, { recursive: true });
    const exported = await new Exporter({
      layersDir,
      appDir: workspace,
      group,
      runImage: analyzed.runImage,
      runImages: builder.runImages,
      ...(analyzed.previous ? { previous: analyzed.previous } : {}),
      cache,
      index,
      workDir: exportDir,
      launcher,
      uid: owner.uid,
      gid: owner.gid,
      ...(created ? { created } : {}),
      ...(o.defaultProcess ? { defaultProcess: o.defaultProcess } : {}),
      projectMetadata: projectMetadata(project),
      platformApi: PLATFORM_API,
      blobHolders: holders,
      log: (l) => log.info(l),
      warn: (l) => log.warn(l),
      ...(o.signal ? { signal: o.signal } : {}),
    }).export();

    // Save the image (and extra tags).
    const image = exported.image;
    const name = o.image.transport === "store" || o.image.transport === "docker" ? o.image.ref : o.image.text;
    log.info(`Saving ${name}...`);
    const written = await writeImage(image.source, image.descriptor, name, o.image, ctx).catch((err) => {
      throw wrapError(`saving ${o.image.text}`, err);
    });
    const tags = [o.image.text];
    for (const t of o.tags ?? []) {
      const arg = parseImageArgument(o.publish && !t.includes("://") ? `docker://${t}` : t);
      await writeImage(image.source, image.descriptor, t, arg, ctx);
      tags.push(t);
    }
    for (const b of exported.newBlobs) await index.rememberBlob(b.diffId, b.descriptor);
    const imageId = image.manifest.length > 0 ? JSON.parse(image.manifest.toString()).config.digest : "";
    log.info(`*** Images (${imageId.slice(7, 19)}):`);
    for (const t of tags) log.info(`      ${t}`);
    log.info("");
    log.info(`*** Image ID: ${imageId.slice(7)}`);
    log.info(`*** Manifest Digest: ${image.descriptor.digest}`);

    // The cache.
    if (exported.cache) {
      for (const b of exported.cache.metadata.buildpacks) {
        for (const l of Object.keys(b.layers)) {
          const sha = b.layers[l]!.sha;
          const reused = exported.cache.layers.find((c) => c.diffId === sha && !c.tarPath && !c.blob);
          log.info(
            `${reused || (cache.kind === "image" && (await cache.hasLayer(sha))) ? "Reusing" : "Adding"} cache layer '${b.key}:${l}'`,
          );
        }
      }
      const sbomSha = exported.cache.metadata.sbom?.sha;
      if (sbomSha) {
        const reused = exported.cache.layers.find((c) => c.diffId === sbomSha && !c.tarPath && !c.blob);
        log.info(`${reused ? "Reusing" : "Adding"} cache layer 'buildpacksio/lifecycle:cache.sbom'`);
      }
      if (cache instanceof DirectoryCache) await cache.save(exported.cache.metadata, exported.cache.layers);
      else if (cache instanceof ImageCache) await saveImageCache(cache, exported.cache, ctx);
    }

    // report.toml, SBOMs.
    const report = encodeReport({
      tags,
      digest: image.descriptor.digest,
      imageId,
      manifestSize: image.descriptor.size,
    });
    // Buildpacks own the layers dir: never write through a report.toml one of them left as a symlink.
    await layersTree(executor).writeFile("report.toml", report);
    if (o.reportOutputDir) {
      await mkdir(o.reportOutputDir, { recursive: true });
      await writeFile(join(o.reportOutputDir, "report.toml"), report);
    }
    if (o.sbomOutputDir && (await lstat(join(layersDir, "sbom")).catch(() => undefined))?.isDirectory()) {
      const sbom = join(layersDir, "sbom");
      await mkdir(o.sbomOutputDir, { recursive: true });
      await cp(sbom, o.sbomOutputDir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
    }
    log.info(
      `Successfully built image '${o.image.transport === "docker" || o.image.transport === "store" ? o.image.ref : o.image.text}'`,
    );
    return {
      digest: image.descriptor.digest,
      imageId,
      manifestSize: image.descriptor.size,
      image: o.image.text,
      group,
      defaultProcess: exported.defaultProcess,
      stats: {
        ...exported.stats,
        uploaded: written.blobs.written,
        existing: written.blobs.exists,
        mounted: written.blobs.mounted,
      },
      restore: restored,
    };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Write the cache image: the cache layers' blobs plus the cache metadata label. */
async function saveImageCache(
  cache: ImageCache,
  contents: NonNullable<Awaited<ReturnType<Exporter["export"]>>["cache"]>,
  ctx: TransportContext,
): Promise<void> {
  const layers = [];
  for (const l of contents.layers) {
    if (l.blob) {
      layers.push({ descriptor: l.blob.descriptor, diffId: l.diffId, from: l.blob.source });
      continue;
    }
    const d = cache.layer(l.diffId);
    if (!d || !cache.image) throw new BerthError("INTERNAL", `cache layer ${l.diffId} has no blob`);
    layers.push({ descriptor: d, diffId: l.diffId, from: cache.image.source });
  }
  const img = assembleImage(
    {
      created: "1980-01-01T00:00:01Z",
      architecture: "amd64",
      os: "linux",
      config: { Labels: { "io.buildpacks.lifecycle.cache.metadata": JSON.stringify(contents.metadata) } },
      rootfs: { type: "layers", diff_ids: [] },
    },
    layers,
    { docker: false },
  );
  const arg = parseImageArgument(imageArgText(cache.reference));
  await writeImage(img.source, img.descriptor, cache.reference, arg, ctx).catch((err) => {
    throw wrapError(`saving the cache image ${cache.reference}`, err);
  });
}

/** A cache image names a registry unless it says otherwise (pack's --cache-image is a registry image). */
function imageArgText(ref: string): string {
  return ref.includes("://") || /^(oci|oci-archive|docker-archive):/.test(ref) ? ref : `docker://${ref}`;
}
