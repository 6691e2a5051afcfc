import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type OciLayout, reachable } from "./layout.ts";
import { deadLeases, leasedDigests } from "./lease.ts";

export interface GcResult {
  removed: string[];
  bytes: number;
  /** Unreferenced blobs kept because a live lease holds them (a copy or build under way). */
  leased: number;
  /** Leftovers of killed berths removed: leases, temp files (the blobs they created are in `removed`). */
  swept: number;
}

/**
 * Remove every blob that no entry of index.json reaches and no live lease holds, and what killed berths left
 * (their leases, once the blobs they created are gone with the rest, and their temp files). Runs under the
 * layout's lock. A concurrent copy leases each blob before it checks for it or writes it, so its blobs stay;
 * the leases are read after the blobs are listed, and the one race left (a lease appended between that read
 * and a removal) is caught by the copy's commit, which re-checks every blob under this same lock and puts back
 * what is missing. The sweep of a killed copy's lease (`OciLayout.sweep`, `removeUnused`) and a failed copy's
 * cleanup remove blobs the same way, under the same lock, and meet this race the same way.
 */
export async function gc(layout: OciLayout, options: { dryRun?: boolean } = {}): Promise<GcResult> {
  return layout.updateIndex(async (index) => {
    const dead = options.dryRun ? [] : await deadLeases(layout.leasesDir);
    const temp = options.dryRun ? 0 : await layout.sweepTemp();
    const keep = await reachable(layout, index.manifests);
    const candidates: { digest: string; path: string }[] = [];
    const blobsDir = join(layout.dir, "blobs");
    for (const algorithm of await readdir(blobsDir)) {
      const dir = join(blobsDir, algorithm);
      if (!(await stat(dir)).isDirectory()) continue;
      for (const encoded of await readdir(dir)) {
        const digest = `${algorithm}:${encoded}`;
        if (!keep.has(digest)) candidates.push({ digest, path: join(dir, encoded) });
      }
    }
    const leased = await leasedDigests(layout.leasesDir);
    const removed: string[] = [];
    let bytes = 0;
    let held = 0;
    for (const { digest, path } of candidates) {
      if (leased.has(digest)) {
        held++;
        continue;
      }
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      bytes += st.size;
      removed.push(digest);
      if (!options.dryRun) await rm(path, { force: true });
    }
    removed.sort();
    await Promise.all(dead.map((d) => rm(d.path, { force: true })));
    return { result: { removed, bytes, leased: held, swept: temp + dead.length } };
  });
}
