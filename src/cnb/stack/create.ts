/**
 * `berth stack create`: a build image and a run image from Debian packages, as the Platform API wants them
 * (spec: platform.md §Build Image, §Run Image, §Target Data). The run image is the distribution's minimal
 * base plus a few run packages; the build image is the same tree plus compilers and tools. Both carry the CNB
 * user, the `io.buildpacks.base.*` labels, the deprecated stack id, and target data; their layers are
 * reproducible for a given tree and SOURCE_DATE_EPOCH.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { wrapError } from "../../errors.ts";
import { epochToRfc3339 } from "../../image/index.ts";
import type { CopyResult } from "../../oci/copy.ts";
import { type AddedLayer, mutate } from "../../oci/mutate.ts";
import { hostPlatform, type Platform } from "../../oci/platform.ts";
import type { TransportContext } from "../../transport/context.ts";
import { writeImage } from "../../transport/copy.ts";
import type { ImageArgument } from "../../transport/parse.ts";
import { exists } from "../../util/fs.ts";
import { type Distro, parseDistro, stackId } from "./distro.ts";
import { type CnbUser, caLayer, type ExtraCa, rootfsLayer, type StackLayer, userLayer } from "./layer.ts";
import { bootstrapRootfs, type Rootfs } from "./rootfs.ts";
import { TINY_RECIPE, TINY_RUN_PACKAGES, tinyLayer, tinyStaging } from "./tiny.ts";

/** What every run image gets: TLS roots (and openssl, which they need). */
export const DEFAULT_RUN_PACKAGES = ["ca-certificates"] as const;
/**
 * What the default build image adds: fetching (curl, git), compilers for native modules (g++, make), and the
 * toolchains the default builder's buildpacks take from the distribution (Python, Go, a JDK for Maven builds and
 * jlink, busybox).
 */
export const DEFAULT_BUILD_PACKAGES = [
  "ca-certificates",
  "curl",
  "git",
  "xz-utils",
  "g++",
  "make",
  "python3",
  "python3-venv",
  "golang-go",
  "openjdk-17-jdk-headless",
  "busybox-static",
] as const;

export const BUILD_USER: CnbUser = { name: "cnb", uid: 1000, gid: 1000, group: "cnb", home: "/home/cnb" };
/** The run user differs from the build user (spec: run images SHOULD), so an app cannot rewrite its own files. */
export const RUN_USER: CnbUser = { name: "cnb", uid: 1001, gid: 1000, group: "cnb", home: "/home/cnb" };

const PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface StackOptions {
  /** `debian:bookworm` (default). */
  distro?: string;
  buildImage: ImageArgument;
  runImage: ImageArgument;
  /**
   * The tiny run image (distroless-style: libraries, CA bundle, tzdata, users; no shell), made from the build
   * tree's packages (TINY_RUN_PACKAGES); none when absent.
   */
  tinyRunImage?: ImageArgument;
  /** Build image packages; default DEFAULT_BUILD_PACKAGES. */
  packages?: readonly string[] | undefined;
  /** Run image packages besides minbase; default DEFAULT_RUN_PACKAGES. */
  runPackages?: readonly string[] | undefined;
  mirror?: string | undefined;
  ctx: TransportContext;
  isRoot: boolean;
  searchPath?: string | undefined;
  /** Extra CAs both images trust (appended to the distribution's bundle, in a layer of their own). */
  extraCas?: readonly ExtraCa[];
  /** File mtimes and creation time; default 0 (1970). */
  sourceDateEpoch?: number | undefined;
  /** Progress lines ("bootstrapping the run image…", debootstrap's own lines when `verbose`). */
  onProgress?: (line: string) => void;
  onDetail?: (line: string) => void;
  signal?: AbortSignal | undefined;
}

export interface StackImage {
  name: string;
  digest: string;
  /** Sum of the compressed layer sizes. */
  size: number;
  /** Packages installed. */
  packages: number;
  /** Whether the tree came from the cache. */
  cached: boolean;
}

export interface StackResult {
  id: string;
  distro: Distro;
  build: StackImage;
  run: StackImage;
  tiny?: StackImage;
}

export function stackCacheDir(home: string): string {
  return join(home, "cache", "stack");
}

const DEB_ARCH: Record<string, string> = { amd64: "amd64", arm64: "arm64", arm: "armhf", "386": "i386" };

