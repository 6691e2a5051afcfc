import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { isBerthError } from "../../errors.ts";
import type { Descriptor } from "../descriptor.ts";
import { walk } from "../walk.ts";
import type { OciLayout } from "./layout.ts";

/** Digests of everything reachable from the given index entries. */
export async function reachable(
  layout: OciLayout,
  roots: Descriptor[],
  options: { tolerateMissing?: boolean } = {},
): Promise<Set<string>> {
  const keep = new Set<string>();
  for (const root of roots) {
    try {
      for (const node of await walk(layout, root)) keep.add(node.descriptor.digest);
    } catch (err) {
      if (!options.tolerateMissing || !isBerthError(err)) throw err;
      keep.add(root.digest);
    }
  }
  return keep;
}

/** Temp files older than an hour belong to copies that died; a running copy's are younger. */
async function removeStaleTemp(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const cutoff = Date.now() - 3_600_000;
  for (const name of names) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (st && st.mtimeMs < cutoff) await rm(path, { force: true, recursive: true });
  }
}

export interface GcResult {
  removed: string[];
  bytes: number;
}

/**
 * Remove every blob that no entry of index.json reaches, and stale temp files. Runs under the layout's lock,
 * so a concurrent copy either committed before (its blobs are kept) or writes its blobs after.
 */
export async function gc(layout: OciLayout, options: { dryRun?: boolean } = {}): Promise<GcResult> {
  return layout.updateIndex(async (index) => {
    const keep = await reachable(layout, index.manifests);
    const removed: string[] = [];
    let bytes = 0;
    const blobsDir = join(layout.dir, "blobs");
    for (const algorithm of await readdir(blobsDir)) {
      const dir = join(blobsDir, algorithm);
      if (!(await stat(dir)).isDirectory()) continue;
      for (const encoded of await readdir(dir)) {
        const digest = `${algorithm}:${encoded}`;
        if (keep.has(digest)) continue;
        const path = join(dir, encoded);
        bytes += (await stat(path)).size;
        removed.push(digest);
        if (!options.dryRun) await rm(path, { force: true });
      }
    }
    removed.sort();
    if (!options.dryRun) await removeStaleTemp(layout.tmpDir);
    return { result: { removed, bytes } };
  });
}
