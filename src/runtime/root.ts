/**
 * A container's root filesystem: an overlay over a snapshot chain, or a copy of the top full snapshot; and a
 * read-only root to read files from (another stage's, `--from`): a lower-only overlay, or the top full snapshot.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { forgetOverlaySupport, mountOverlay, type OverlayMount, unmount } from "./mount.ts";
import type { SnapshotChain, Snapshots } from "./snapshots.ts";

const pexec = promisify(execFile);

export interface ContainerRoot {
  /** The root to give the runtime. */
  rootfs: string;
  /** An overlay mount to undo afterwards. */
  mounted: boolean;
  /** Where the container's changes land: the overlay upper dir, or the copy itself. */
  upperDir: string;
  /** The lower dirs (top first) for an overlay; for a copy, the tree it was copied from. */
  lowerDirs: string[];
}

/**
 * Make the root in `dir` (`rootfs/`, plus `upper/` and `work/` for an overlay). `upperDir`, when given, is
 * used as the overlay's upper dir instead of `dir/upper` (for a copy: the copy is made there, if empty).
 * `volatile`: the upper dir is read back and dropped once the command ends (a build step's), so the overlay
 * skips the sync of the whole filesystem at unmount (`OverlayMount.volatile`).
 */
export async function createRoot(
  snapshots: Snapshots,
  chain: SnapshotChain,
  dir: string,
  upperDir?: string,
  volatile?: boolean,
): Promise<ContainerRoot> {
  if (chain.mode === "overlay") {
    const upper = upperDir ?? join(dir, "upper");
    const work = join(dir, "work");
    const rootfs = join(dir, "rootfs");
    await Promise.all([mkdir(upper, { recursive: true }), mkdir(work), mkdir(rootfs)]);
    const lowerDirs = chain.dirs.length ? [...chain.dirs].reverse() : [await snapshots.empty()];
    await mountSnapshots(snapshots, { lowerDirs, upperDir: upper, workDir: work, target: rootfs, volatile });
    return { rootfs, mounted: true, upperDir: upper, lowerDirs };
  }
  const top = chain.dirs[chain.dirs.length - 1];
  const rootfs = upperDir ?? join(dir, "rootfs");
  await mkdir(rootfs, { recursive: true });
  if (top && (await readdir(rootfs)).length === 0) {
    await pexec("cp", ["-a", "--reflink=auto", `${top}/.`, rootfs]);
  }
  return { rootfs, mounted: false, upperDir: rootfs, lowerDirs: top ? [top] : [] };
}

/** A root only read from, at `rootfs`, until `release` (which undoes its mount, if it has one). */
export interface ReadOnlyRoot {
  rootfs: string;
  release(): Promise<void>;
  /** The overlay mount `release` undoes, for a caller that undoes several at once (`unmountAll`). */
  mountPoint?: string;
}

/**
 * A read-only root of `chain`, for reads that keep inside its tree (another stage's files, `--from`). overlay:
 * the chain's dirs mounted at `target` (made if missing) as lower dirs alone, which overlayfs mounts read-only
 * (with the empty dir below them, as it needs two): nothing is copied, nothing can be written through it.
 * full: the top snapshot itself, not copied (its readers must not write: a bind mount of it is read-only, a
 * writable one a copy); no layers: the empty dir.
 */
export async function readOnlyRoot(
  snapshots: Snapshots,
  chain: SnapshotChain,
  target: string,
): Promise<ReadOnlyRoot> {
  if (chain.mode === "full" || chain.dirs.length === 0) {
    return { rootfs: chain.dirs.at(-1) ?? (await snapshots.empty()), release: async () => undefined };
  }
  const lowerDirs = [...chain.dirs].reverse();
  if (lowerDirs.length < 2) lowerDirs.push(await snapshots.empty());
  await mkdir(target, { recursive: true });
  await mountSnapshots(snapshots, { lowerDirs, target });
  return { rootfs: target, release: () => unmount(target), mountPoint: target };
}

/** Mount an overlay of snapshots (paths relative to their root). */
async function mountSnapshots(snapshots: Snapshots, m: OverlayMount): Promise<void> {
  await mountOverlay({ ...m, base: snapshots.root }).catch(async (err: unknown) => {
    // The remembered probe may be stale (another kernel config, another mount namespace): try it afresh next time.
    await forgetOverlaySupport(snapshots.root);
    throw err;
  });
}
