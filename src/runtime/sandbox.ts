/**
 * The sandbox builds run in: a command in a root made of a snapshot chain plus a writable upper directory
 * that the caller keeps, with the mounts, env, user, cwd and network it gives. The result has one shape
 * whether the command succeeds or fails; `captureChanges` turns the upper directory into a layer.
 */
import {
  type BigIntStats,
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { lstat, readdir, rm } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { BerthError } from "../errors.ts";
import {
  type DiffOptions,
  type DiffResult,
  diffOverlay,
  diffTrees,
  type LayerDestination,
  type XattrReader,
} from "../layer/index.ts";
import type { Image } from "../oci/image.ts";
import { etcMounts, type RuntimeContext } from "./container.ts";
import { type ProcessResult, runBundle, type StdioOptions } from "./exec.ts";
import { cgroupsPath, type Rlimit } from "./limits.ts";
import { overlayUnionDirs, overlayXattrReader, rootMount, unmount } from "./mount.ts";
import { type HostEntry, type NetworkSetup, setupNetwork } from "./network.ts";
import { type ContainerRoot, createRoot } from "./root.ts";
import { findRuntime, type OciRuntime } from "./runtime.ts";
import { type PrepareOptions, type SnapshotChain, type SnapshotMode, Snapshots } from "./snapshots.ts";
import {
  buildSpec,
  mergeEnv,
  type NetworkMode,
  processEnv,
  type SpecMount,
  specJson,
  type Volume,
} from "./spec.ts";
import { makeContainerDir } from "./sweep.ts";
import { findInUnion, lookupUnion, type UnionLayer } from "./union.ts";
import { dirFinder, type RootFinder, resolveUser } from "./user.ts";
import { assertUserNamespaces, inUserNamespace, singleIdNamespace } from "./userns.ts";

export interface SandboxOptions extends RuntimeContext, StdioOptions {
  /** The image whose layers make the root (snapshotted as needed)… */
  image?: Image;
  /** …or a chain already prepared with `prepareSnapshots`. */
  chain?: SnapshotChain;
  /** Called before each of the image's layers that has to be unpacked into a snapshot (a pause to announce). */
  onApply?: PrepareOptions["onApply"];
  /** Writable directory for the changes; created if missing, kept afterwards. */
  upperDir: string;
  /** The argv to run. */
  args: string[];
  /** `K=V` over the image's Env (with Docker's PATH and HOME defaults). */
  env?: string[];
  /** Default: the image's User, else root. */
  user?: string | undefined;
  /** Default: the image's WorkingDir, else "/". */
  cwd?: string;
  /** Default "default": a private network namespace with outbound access (network.ts). */
  network?: NetworkMode;
  hostname?: string;
  volumes?: Volume[];
  mounts?: SpecMount[];
  /** Name for messages. */
  imageName?: string;
  /**
   * Who mounts the root's overlay: default the runtime where it can (`runtimeRoot`), else berth on the
   * host; "host" makes berth mount it (tests compare the two).
   */
  mountRoot?: "host" | undefined;
  /**
   * Give the command /etc/hosts, /etc/resolv.conf and /etc/hostname even where the root lacks them (a
   * Dockerfile RUN, as BuildKit); the mount points this makes are the caller's to leave out of the changes.
   * Default: only files the root already has are bound over, so the changes stay the command's own.
   */
  etcAlways?: boolean;
  /** `--add-host`: lines added to the command's /etc/hosts. */
  extraHosts?: readonly HostEntry[] | undefined;
  /**
   * A Dockerfile RUN's sandbox as BuildKit's executor makes it: hostname `buildkitsandbox` unless `hostname`
   * says otherwise, /etc/hosts naming it on localhost's line, no HOSTNAME variable. The host's network keeps the
   * host's name and /etc/hosts.
   */
  buildkit?: boolean;
  /** `--ulimit`: the command's `process.rlimits`. */
  rlimits?: readonly Rlimit[] | undefined;
  /** `--cgroup-parent`: the command's cgroup is PARENT/buildkit/ID (`cgroupsPath`), as BuildKit's. */
  cgroupParent?: string | undefined;
}

export interface SandboxResult extends ProcessResult {
  /**
   * How the root was made, for `captureChanges`; `premade`: directories berth made in the upper dir before the
   * command (`premakeEtc`), by path, with their identity then (`upperXattrReader`).
   */
  root: {
    mode: SnapshotMode;
    lowerDirs: string[];
    upperDir: string;
    premade?: ReadonlyMap<string, string> | undefined;
  };
  /** Layers applied to make the snapshots now. */
  applied: number;
}

/** Make (or find) the snapshots of an image's layers. */
export async function prepareSnapshots(
  ctx: RuntimeContext,
  image: Image,
  signal?: AbortSignal,
  onApply?: PrepareOptions["onApply"],
  observe?: PrepareOptions["observe"],
): Promise<SnapshotChain> {
  const snapshots = await Snapshots.open(ctx.home, { rootless: ctx.rootless !== undefined });
  return snapshots.prepare(image, { signal, onApply, observe });
}

export async function runInSandbox(o: SandboxOptions): Promise<SandboxResult> {
  const runtime = await findRuntime({
    want: o.runtime || undefined,
    path: o.searchPath || undefined,
  });
  if (o.args.length === 0) throw new BerthError("USAGE", "runInSandbox: no command to run");
  if (o.rootless) await assertUserNamespaces();
  const snapshots = await Snapshots.open(o.home, { rootless: o.rootless !== undefined });
  let chain = o.chain;
  let applied = 0;
  if (!chain) {
    if (!o.image) throw new BerthError("USAGE", "runInSandbox needs an image or a snapshot chain");
    chain = await snapshots.prepare(o.image, {
      signal: o.signal,
      onApply: o.onApply,
    });
    applied = chain.applied;
  }
  if (chain.mode !== snapshots.mode) {
    throw new BerthError(
      "USAGE",
      `the snapshot chain is ${chain.mode} but this sandbox makes ${snapshots.mode} roots`,
    );
  }
  const run = { o, runtime, snapshots, chain, applied };
  const plan = o.mountRoot === "host" ? undefined : await runtimeRoot(runtime, snapshots, chain, o.upperDir);
  if (plan) {
    try {
      return await runOnce(run, plan);
    } catch (err) {
      if (!refusedRootMount(err)) throw err;
      // This runtime (or kernel) does not take the overlay at `/`: berth mounts it, from now on.
      runtimeMountRefused = true;
    }
  }
  return runOnce(run, undefined);
}

/**
 * The layers of a root the runtime mounts (`rootMount`), top first, read as a union (`union.ts`) for the
 * user and the /etc files. Undefined where berth mounts the root on the host instead: a runtime other than
 * runc (crun 1.8.1 refuses an overlay at `/`), one that refused it before in this process, full snapshots
 * (rootless), a chain too long for absolute paths, or a snapshot or upper dir that cannot be read as a union.
 */
async function runtimeRoot(
  runtime: OciRuntime,
  snapshots: Snapshots,
  chain: SnapshotChain,
  upperDir: string,
): Promise<UnionLayer[] | undefined> {
  if (runtime.name !== "runc" || runtimeMountRefused) return;
  const lowers = chainLayers(chain);
  if (!lowers) return;
  if (lowers.length === 0) lowers.push({ dir: await snapshots.empty(), opaque: new Set() });
  // The paths are absolute: a chain too long for the kernel's page of mount options (the work dir needs room
  // too) is mounted by berth, with paths relative to the snapshots.
  if (lowers.reduce((n, l) => n + l.dir.length + 1, upperDir.length) > 3500) return;
  const upper = await upperLayer(upperDir);
  return upper && [upper, ...lowers];
}

/**
 * The root of an overlay `chain` with `upperDir` over it, as the layers of a union (top first; `union.ts`),
 * read as the runtime mounts it: the CNB executor reads the build image's files through it. Undefined for
 * full snapshots, or where a snapshot or the upper dir cannot be read as a union (`overlayUnionDirs`).
 */
export async function chainUnion(chain: SnapshotChain, upperDir: string): Promise<UnionLayer[] | undefined> {
  const lowers = chainLayers(chain);
  if (!lowers) return;
  const upper = await upperLayer(upperDir);
  return upper && [upper, ...lowers];
}

/** The snapshots of an overlay chain as union layers, top first (their opaque dirs from `meta.json`). */
export function chainLayers(chain: SnapshotChain): UnionLayer[] | undefined {
  if (chain.mode !== "overlay" || !chain.opaque) return;
  const lowers: UnionLayer[] = [];
  for (const [i, dir] of chain.dirs.entries()) {
    const opaque = chain.opaque[i];
    if (!opaque) return;
    lowers.unshift({ dir, opaque: new Set(opaque) });
  }
  return lowers;
}

/** An upper dir as a union layer: one a command wrote to before (buildpack phases share one) needs its opaque dirs, from one getfattr. */
async function upperLayer(upperDir: string): Promise<UnionLayer | undefined> {
  const used = (await readdir(upperDir).catch(() => [])).length > 0;
  const opaque = used ? await overlayUnionDirs(upperDir) : [];
  return opaque && { dir: upperDir, opaque: new Set(opaque) };
}

/** Whether the runtime mounts roots (`runtimeRoot`) in this process: false once it refused one. */
let runtimeMountRefused = false;

/** The runtime's failure to mount the overlay at `/` (runc: `error mounting "overlay" to rootfs at "/"`). */
function refusedRootMount(err: unknown): boolean {
  return (
    err instanceof BerthError &&
    err.code === "RUNTIME_FAILED" &&
    /mounting "overlay" to rootfs at "\/"/.test(err.message)
  );
}

interface SandboxRun {
  o: SandboxOptions;
  runtime: OciRuntime;
  snapshots: Snapshots;
  chain: SnapshotChain;
  applied: number;
}

/**
 * Run the command once: in a root the runtime mounts from `layers` (`runtimeRoot`), or, without them, in one
 * berth mounts on the host (`createRoot`) and unmounts afterwards.
 */
async function runOnce(r: SandboxRun, layers: UnionLayer[] | undefined): Promise<SandboxResult> {
  const { o, runtime, snapshots, chain } = r;
  const config = o.image?.config;
  const name = o.imageName ?? o.image?.digest ?? "the build root";
  const { id, dir, stateDir } = await makeContainerDir(o.home, runtime);
  let root: ContainerRoot | undefined;
  let net: NetworkSetup | undefined;
  try {
    root = layers
      ? await runtimeMountedRoot(dir, layers)
      : await createRoot(snapshots, chain, dir, o.upperDir, true);
    const find: RootFinder = layers ? (p) => findInUnion(layers, p) : dirFinder(root.rootfs);
    const user = await resolveUser(find, o.user ?? config?.config?.User, name);
    const network = o.network ?? "default";
    const hostname =
      o.hostname ?? (network === "host" ? osHostname() : o.buildkit ? "buildkitsandbox" : id.slice(6, 18));
    net = await setupNetwork({
      network,
      dir,
      rootless: o.rootless !== undefined,
      searchPath: o.searchPath || undefined,
    });
    // Only files the root already has are bound over, so the changes stay the command's own.
    const etc: SpecMount[] = [];
    for (const m of await etcMounts(dir, hostname, network, net.resolvConf, o.extraHosts, o.buildkit)) {
      if (o.etcAlways || (await find(m.destination))) etc.push(m);
    }
    const premade = layers && o.etcAlways ? await premakeEtc(layers, etc) : undefined;
    const cwd = o.cwd || config?.config?.WorkingDir || "/";
    const spec = buildSpec({
      user,
      args: o.args,
      env: config
        ? processEnv(config, user, o.env ?? [], o.buildkit ? undefined : hostname)
        : mergeEnv(processEnv(undefined, user, [], o.buildkit ? undefined : hostname), o.env ?? []),
      cwd,
      network,
      hooks: net.hooks,
      hostname,
      volumes: o.volumes ?? [],
      mounts: [...etc, ...(o.mounts ?? [])],
      rootPath: root.rootfs,
      rootMount: layers
        ? await rootMount({ lowerDirs: root.lowerDirs, upperDir: root.upperDir, workDir: join(dir, "work") })
        : undefined,
      ...(o.rootless ? { rootless: o.rootless } : (await singleIdNamespace()) ? { singleId: true } : {}),
      rlimits: o.rlimits,
      cgroupsPath: await runCgroup(o.cgroupParent, id),
    });
    writeFileSync(join(dir, "config.json"), specJson(spec));
    const result = await runBundle({ runtime, stateDir, bundleDir: dir, id, command: o.args }, o);
    return {
      ...result,
      root: { mode: chain.mode, lowerDirs: root.lowerDirs, upperDir: root.upperDir, premade },
      applied: r.applied,
    };
  } finally {
    await net?.close();
    if (root?.mounted) await unmount(root.rootfs);
    await removeContainerDir(dir, layers !== undefined);
  }
}

/**
 * `--cgroup-parent`'s cgroupsPath for container `id`; none in berth's own user namespace (berth without root),
 * where no cgroup can be made, as BuildKit's rootless mode removes it (util/rootless/specconv).
 */
async function runCgroup(parent: string | undefined, id: string): Promise<string | undefined> {
  if (!parent || (await inUserNamespace())) return undefined;
  return cgroupsPath(parent, id);
}

/**
 * Remove a container's folder once its process is gone. One whose root the runtime mounted (`small`) holds a
 * few small files and empty folders: removed synchronously (a RUN's exit waited 9-12 ms for the asynchronous
 * removal's trips through libuv's pool); another may hold a copied root, removed asynchronously. Never rejects.
 */
function removeContainerDir(dir: string, small: boolean): Promise<void> {
  if (!small) return rm(dir, { recursive: true, force: true }).catch(() => undefined);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // left for the sweep (the folder names its owner)
  }
  return Promise.resolve();
}

