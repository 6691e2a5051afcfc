/**
 * `berth build --lifecycle builder`: the builder's own CNB lifecycle runs the build in berth's sandbox, as pack
 * runs it with a daemon (pack internal/build/lifecycle_executor.go). A trusted builder (`--trust-builder`, or
 * listed in `$BERTH_HOME/trusted-builders`) runs `creator` in one container; any other runs pack's untrusted
 * flow, `analyzer`, `detector`, `restorer`, `builder`, `exporter`, each a container of its own, the buildpacks'
 * phases (`detector`, `builder`) on the default network and the others with none.
 *
 * No daemon and no registry: the phases read the run image and the previous image from an OCI layout and
 * the exporter writes the app image to one (the lifecycle's `-layout` mode, Platform API 0.12 and later,
 * `CNB_EXPERIMENTAL_MODE=quiet`); berth puts the images into that layout before and copies the app image to
 * its destination (the store, any transport, or the registry with --publish) after. So no phase is given
 * registry credentials, except for a cache image (`--cache-image`, with --publish as pack's): `restorer`,
 * `exporter` or `creator` then read and write it themselves, with `CNB_REGISTRY_AUTH`.
 *
 * `--buildpack` and project.toml's buildpacks: the order pack's ephemeral builder would hold, mounted beside
 * the builder's /cnb (build/lifecycle-run.ts `lifecycleOrder`).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import { loadRoot, selectImage } from "../../oci/image.ts";
import type { Platform } from "../../oci/platform.ts";
import { DEFAULT_REGISTRY, parseReference } from "../../oci/reference.ts";
import { Store } from "../../oci/store.ts";
import type { NetworkMode } from "../../runtime/index.ts";
import { reported, type TransportContext } from "../../transport/context.ts";
import { copyImage, writeImage } from "../../transport/copy.ts";
import { openSource } from "../../transport/open.ts";
import { type ImageArgument, parseImageArgument, registryArgument } from "../../transport/parse.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { withOwnedLock } from "../../util/lock.ts";
import { formatDuration } from "../../util/progress.ts";
import { type BuildWithBuildpacksOptions, creationSeconds } from "../build.ts";
import { encodeReport } from "../files/report.ts";
import { openImage } from "../image.ts";
import { type BuilderInfo, labelRunImages } from "../platform/builder.ts";
import { type ProjectDescriptor, projectAndBuilder } from "../platform/project.ts";
import {
  BUILDPACK_PHASE_ARGS,
  FOLDERS,
  type LifecycleRunOptions,
  runLifecyclePhase,
} from "../platform/runner.ts";
import { emulateForeign, syncApp, writeRunEnv } from "./context.ts";
import {
  chownTree,
  type LifecycleOrder,
  lifecycleAuthEnv,
  lifecycleOrder,
  openLifecycleBuilder,
  phaseFailed,
} from "./lifecycle-run.ts";

export interface LifecycleBuildOptions extends BuildWithBuildpacksOptions {
  /** `--trust-builder`: run `creator` in one container. */
  trustBuilder?: boolean;
}

export interface LifecycleBuildResult {
  digest: string;
  image: string;
  platformApi: string;
  lifecycleVersion: string;
  trusted: boolean;
  /** Host path of the layers folder, kept until the next build of this name (group.toml, plan.toml…). */
  layersDir: string;
}

/** The builders `$BERTH_HOME/trusted-builders` lists (one image name a line, `#` comments), as pack's config. */
export async function trustedBuilders(home: string): Promise<string[]> {
  const text = await readFile(join(home, "trusted-builders"), "utf8").catch(() => "");
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
}

/**
 * imgutil's `layout.ParseRefToPath`: where the lifecycle's layout mode keeps an image, `<registry>/<repo>/<tag>`
 * or `<registry>/<repo>/sha256/<hex>`, with go-containerregistry's names (pkg/name `NewRepository`): the first
 * component is the registry only when it holds a `.` or a `:`, so `localhost/app` (whose registry is `localhost`
 * for berth, as for docker) is Docker Hub's `localhost/app` there; Docker Hub is `index.docker.io` (`docker.io`
 * rewritten), where a one-component repository gets `library/`. The lifecycle reads the same string, so it is
 * read here as it reads it; berth's parser only checks it and gives the tag or digest.
 */
