/**
 * The sandbox builds run in: a command in a root made of a snapshot chain plus a writable upper directory
 * that the caller keeps, with the mounts, env, user, cwd and network it gives. The result has one shape
 * whether the command succeeds or fails; `captureChanges` turns the upper directory into a layer.
 */
import { rm, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { BerthError } from "../errors.ts";
import {
  type DiffOptions,
  type DiffResult,
  diffOverlay,
  diffTrees,
  type LayerDestination,
} from "../layer/index.ts";
import type { Image } from "../oci/image.ts";
import { etcMounts, type RuntimeContext } from "./container.ts";
import { type ProcessResult, runBundle, type StdioOptions } from "./exec.ts";
import { overlayXattrReader, unmount } from "./mount.ts";
import { type NetworkSetup, setupNetwork } from "./network.ts";
import { type ContainerRoot, createRoot } from "./root.ts";
import { findRuntime } from "./runtime.ts";
import { type PrepareOptions, type SnapshotChain, type SnapshotMode, Snapshots } from "./snapshots.ts";
import { buildSpec, mergeEnv, type NetworkMode, processEnv, type SpecMount, type Volume } from "./spec.ts";
import { makeContainerDir } from "./sweep.ts";
import { resolveInRoot, resolveUser } from "./user.ts";
import { assertUserNamespaces, singleIdNamespace } from "./userns.ts";

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
   * Give the command /etc/hosts, /etc/resolv.conf and /etc/hostname even where the root lacks them (a
   * Dockerfile RUN, as BuildKit); the mount points this makes are the caller's to leave out of the changes.
   * Default: only files the root already has are bound over, so the changes stay the command's own.
   */
  etcAlways?: boolean;
}

export interface SandboxResult extends ProcessResult {
  /** How the root was made, for `captureChanges`. */
  root: { mode: SnapshotMode; lowerDirs: string[]; upperDir: string };
  /** Layers applied to make the snapshots now. */
  applied: number;
}

/** Make (or find) the snapshots of an image's layers. */
export async function prepareSnapshots(
  ctx: RuntimeContext,
  image: Image,
  signal?: AbortSignal,
  onApply?: PrepareOptions["onApply"],
): Promise<SnapshotChain> {
  const snapshots = await Snapshots.open(ctx.home, { rootless: ctx.rootless !== undefined });
  return snapshots.prepare(image, { signal, onApply });
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
  const config = o.image?.config;
  const name = o.imageName ?? o.image?.digest ?? "the build root";
  const { id, dir, stateDir } = await makeContainerDir(o.home, runtime);
  let root: ContainerRoot | undefined;
  let net: NetworkSetup | undefined;
  try {
    root = await createRoot(snapshots, chain, dir, o.upperDir, true);
    const user = await resolveUser(root.rootfs, o.user ?? config?.config?.User, name);
    const network = o.network ?? "default";
    const hostname = o.hostname ?? (network === "host" ? osHostname() : id.slice(6, 18));
    net = await setupNetwork({
      network,
      dir,
      rootless: o.rootless !== undefined,
      searchPath: o.searchPath || undefined,
    });
    // Only files the root already has are bound over, so the changes stay the command's own.
    const etc: SpecMount[] = [];
    for (const m of await etcMounts(dir, hostname, network, net.resolvConf)) {
      if (o.etcAlways || (await resolveInRoot(root.rootfs, m.destination))) etc.push(m);
    }
    const cwd = o.cwd || config?.config?.WorkingDir || "/";
    const spec = buildSpec({
      user,
      args: o.args,
      env: config
        ? processEnv(config, user, o.env ?? [], hostname)
        : mergeEnv(processEnv(undefined, user, [], hostname), o.env ?? []),
      cwd,
      network,
      hooks: net.hooks,
      hostname,
      volumes: o.volumes ?? [],
      mounts: [...etc, ...(o.mounts ?? [])],
      rootPath: root.rootfs,
      ...(o.rootless ? { rootless: o.rootless } : (await singleIdNamespace()) ? { singleId: true } : {}),
    });
    await writeFile(join(dir, "config.json"), `${JSON.stringify(spec, null, 2)}\n`);
    const result = await runBundle({ runtime, stateDir, bundleDir: dir, id, command: o.args }, o);
    return {
      ...result,
      root: { mode: chain.mode, lowerDirs: root.lowerDirs, upperDir: root.upperDir },
      applied,
    };
  } finally {
    await net?.close();
    if (root?.mounted) await unmount(root.rootfs);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
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
