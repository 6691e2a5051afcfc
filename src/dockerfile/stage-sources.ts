/**
 * COPY --from's sources read from another stage's (or image's) snapshot dirs as they lie, without mounting them
 * (`StageRoot` mounts an overlay of them otherwise), where that reads what the mount would show: each source a
 * literal path (no wildcard, no --parents) reached through real directories only (`lookupUnion`: no link on the
 * way), and either a file, or a directory that one snapshot alone has (nothing below merges into it) and holds
 * no whiteout. Then the snapshot holding it is the root its files are selected in (`selectSources`); anything
 * else is the mount's.
 */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import type { UnionLayer } from "../runtime/index.ts";
import { components } from "./rootfs.ts";
import { type MatchedSource, type SelectOptions, selectSources } from "./sources.ts";

const GLOB = /[*?[]/;

/**
 * The sources `patterns` select in the union of `layers` (top first), read from the snapshot holding each;
 * undefined where one cannot be read so (the caller reads the mounted root, which also names what is missing).
 */
export async function layerSources(
  layers: readonly UnionLayer[],
  patterns: readonly string[],
  o: SelectOptions,
): Promise<MatchedSource[] | undefined> {
  if (o.parents || patterns.some((p) => GLOB.test(p))) return undefined;
  const { lookupUnion } = await import("../runtime/index.ts");
  const out: MatchedSource[] = [];
  for (const pattern of patterns) {
    const rel = components(pattern).join("/");
    const r = await lookupUnion(layers, pattern);
    if (!r.found || r.rel !== rel || rel === "") return undefined;
    if (r.stats.isDirectory()) {
      const below = layers.slice(layers.findIndex((l) => l.dir === r.dir) + 1);
      for (const l of below) if (await holds(l.dir, rel)) return undefined;
    } else if (!r.stats.isFile()) return undefined;
    const found = await selectSources(r.dir, [pattern], o);
    if (found.some((s) => s.files.some((f) => f.st.isCharacterDevice() && f.st.rdev === 0))) return undefined;
    out.push(...found);
  }
  return out;
}

/** Whether `dir` has an entry at `rel`, reached through its real directories (no link followed). */
async function holds(dir: string, rel: string): Promise<boolean> {
  let p = dir;
  const parts = rel.split("/");
  for (const [i, c] of parts.entries()) {
    p = join(p, c);
    const st = await lstat(p).catch(() => undefined);
    if (!st) return false;
    if (i + 1 < parts.length && !st.isDirectory()) return false;
  }
  return true;
}