export function layoutPathOf(ref: string): string {
  const r = parseReference(ref);
  const at = ref.indexOf("@");
  let name = at >= 0 ? ref.slice(0, at) : ref;
  if (name.lastIndexOf(":") > name.lastIndexOf("/")) name = name.slice(0, name.lastIndexOf(":"));
  const slash = name.indexOf("/");
  const first = name.slice(0, slash);
  const hasRegistry = slash >= 0 && (first.includes(".") || first.includes(":"));
  const registry = !hasRegistry || first === DEFAULT_REGISTRY ? "index.docker.io" : first;
  let repository = hasRegistry ? name.slice(slash + 1) : name;
  if (registry === "index.docker.io" && !repository.includes("/")) repository = `library/${repository}`;
  return join(registry, repository, ...(r.digest ? r.digest.split(":") : [r.tag ?? "latest"]));
}

/** The name the lifecycle exports under: the target's reference, or a local name for a path destination. */
function exportName(target: ImageArgument): string {
  if (target.transport === "store" || target.transport === "docker") return target.ref;
  return "localhost/berth-lifecycle-build:latest";
}

/**
 * An image (from the store when it is there, else its registry) written into the lifecycle's layout repository
 * at its `layoutPathOf` folder, one image manifest (`platform`'s, from an index; default this machine's). Made before any phase runs,
 * while the folder is berth's alone.
 */
export async function intoLayout(
  ref: string,
  layoutDir: string,
  ctx: TransportContext,
  platform: Platform | undefined,
): Promise<void> {
  const rel = layoutPathOf(ref);
  const dest = join(layoutDir, rel);
  const stage = join(layoutDir, `.stage-${createHash("sha256").update(ref).digest("hex").slice(0, 12)}`);
  const src = await openSource(parseImageArgument(ref), ctx).catch((err) => {
    if (!isBerthError(err, "IMAGE_NOT_FOUND")) throw err;
    return openSource(registryArgument(ref), ctx);
  });
  try {
    const image = await selectImage(await loadRoot(src.source, src.root), platform);
    await writeImage(src.source, image.descriptor, undefined, ociArg(stage), ctx);
  } catch (err) {
    throw wrapError(`reading image ${ref}`, err);
  } finally {
    await src.close();
  }
  await mkdir(dirname(dest), { recursive: true });
  await rename(stage, dest);
  // The same image under the name without the registry's `:` (see portFreeLayoutRefs).
  if (rel.split("/")[0]!.includes(":")) {
    const alias = join(layoutDir, rel.replace(":", "_"));
    await mkdir(dirname(alias), { recursive: true });
    await symlink(relative(dirname(alias), dest), alias);
  }
}

function ociArg(path: string): ImageArgument {
  return { transport: "oci", path, ref: undefined, text: `oci:${path}` };
}

/** Build with the builder's lifecycle. */
export async function buildWithLifecycle(o: LifecycleBuildOptions): Promise<LifecycleBuildResult> {
  const log = o.logger;
  const home = o.ctx.home;
  const { appDir, project, builderName } = await projectAndBuilder(o);
  if (o.isolation === "host") {
    throw new BerthError("USAGE", "--isolation host cannot be used with --lifecycle builder", {
      hint: "the builder's lifecycle runs in berth's sandbox; leave out --isolation host",
    });
  }
  if (o.cacheImage && !o.publish) {
    throw new BerthError("USAGE", "--cache-image requires --publish with --lifecycle builder, as pack's", {
      hint: "add --publish, or keep the cache in a folder with --cache-dir",
    });
  }
  if (o.sbomOutputDir) {
    throw new BerthError("USAGE", "--sbom-output-dir cannot be used with --lifecycle builder yet", {
      hint: "read the SBOM from the image (its io.buildpacks.lifecycle.metadata layers), or build with berth's own engine",
    });
  }
  if (o.cacheImage && o.cacheDir) {
    throw new BerthError("USAGE", "--cache-image and --cache-dir cannot be used together");
  }
  const per = join(
    home,
    "cache",
    "cnb-lifecycle",
    createHash("sha256").update(o.image.text).digest("hex").slice(0, 24),
  );
  return withOwnedLock(join(per, "build"), () => underLock(o, builderName, per, appDir, project), {
    waitMs: Number.POSITIVE_INFINITY,
    onWait: (holder) =>
      log.info(`Waiting for another build of ${o.image.text} (process ${holder.split(" ")[0]}) to finish`),
  });
}