/** Make (or reuse) the trees, turn them into layers (or reuse cached ones), and write both images. */
export async function createStack(options: StackOptions): Promise<StackResult> {
  const distro = parseDistro(options.distro ?? "debian:bookworm");
  const cas = options.extraCas ?? [];
  const s: StackContext = {
    options,
    distro,
    id: stackId(distro),
    epoch: options.sourceDateEpoch ?? 0,
    cacheDir: stackCacheDir(options.ctx.home),
    platform: hostPlatform(),
    cas,
    caKey: createHash("sha256").update(JSON.stringify(cas)).digest("hex").slice(0, 16),
    progress: options.onProgress ?? (() => {}),
  };
  const runPackages = [...(options.runPackages ?? DEFAULT_RUN_PACKAGES)];
  const buildPackages = [...new Set([...runPackages, ...(options.packages ?? DEFAULT_BUILD_PACKAGES)])];
  s.progress(`run image: ${distro.name} ${distro.codename} minbase + ${runPackages.join(", ") || "nothing"}`);
  s.progress(`build image: ${distro.name} ${distro.codename} minbase + ${buildPackages.join(", ")}`);
  // Both trees at once: downloads overlap with the other's unpacking and configuring.
  const [runFs, buildFs] = await Promise.all([
    bootstrapTree(s, "run", runPackages),
    bootstrapTree(s, "build", buildPackages),
  ]);
  const run = await writeStackImage(s, "run", runFs, RUN_USER, options.runImage);
  const build = await writeStackImage(s, "build", buildFs, BUILD_USER, options.buildImage);
  // The tiny run image's packages come from the build tree (it has every run-time library the build links against).
  const tiny = options.tinyRunImage
    ? await writeStackImage(s, "tiny", buildFs, RUN_USER, options.tinyRunImage)
    : undefined;
  return { id: s.id, distro, build, run, ...(tiny ? { tiny } : {}) };
}

/** What every image of one `createStack` shares. */
interface StackContext {
  options: StackOptions;
  distro: Distro;
  id: string;
  /** SOURCE_DATE_EPOCH. */
  epoch: number;
  cacheDir: string;
  platform: Platform;
  cas: readonly ExtraCa[];
  /** The extra CAs' part of the cache keys of layers that hold them. */
  caKey: string;
  progress: (line: string) => void;
}

type StackKind = "build" | "run" | "tiny";

/** One image's tree (from the cache or debootstrap), with a progress line every 15 s at most. */
async function bootstrapTree(s: StackContext, what: string, packages: string[]): Promise<Rootfs> {
  const { options, distro, progress } = s;
  const started = Date.now();
  const counts = new Map<string, number>();
  let last = started;
  const fs = await bootstrapRootfs({
    distro,
    cacheDir: s.cacheDir,
    isRoot: options.isRoot,
    sourceDateEpoch: s.epoch,
    ...(options.mirror ? { mirror: options.mirror } : {}),
    ...(options.searchPath ? { searchPath: options.searchPath } : {}),
    signal: options.signal,
    packages,
    onLine: (l) => {
      options.onDetail?.(l);
      // Which stage debootstrap is in, and how many packages it has handled.
      const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)\b/.exec(l);
      if (!m) return;
      counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
      if (Date.now() - last < 15_000) return;
      last = Date.now();
      progress(
        `${what} image: debootstrap ${m[1]!.toLowerCase()} (${counts.get(m[1]!)} so far, ${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );
    },
  }).catch((err) => {
    throw wrapError(`bootstrapping the ${what} image's tree (${distro.name} ${distro.codename})`, err);
  });
  progress(
    fs.cached
      ? `${what} image: reusing the cached ${distro.codename} tree (${fs.installed.length} packages)`
      : `${what} image: bootstrapped ${distro.codename} with ${fs.installed.length} packages in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  return fs;
}

function addedLayer(l: StackLayer, createdBy: string): AddedLayer {
  return {
    path: l.path,
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    diffId: l.diffId,
    history: { created_by: createdBy },
  };
}

/** A Debian image's layers: the tree, the CNB user, the extra CAs (each made once, kept in the cache). */
async function debianLayers(s: StackContext, fs: Rootfs, user: CnbUser): Promise<AddedLayer[]> {
  const { cacheDir, epoch, cas } = s;
  const tree = await cachedLayer(cacheDir, `${fs.key}-${epoch}`, (dest) => {
    s.progress(`making the layer of ${fs.dir}`);
    return rootfsLayer(fs.dir, dest, epoch);
  });
  const users = await cachedLayer(cacheDir, `${fs.key}-${epoch}-user2-${user.uid}-${user.gid}`, (dest) =>
    userLayer(fs.dir, user, dest, epoch, epoch),
  );
  const out = [
    addedLayer(tree, `debootstrap --variant=minbase ${s.distro.codename} (${fs.installed.length} packages)`),
    addedLayer(users, `berth stack create: CNB user ${user.name} ${user.uid}:${user.gid}`),
  ];
  if (cas.length) {
    const ca = await cachedLayer(cacheDir, `${fs.key}-${epoch}-ca-${s.caKey}`, (dest) =>
      caLayer(fs.dir, cas, dest, epoch),
    );
    out.push(addedLayer(ca, `berth stack create: ${cas.length} extra CA certificate(s)`));
  }
  return out;
}

/** The tiny run image's one layer (kept in the cache), and how many packages it holds the files of. */
async function tinyLayers(
  s: StackContext,
  fs: Rootfs,
  user: CnbUser,
): Promise<{ layers: AddedLayer[]; packages: number }> {
  const l = await cachedLayer<StackLayer & { packages: string[] }>(
    s.cacheDir,
    `${fs.key}-${s.epoch}-tiny${TINY_RECIPE}-${user.uid}-${user.gid}-${s.caKey}`,
    async (dest) => {
      s.progress(`making the tiny run image's layer from ${fs.dir}`);
      const made = await tinyLayer(fs.dir, {
        dest,
        staging: tinyStaging(s.cacheDir),
        user,
        debianArch: debianArch(s.platform),
        mtime: s.epoch,
        extraCas: s.cas,
      });
      return { ...made.layer, packages: made.packages };
    },
  );
  const createdBy = `berth stack create: the files of ${l.packages.join(", ")}; CNB user ${user.name} ${user.uid}:${user.gid}`;
  return { layers: [addedLayer(l, createdBy)], packages: l.packages.length };
}

