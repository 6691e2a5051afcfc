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
 * registry credentials: berth's own client does every registry transfer.
 */
import { createHash } from "node:crypto";
import { chown, lchown, mkdir, readdir, readFile, rename, rm, symlink } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import { loadRoot, selectImage } from "../../oci/image.ts";
import { DEFAULT_REGISTRY, parseReference } from "../../oci/reference.ts";
import { Store } from "../../oci/store.ts";
import { reported, type TransportContext } from "../../transport/context.ts";
import { copyImage, writeImage } from "../../transport/copy.ts";
import { openSource } from "../../transport/open.ts";
import type { ImageArgument } from "../../transport/parse.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { withOwnedLock } from "../../util/lock.ts";
import { formatDuration } from "../../util/progress.ts";
import type { BuildWithBuildpacksOptions } from "../build.ts";
import { openImage } from "../image.ts";
import { readBuilderInfo } from "../platform/builder.ts";
import { lifecycleOfLabel } from "../platform/lifecycle.ts";
import { type ProjectDescriptor, projectAndBuilder } from "../platform/project.ts";
import {
  BUILDPACK_PHASE_ARGS,
  creatorArgs,
  FOLDERS,
  type LifecycleRunOptions,
  negotiatePlatformApi,
  runLifecyclePhase,
} from "../platform/runner.ts";
import { syncApp, writeRunEnv } from "./context.ts";

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
 * or `<registry>/<repo>/sha256/<hex>` (go-containerregistry's names: index.docker.io, library/).
 */
export function layoutPathOf(ref: string): string {
  const r = parseReference(ref);
  const registry = r.registry === DEFAULT_REGISTRY ? "index.docker.io" : r.registry;
  return join(registry, r.repository, ...(r.digest ? r.digest.split(":") : [r.tag ?? "latest"]));
}

/** The name the lifecycle exports under: the target's reference, or a local name for a path destination. */
function exportName(target: ImageArgument): string {
  if (target.transport === "store" || target.transport === "docker") return target.ref;
  return "localhost/berth-lifecycle-build:latest";
}

/**
 * An image (from the store when it is there, else its registry) written into the lifecycle's layout repository
 * at its `layoutPathOf` folder, one image manifest (the platform's, from an index). Made before any phase runs,
 * while the folder is berth's alone.
 */
async function intoLayout(ref: string, layoutDir: string, ctx: TransportContext): Promise<void> {
  const rel = layoutPathOf(ref);
  const dest = join(layoutDir, rel);
  const stage = join(layoutDir, `.stage-${createHash("sha256").update(ref).digest("hex").slice(0, 12)}`);
  const src = await openSource(parseImageArgument(ref), ctx).catch((err) => {
    if (!isBerthError(err, "IMAGE_NOT_FOUND")) throw err;
    return openSource(parseImageArgument(`docker://${ref}`), ctx);
  });
  try {
    const image = await selectImage(await loadRoot(src.source, src.root));
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
  const ctx = o.ctx;
  const home = ctx.home;
  const { appDir, project, builderName } = await projectAndBuilder(o);
  for (const [flag, set] of [
    ["--buildpack", Boolean(o.buildpacks?.length) || Boolean(project?.group.length)],
    ["--cache-image", Boolean(o.cacheImage)],
    ["--isolation host", o.isolation === "host"],
  ] as const) {
    if (set) {
      throw new BerthError("USAGE", `${flag} is not supported with --lifecycle builder yet`, {
        hint: "build with berth's own engine (leave out --lifecycle builder)",
      });
    }
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

async function underLock(
  o: LifecycleBuildOptions,
  builderName: string,
  per: string,
  appDir: string,
  project: ProjectDescriptor | undefined,
): Promise<LifecycleBuildResult> {
  const log = o.logger;
  const ctx = o.ctx;
  const home = ctx.home;
  const opened = await openImage(builderName, ctx).catch((err) => {
    throw wrapError(`reading builder ${builderName}`, err);
  });
  const work = await ownedTempDir(join(home, "tmp"), "lifecycle-build-");
  try {
    const info = readBuilderInfo(opened.image, builderName);
    const lc = lifecycleOfLabel(info.metadata?.lifecycle);
    if (!lc) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `builder ${builderName} carries no lifecycle (its io.buildpacks.builder.metadata label claims none), so --lifecycle builder cannot run it`,
        {
          hint: "build with berth's own engine (leave out --lifecycle builder), or make the builder with a [lifecycle]",
        },
      );
    }
    const platformApi = negotiatePlatformApi(lc, builderName);
    const trusted = Boolean(o.trustBuilder) || (await trustedBuilders(home)).includes(builderName);
    log.info(
      `Using the builder's lifecycle ${lc.version} (Platform API ${platformApi}, ${trusted ? "trusted: creator" : "untrusted: one container per phase"})`,
    );
    const { uid, gid } = info.user;
    const asRoot = o.asRoot ?? false;

    // The platform's folders: the app copy and layers kept per image name (the next build restores into
    // them), the cache (--cache-dir, else per image name), the platform env, the layout repository.
    const workspace = join(per, "workspace");
    const layersDir = join(per, "layers");
    const cacheDir = o.cacheDir ? resolve(o.cacheDir) : join(per, "cache");
    if (o.clearCache) await rm(cacheDir, { recursive: true, force: true });
    await rm(layersDir, { recursive: true, force: true });
    await syncApp({ appDir, project, asRoot }, workspace, { uid, gid });
    const platformDir = join(work, "platform");
    const layoutDir = join(work, "layout-repo");
    for (const d of [layersDir, cacheDir, layoutDir]) await mkdir(d, { recursive: true });
    const hostEnv = o.hostEnv ?? {};
    await writeRunEnv(
      { project, envFiles: o.envFile ? [o.envFile] : [], ...(o.env ? { env: o.env } : {}), hostEnv },
      platformDir,
    );

    // The run image (as pack picks it: --run-image, else the builder's) and the previous image into the layout.
    const runImage = o.runImage ?? info.metadata?.images?.[0]?.image ?? info.metadata?.stack?.runImage?.image;
    if (!runImage) {
      throw new BerthError("CNB_CONFIG_INVALID", `builder ${builderName} names no run image`, {
        hint: "give one with --run-image",
      });
    }
    await intoLayout(runImage, layoutDir, ctx);
    const name = exportName(o.image);
    // The previous image, as pack's is the image of the same name: the store's, or --previous-image.
    if (o.previousImage) await intoLayout(o.previousImage, layoutDir, ctx);
    else if (o.image.transport === "store") {
      const store = await Store.open(home);
      if (
        await store.resolve(name).then(
          () => true,
          () => false,
        )
      )
        await intoLayout(name, layoutDir, ctx);
    }
    if (asRoot) {
      await chownTree(layersDir, uid, gid);
      await chownTree(cacheDir, uid, gid);
      await chownTree(layoutDir, uid, gid);
    }

    const run: LifecycleRunOptions = {
      home,
      image: opened.image,
      imageName: builderName,
      ...(o.runtime ? { runtime: o.runtime } : {}),
      ...(hostEnv.PATH ? { searchPath: hostEnv.PATH } : {}),
      upperDir: join(work, "upper"),
      uid,
      gid,
      platformApi,
      mounts: [],
      // The layout export is experimental in the lifecycle; berth asks for it knowingly.
      env: ["CNB_EXPERIMENTAL_MODE=quiet"],
      onOutput: (c) => log.output?.(c, "stdout"),
      ...(o.signal ? { signal: o.signal } : {}),
    };
    const layout = ["-layout", "-layout-dir", FOLDERS.layout];
    const processType = o.defaultProcess ? ["-process-type", o.defaultProcess] : [];
    const prev = o.previousImage && o.previousImage !== name ? ["-previous-image", o.previousImage] : [];
    // Each phase gets only the folders it works on, as pack's containers do: the buildpacks' phases (detector,
    // builder) neither the cache nor the layout repository berth reads images from afterwards.
    const folders = {
      layers: { source: layersDir, destination: FOLDERS.layers },
      app: { source: workspace, destination: FOLDERS.app },
      platform: { source: platformDir, destination: FOLDERS.platform, readonly: true },
      cache: { source: cacheDir, destination: FOLDERS.cache },
      layout: { source: layoutDir, destination: FOLDERS.layout },
    };
    const phase = async (
      p: string,
      args: string[],
      network: "default" | "none" | "host",
      use: (keyof typeof folders)[],
    ) => {
      await rm(run.upperDir, { recursive: true, force: true });
      const started = Date.now();
      const r = await runLifecyclePhase({ ...run, mounts: use.map((k) => folders[k]) }, p, args, network);
      if (r.exitCode !== 0) {
        throw new BerthError(
          "CNB_BUILD_FAILED",
          `the builder's lifecycle failed in ${p} (exit code ${r.exitCode})`,
          {
            details: { phase: p, exitCode: r.exitCode },
          },
        );
      }
      log.info(`${p} done in ${formatDuration(Date.now() - started)}`);
    };
    const net = o.network === "host" ? "host" : o.network === "none" ? "none" : "default";
    if (trusted) {
      await phase(
        "creator",
        creatorArgs(runImage, name, [
          ...layout,
          ...prev,
          ...processType,
          ...(o.clearCache ? ["-skip-restore"] : []),
        ]),
        net,
        ["layers", "app", "platform", "cache", "layout"],
      );
    } else {
      await phase(
        "analyzer",
        ["-layers", FOLDERS.layers, "-run-image", runImage, ...layout, ...prev, name],
        "none",
        ["layers", "layout"],
      );
      await phase("detector", BUILDPACK_PHASE_ARGS, net, ["layers", "app", "platform"]);
      await phase(
        "restorer",
        [
          "-layers",
          FOLDERS.layers,
          "-cache-dir",
          FOLDERS.cache,
          ...layout,
          ...(o.clearCache ? ["-skip-layers"] : []),
        ],
        "none",
        ["layers", "cache", "layout"],
      );
      await phase("builder", BUILDPACK_PHASE_ARGS, net, ["layers", "app", "platform"]);
      // The restorer writes analyzed.toml again.
      await portFreeLayoutRefs(layersDir);
      await phase(
        "exporter",
        [
          "-app",
          FOLDERS.app,
          "-layers",
          FOLDERS.layers,
          "-cache-dir",
          FOLDERS.cache,
          ...layout,
          ...processType,
          name,
        ],
        "none",
        ["layers", "app", "cache", "layout"],
      );
    }

    // The app image, from the layout to its destination.
    const out = join(layoutDir, layoutPathOf(name));
    const result = await reported(
      o.image.transport === "docker" ? ctx.progress : undefined,
      () => `Pushed ${o.image.text}`,
      (hooks) =>
        copyImage({ transport: "oci", path: out, ref: undefined, text: `oci:${out}` }, o.image, ctx, hooks),
    ).catch((err) => {
      throw wrapError(`writing the app image to ${o.image.text}`, err);
    });
    for (const t of o.tags ?? []) await copyImage(o.image, parseImageArgument(t), ctx);
    log.info(`Successfully built image '${o.image.text}'`);
    return {
      digest: result.root.digest,
      image: o.image.text,
      platformApi,
      lifecycleVersion: lc.version,
      trusted,
      layersDir,
    };
  } finally {
    await opened.close();
    await rm(work, { recursive: true, force: true });
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

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    await lchown(join(e.parentPath, e.name), uid, gid);
  }
}