/** The phases that read buildpacks (and so the added ones). */
const BUILDPACK_PHASES = new Set(["detector", "builder", "creator"]);

/** The phases that may get registry credentials (pack: analyzer, restorer, exporter; trusted, creator). */
const REGISTRY_PHASES = new Set(["restorer", "exporter", "creator"]);

/** The platform's folders on the host. */
interface Folders {
  workspace: string;
  layersDir: string;
  cacheDir: string;
  platformDir: string;
  layoutDir: string;
}

async function underLock(
  o: LifecycleBuildOptions,
  builderName: string,
  per: string,
  appDir: string,
  project: ProjectDescriptor | undefined,
): Promise<LifecycleBuildResult> {
  const log = o.logger;
  const home = o.ctx.home;
  const b = await openLifecycleBuilder(builderName, o.ctx, o.platform);
  const work = await ownedTempDir(join(home, "tmp"), "lifecycle-build-");
  try {
    const { info, lifecycle: lc, platformApi } = b;
    const trusted = Boolean(o.trustBuilder) || (await trustedBuilders(home)).includes(builderName);
    log.info(
      `Using the builder's lifecycle ${lc.version} (Platform API ${platformApi}, ${trusted ? "trusted: creator" : "untrusted: one container per phase"})`,
    );
    const owner = info.user;
    const asRoot = o.asRoot ?? false;
    const f = await prepareFolders(o, per, work, appDir, project, owner);
    const order = await lifecycleOrder(
      { ...o, project, builder: builderName },
      info,
      work,
      asRoot ? owner : undefined,
    );
    const { runImage, name } = await layoutImages(o, builderName, info, f.layoutDir);
    await emulateForeign(b.opened.image, o.hostEnv ?? {}, log);
    if (asRoot) {
      for (const d of [f.layersDir, f.cacheDir, f.layoutDir]) await chownTree(d, owner.uid, owner.gid);
    }
    const run: LifecycleRunOptions = {
      home,
      image: b.opened.image,
      imageName: builderName,
      runtime: o.runtime || undefined,
      ...(o.hostEnv?.PATH ? { searchPath: o.hostEnv.PATH } : {}),
      upperDir: join(work, "upper"),
      uid: owner.uid,
      gid: owner.gid,
      platformApi,
      mounts: [],
      // The layout export is experimental in the lifecycle; berth asks for it knowingly.
      env: ["CNB_EXPERIMENTAL_MODE=quiet", ...sourceDateEpoch(o)],
      onOutput: (c) => log.output?.(c, "stdout"),
      signal: o.signal,
    };
    // Registry credentials (for a cache image) only to the phases that use the registry, never to the
    // buildpacks' phases: a buildpack runs as the phase's user and could read the phase's environment.
    const auth = o.cacheImage ? [await lifecycleAuthEnv([o.cacheImage], o.ctx)] : [];
    await runPhases(o, run, f, order, { trusted, runImage, name, auth });

    // The app image, from the layout to its destination.
    const out = join(f.layoutDir, layoutPathOf(name));
    const result = await reported(
      o.image.transport === "docker" ? o.ctx.progress : undefined,
      () => `Pushed ${o.image.text}`,
      (hooks) => copyImage(ociArg(out), o.image, o.ctx, hooks),
    ).catch((err) => {
      throw wrapError(`writing the app image to ${o.image.text}`, err);
    });
    for (const t of o.tags ?? []) await copyImage(o.image, parseImageArgument(t), o.ctx);
    if (o.reportOutputDir) await writeReport(o, out, result.root);
    log.info(`Successfully built image '${o.image.text}'`);
    return {
      digest: result.root.digest,
      image: o.image.text,
      platformApi,
      lifecycleVersion: lc.version,
      trusted,
      layersDir: f.layersDir,
    };
  } finally {
    await b.opened.close();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The app copy and layers kept per image name (the next build restores into them), the cache (--cache-dir,
 * else per image name), the platform env (project.toml's, --env-file, -e), the layout repository.
 */
async function prepareFolders(
  o: LifecycleBuildOptions,
  per: string,
  work: string,
  appDir: string,
  project: ProjectDescriptor | undefined,
  owner: { uid: number; gid: number },
): Promise<Folders> {
  const f: Folders = {
    workspace: join(per, "workspace"),
    layersDir: join(per, "layers"),
    cacheDir: o.cacheDir ? resolve(o.cacheDir) : join(per, "cache"),
    platformDir: join(work, "platform"),
    layoutDir: join(work, "layout-repo"),
  };
  if (o.clearCache) await rm(f.cacheDir, { recursive: true, force: true });
  await rm(f.layersDir, { recursive: true, force: true });
  await syncApp({ appDir, project, asRoot: o.asRoot ?? false }, f.workspace, owner);
  for (const d of [f.layersDir, f.cacheDir, f.layoutDir]) await mkdir(d, { recursive: true });
  await writeRunEnv(
    {
      project,
      envFiles: o.envFile ? [o.envFile] : [],
      env: o.env,
      hostEnv: o.hostEnv ?? {},
    },
    f.platformDir,
  );
  return f;
}

/**
 * The run image (as pack picks it: --run-image, else the builder's) and the previous image (--previous-image,
 * else the store's image of the same name, as pack's is the daemon's) into the layout repository.
 */
async function layoutImages(
  o: LifecycleBuildOptions,
  builderName: string,
  info: BuilderInfo,
  layoutDir: string,
): Promise<{ runImage: string; name: string }> {
  const runImage = o.runImage ?? labelRunImages(info.metadata)[0]?.image;
  if (!runImage) {
    throw new BerthError("CNB_CONFIG_INVALID", `builder ${builderName} names no run image`, {
      hint: "give one with --run-image",
    });
  }
  // pack's targetToUse: --platform, else the builder's platform.
  const platform = o.platform ?? info.image.platform();
  await intoLayout(runImage, layoutDir, o.ctx, platform);
  const name = exportName(o.image);
  if (o.previousImage) await intoLayout(o.previousImage, layoutDir, o.ctx, platform);
  else if (o.image.transport === "store") {
    const store = await Store.open(o.ctx.home);
    const have = await store.resolve(name).then(
      () => true,
      () => false,
    );
    if (have) await intoLayout(name, layoutDir, o.ctx, platform);
  }
  return { runImage, name };
}

/**
 * The phases, as pack runs them: trusted, `creator`; else `analyzer`, `detector`, `restorer`, `builder`,
 * `exporter`. Each phase gets only the folders it works on, as pack's containers do: the buildpacks' phases
 * (detector, builder) neither the cache nor the layout repository berth reads images from afterwards.
 */
async function runPhases(
  o: LifecycleBuildOptions,
  run: LifecycleRunOptions,
  f: Folders,
  order: LifecycleOrder | undefined,
  x: { trusted: boolean; runImage: string; name: string; auth: string[] },
): Promise<void> {
  const folders = {
    layers: { source: f.layersDir, destination: FOLDERS.layers },
    app: { source: f.workspace, destination: FOLDERS.app },
    platform: { source: f.platformDir, destination: FOLDERS.platform, readonly: true },
    cache: { source: f.cacheDir, destination: FOLDERS.cache },
    layout: { source: f.layoutDir, destination: FOLDERS.layout },
  };
  const phase = async (p: string, args: string[], network: NetworkMode, use: (keyof typeof folders)[]) => {
    await rm(run.upperDir, { recursive: true, force: true });
    const mounts = [...use.map((k) => folders[k]), ...(order && BUILDPACK_PHASES.has(p) ? order.mounts : [])];
    const env = [...(run.env ?? []), ...(REGISTRY_PHASES.has(p) ? x.auth : [])];
    const started = Date.now();
    const r = await runLifecyclePhase({ ...run, mounts, env }, p, args, network);
    if (r.exitCode !== 0) throw phaseFailed(p, r.exitCode);
    o.logger.info(`${p} done in ${formatDuration(Date.now() - started)}`);
  };
  const net: NetworkMode = o.network === "host" ? "host" : o.network === "none" ? "none" : "default";
  // A cache image lives in a registry the cache's phases reach (pack's need --publish for it).
  const cacheNet: NetworkMode = o.cacheImage ? net : "none";
  const cache = o.cacheImage ? ["-cache-image", o.cacheImage] : ["-cache-dir", FOLDERS.cache];
  const layout = ["-layout", "-layout-dir", FOLDERS.layout];
  const processType = o.defaultProcess ? ["-process-type", o.defaultProcess] : [];
  const prev = o.previousImage && o.previousImage !== x.name ? ["-previous-image", o.previousImage] : [];
  const bps = order ? [...order.buildpacksArgs] : [];
  const ord = order ? [...order.orderArgs] : [];
  if (x.trusted) {
    await phase(
      "creator",
      [
        ...BUILDPACK_PHASE_ARGS,
        ...cache,
        "-run-image",
        x.runImage,
        ...bps,
        ...ord,
        ...layout,
        ...prev,
        ...processType,
        ...(o.clearCache ? ["-skip-restore"] : []),
        x.name,
      ],
      net,
      ["layers", "app", "platform", "cache", "layout"],
    );
    return;
  }
  await phase(
    "analyzer",
    ["-layers", FOLDERS.layers, "-run-image", x.runImage, ...layout, ...prev, x.name],
    "none",
    ["layers", "layout"],
  );
  await phase("detector", [...BUILDPACK_PHASE_ARGS, ...bps, ...ord], net, ["layers", "app", "platform"]);
  await phase(
    "restorer",
    ["-layers", FOLDERS.layers, ...cache, ...layout, ...(o.clearCache ? ["-skip-layers"] : [])],
    cacheNet,
    ["layers", "cache", "layout"],
  );
  await phase("builder", [...BUILDPACK_PHASE_ARGS, ...bps], net, ["layers", "app", "platform"]);
  // The restorer writes analyzed.toml again.
  await portFreeLayoutRefs(f.layersDir);
  await phase(
    "exporter",
    ["-app", FOLDERS.app, "-layers", FOLDERS.layers, ...cache, ...layout, ...processType, x.name],
    cacheNet,
    ["layers", "app", "cache", "layout"],
  );
}

/** `--creation-time` as the lifecycle takes it (Platform API 0.9+): SOURCE_DATE_EPOCH. */
function sourceDateEpoch(o: LifecycleBuildOptions): string[] {
  const seconds = creationSeconds(o);
  return seconds === undefined ? [] : [`SOURCE_DATE_EPOCH=${seconds}`];
}

/**
 * `--report-output-dir`: report.toml for the image as berth wrote it (the exporter's names the layout path
 * and, in layout mode, no digest).
 */
async function writeReport(
  o: LifecycleBuildOptions,
  out: string,
  root: { digest: string; size: number },
): Promise<void> {
  const opened = await openImage(ociArg(out), o.ctx);
  try {
    const text = encodeReport({
      tags: [o.image.text, ...(o.tags ?? [])],
      digest: root.digest,
      imageId: opened.image.manifest.config.digest,
      manifestSize: root.size,
    });
    await mkdir(resolve(o.reportOutputDir!), { recursive: true });
    await writeFile(join(resolve(o.reportOutputDir!), "report.toml"), text);
  } finally {
    await opened.close();
  }
}

/**
 * The lifecycle (v0.21) records a layout image in analyzed.toml as `/layout-repo/<registry>/<repo>/<tag>@<digest>`,
 * and its exporter then refuses that as an image reference when the registry has a port
 * (`127.0.0.1:5000` — `could not parse reference`). The image is given a second name without the `:` (a
 * symbolic link in the layout repository) and analyzed.toml names that one.
 */
async function portFreeLayoutRefs(layersDir: string): Promise<void> {
  // analyzed.toml sits where the buildpacks wrote: read and written without following a link out. The
  // aliases were made by `intoLayout` before any phase ran; only the file's text changes here.
  const layers = new ConfinedTree(layersDir, {
    owner: "the builder's lifecycle",
    name: "the layers folder",
    seenAs: "/layers",
  });
  const text = await layers.readText("analyzed.toml");
  if (text === undefined) return;
  const changed = text.replace(
    /"\/layout-repo\/([A-Za-z0-9.-]+):([0-9]+)\//g,
    (_m, host: string, port: string) => `"/layout-repo/${host}_${port}/`,
  );
  if (changed !== text) await layers.writeFile("analyzed.toml", changed);
}