function debianArch(p: Platform): string {
  return DEB_ARCH[p.architecture] ?? p.architecture;
}

/** The `io.buildpacks.base.*` labels, the deprecated stack id and mixins, and `rebasable` on run images. */
function stackLabels(s: StackContext, kind: StackKind, fs: Rootfs, packages: number): Record<string, string> {
  const { distro, id } = s;
  return {
    "io.buildpacks.base.distro.name": distro.name,
    "io.buildpacks.base.distro.version": distro.version,
    "io.buildpacks.base.id": id,
    "io.buildpacks.base.maintainer": "berth",
    "io.buildpacks.base.homepage": "https://github.com/berth-build/berth",
    "io.buildpacks.base.released": epochToRfc3339(s.epoch),
    "io.buildpacks.base.description":
      kind === "tiny"
        ? `tiny run image: the files of ${packages} ${distro.name} ${distro.codename} (${distro.version}) packages (${TINY_RUN_PACKAGES.join(", ")}), no shell, made by berth stack create`
        : `${kind} image: ${distro.name} ${distro.codename} (${distro.version}) minbase with ${packages} packages, made by berth stack create`,
    "io.buildpacks.base.metadata": JSON.stringify({
      packages,
      tree: fs.key,
      debianArch: debianArch(s.platform),
    }),
    "io.buildpacks.stack.id": id,
    "io.buildpacks.stack.mixins": "[]",
    ...(kind !== "build" ? { "io.buildpacks.rebasable": "true" } : {}),
  };
}

/** One image of the stack: its layers, the CNB user, env and labels, written to `target`. */
async function writeStackImage(
  s: StackContext,
  kind: StackKind,
  fs: Rootfs,
  user: CnbUser,
  target: ImageArgument,
): Promise<StackImage> {
  const { layers, packages } =
    kind === "tiny"
      ? await tinyLayers(s, fs, user)
      : { layers: await debianLayers(s, fs, user), packages: fs.installed.length };
  const env = [
    PATH,
    ...(kind === "build"
      ? [`CNB_USER_ID=${user.uid}`, `CNB_GROUP_ID=${user.gid}`, `CNB_STACK_ID=${s.id}`, `HOME=${user.home}`]
      : [`HOME=${user.home}`]),
  ];
  const result = mutate(
    undefined,
    {
      layers,
      platform: s.platform,
      created: epochToRfc3339(s.epoch),
      config: () => ({
        User: `${user.uid}:${user.gid}`,
        Env: env,
        // The tiny image has no shell to start.
        ...(kind === "tiny" ? {} : { Cmd: ["/bin/bash"] }),
        Labels: stackLabels(s, kind, fs, packages),
      }),
    },
    s.platform,
  );
  let copied: CopyResult;
  try {
    copied = await writeImage(result, undefined, target, s.options.ctx);
  } catch (err) {
    throw wrapError(`writing the ${kind} image ${target.text}`, err);
  }
  s.progress(`${kind} image: ${target.text} ${copied.root.digest}`);
  return {
    name: target.text,
    digest: copied.root.digest,
    size: layers.reduce((n, l) => n + l.size, 0),
    packages,
    cached: fs.cached,
  };
}

/** A layer blob kept in the stack cache under a key, made once. */
async function cachedLayer<T extends StackLayer = StackLayer>(
  cacheDir: string,
  key: string,
  make: (dest: string) => Promise<T>,
): Promise<T> {
  const name = createHash("sha256").update(key).digest("hex").slice(0, 24);
  const blob = join(cacheDir, "layers", `${name}.tar.gz`);
  const meta = `${blob}.json`;
  if ((await exists(blob)) && (await exists(meta))) {
    return { ...(JSON.parse(await readFile(meta, "utf8")) as T), path: blob };
  }
  await mkdir(join(cacheDir, "layers"), { recursive: true });
  const made = await make(blob);
  const tmp = `${meta}.tmp-${randomBytes(6).toString("hex")}`;
  await writeFile(tmp, JSON.stringify({ ...made, path: blob }));
  await rename(tmp, meta);
  return { ...made, path: blob };
}

/** Remove cached trees and layers. */
export async function clearStackCache(home: string): Promise<void> {
  await rm(stackCacheDir(home), { recursive: true, force: true });
}
