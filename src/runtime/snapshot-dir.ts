/**
 * Where a snapshot lives under `$BERTH_HOME/snapshots` (snapshots.ts), in a module of its own so that a build
 * can ask whether an image's snapshots are there without loading the runtime.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { chainIds, type Digest, encodedOf } from "../oci/digest.ts";

/** How snapshots are stored (snapshots.ts): one layer's changes each, or whole trees. */
export type SnapshotMode = "overlay" | "full";

/** The directory of the snapshot of `chainId` (whether or not it exists). */
export function snapshotDir(home: string, mode: SnapshotMode, chainId: Digest): string {
  return join(home, "snapshots", mode, encodedOf(chainId));
}

/**
 * Whether the top snapshot of the chain of `diffIds` is there, in either mode (a stat each, no meta.json read:
 * one of another boot counts, though `Snapshots.prepare` makes it again). An image with no layers has nothing
 * to make: true.
 */
export function chainPresent(home: string, diffIds: readonly Digest[]): boolean {
  const top = chainIds(diffIds).at(-1);
  if (top === undefined) return true;
  return (["overlay", "full"] as const).some((mode) => {
    try {
      return statSync(join(snapshotDir(home, mode, top), "fs")).isDirectory();
    } catch {
      return false;
    }
  });
}