/**
 * A directory's identity: its inode and birth time (one made again has another; not its change time, which
 * overlayfs moves when it first looks the directory up, writing its `origin`).
 */
export async function dirIdentity(path: string): Promise<string> {
  return identityOf(await lstat(path, { bigint: true }));
}

const identityOf = (st: BigIntStats) => `${st.dev}:${st.ino}:${st.birthtimeNs}`;

/**
 * The mount points of `etc` the root lacks, made by berth in a fresh upper dir (top of `layers`) before the
 * runtime would: /etc as the root has it (a real directory: mode, owner, mtime) with empty files. The runtime's
 * own copy-up of /etc is the same directory, but berth knows this one's identity: while it keeps it, nothing
 * replaced it and it is not opaque (`upperXattrReader`). None where /etc is not a real directory, a mount
 * point is there but not a file, the upper dir has an /etc already, or it cannot be made as the root's.
 */
async function premakeEtc(layers: UnionLayer[], etc: SpecMount[]): Promise<Map<string, string> | undefined> {
  const upper = layers[0]!.dir;
  const dir = await lookupUnion(layers, "etc");
  if (!dir.found || dir.rel !== "etc" || !dir.stats.isDirectory()) return;
  const missing: string[] = [];
  for (const m of etc) {
    const r = await lookupUnion(layers, m.destination);
    if (r.found ? !r.stats.isFile() : r.problem !== undefined) return;
    if (!r.found) missing.push(m.destination.slice("/etc/".length));
  }
  if (missing.length === 0) return;
  const host = join(upper, "etc");
  // synchronous: a folder and a few empty files in the fresh upper dir, before each RUN's runc (each
  // asynchronous call was a trip through libuv's pool, waiting for the build's thread)
  try {
    mkdirSync(host);
  } catch {
    return;
  }
  try {
    const st = lstatSync(join(dir.dir, dir.rel), { bigint: true });
    for (const name of missing) writeFileSync(join(host, name), "", { flag: "wx" });
    chownSync(host, Number(st.uid), Number(st.gid));
    chmodSync(host, Number(st.mode) & 0o7777);
    utimesSync(host, seconds(st.atimeNs), seconds(st.mtimeNs));
    return new Map([["etc", identityOf(lstatSync(host, { bigint: true }))]]);
  } catch {
    // an owner this user namespace cannot give, …: left to the runtime's copy-up, as before
    rmSync(host, { recursive: true, force: true });
    return undefined;
  }
}

