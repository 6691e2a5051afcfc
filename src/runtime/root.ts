/** A container's root filesystem: an overlay over a snapshot chain, or a copy of the top full snapshot. */
import { execFile } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { forgetOverlaySupport, mountOverlay } from "./mount.ts";
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
    await mountOverlay({
      lowerDirs,
      upperDir: upper,
      workDir: work,
      target: rootfs,
      base: snapshots.root,
      volatile,
    }).catch(async (err: unknown) => {
      // The remembered probe may be stale (another kernel config, another mount namespace): try it afresh next time.
      await forgetOverlaySupport(snapshots.root);
      throw err;
    });
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