/** A time in seconds for `utimes`, the whole seconds exact (a layer keeps those), within a microsecond. */
function seconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Math.min(Number(ns % 1_000_000_000n) / 1e9, 0.999999);
}

/**
 * An XattrReader for the opaque markers of a command's fresh upper dir over `lowerDirs` (top first). A
 * directory is opaque only where overlayfs made it over something a lower layer has at its path: when no
 * directory of the upper dir is there in a lower layer (by real directories of each, no link followed), or
 * only those berth made itself and that kept their identity (`premade`), none is opaque and no getfattr is
 * run; else the markers from one (`overlayXattrReader`). The upper dir's root is never opaque.
 */
export async function upperXattrReader(
  upperDir: string,
  lowerDirs: readonly string[],
  premade: ReadonlyMap<string, string> = new Map(),
): Promise<XattrReader | undefined> {
  const mayBeOpaque = async (rel: string, lowers: readonly string[]): Promise<boolean> => {
    for (const e of await readdir(join(upperDir, rel), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      const below = await Promise.all(lowers.map((l) => lstat(join(l, p)).catch(() => undefined)));
      if (!below.some((st) => st)) continue;
      const mine = premade.get(p);
      if (mine === undefined || mine !== (await dirIdentity(join(upperDir, p)))) return true;
      const dirs = lowers.filter((_, i) => below[i]?.isDirectory());
      if (await mayBeOpaque(p, dirs)) return true;
    }
    return false;
  };
  if (await mayBeOpaque("", lowerDirs)) return overlayXattrReader(upperDir);
  return async () => undefined;
}

/** The dirs of a root the runtime mounts: an empty `rootfs/` to mount over, `work/`, the upper dir. */
async function runtimeMountedRoot(dir: string, layers: UnionLayer[]): Promise<ContainerRoot> {
  const [upper, ...lowers] = layers;
  const rootfs = join(dir, "rootfs");
  // synchronous: three folders, before each RUN's runc
  mkdirSync(upper!.dir, { recursive: true });
  mkdirSync(join(dir, "work"));
  mkdirSync(rootfs);
  return { rootfs, mounted: false, upperDir: upper!.dir, lowerDirs: lowers.map((l) => l.dir) };
}

export interface CaptureOptions extends DiffOptions {
  /** For a copy root (mode "full"): the tree it was copied from; the layer is the difference. */
  lowerDir?: string;
}

/** A layer of the changes a sandbox left in `upperDir` (overlay whiteouts and opaque dirs translated). */
export async function captureChanges(
  upperDir: string,
  destination: LayerDestination,
  options: CaptureOptions = {},
): Promise<DiffResult> {
  const { lowerDir, ...diff } = options;
  if (lowerDir !== undefined) return diffTrees(lowerDir, upperDir, destination, diff);
  const readXattrs = diff.readXattrs ?? (await overlayXattrReader(upperDir));
  return diffOverlay(upperDir, destination, { ...diff, ...(readXattrs ? { readXattrs } : {}) });
}
