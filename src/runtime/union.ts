/**
 * A root made of overlay-form layer directories (top first: an upper dir, then a snapshot chain's `fs` dirs),
 * read as overlayfs merges them, without mounting it: the top-most layer's entry wins, a whiteout (`c 0 0`)
 * hides the layers below, a non-directory hides lower directories, and an opaque directory (its
 * `trusted.overlay.opaque` or `user.overlay.opaque` is `y`, known from the snapshot's `meta.json`) hides what
 * lower layers have under it. Symlinks are followed inside the union (absolute targets from its root, `..`
 * never above it); no host symlink is ever followed: a layer takes part in a directory only where that
 * directory is a real directory in it.
 */

import { lstatSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";

export interface UnionLayer {
  /** The layer's directory (overlay upper form). */
  dir: string;
  /** Its opaque directories, relative to `dir` ("" for `dir` itself). */
  opaque: ReadonlySet<string>;
}

/** Why a path is not in the union although a symlink led there. */
export interface UnionProblem {
  why: "dangling" | "loop";
  /** The symlink (relative to the root) and its target. */
  link: string;
  target: string;
}

export type UnionLookup =
  | { found: true; dir: string; rel: string; stats: Stats }
  | { found: false; problem?: UnionProblem };

const MAX_LINKS = 40;

/**
 * Synchronous, as every call here: a lookup is an lstat per layer and path component, in a row (a RUN's user and
 * /etc files take dozens before its runc), each a trip through libuv's pool otherwise, waiting for the thread.
 */
function lstatIn(dir: string, rel: string): Stats | undefined {
  try {
    return lstatSync(join(dir, rel));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

/** The layers whose `rel` makes the merged directory, from its entries (top first, the top one a directory). */
function mergeDown(rel: string, found: { layer: UnionLayer; stats: Stats }[]): UnionLayer[] {
  const merged: UnionLayer[] = [];
  for (const { layer, stats } of found) {
    if (!stats.isDirectory()) break;
    merged.push(layer);
    if (layer.opaque.has(rel)) break;
  }
  return merged;
}

/** The entries for `rel` in the parent's layers, top first, up to the first whiteout. */
function entriesOf(layers: readonly UnionLayer[], rel: string) {
  const out: { layer: UnionLayer; stats: Stats }[] = [];
  for (const layer of layers) {
    const stats = lstatIn(layer.dir, rel);
    if (!stats) continue;
    if (isWhiteout(stats)) break;
    out.push({ layer, stats });
    if (!stats.isDirectory()) break;
  }
  return out;
}

/** The union's root directory: the layers down to the first whose root is opaque. */
function rootLayers(layers: readonly UnionLayer[]): UnionLayer[] {
  const i = layers.findIndex((l) => l.opaque.has(""));
  return i < 0 ? [...layers] : layers.slice(0, i + 1);
}

/**
 * Find `path` in the union, following symlinks in every component (the last one included). Found: the layer
 * directory holding the entry and its path there (the host file is `join(dir, rel)`, reached through real
 * directories only). Not found: with the symlink at fault when one led to nothing (`dangling`: a component
 * of its target is missing) or to too many others (`loop`).
 */
export async function lookupUnion(layers: readonly UnionLayer[], path: string): Promise<UnionLookup> {
  const cur: string[] = [];
  const stack: UnionLayer[][] = [rootLayers(layers)];
  const queue = path.split("/").filter((c) => c !== "" && c !== ".");
  let links = 0;
  // The last symlink followed and the components left after it: a missing component of its target makes
  // it dangling.
  let via: { link: string; target: string; rest: number } | undefined;
  const missing = (): UnionLookup =>
    via && queue.length >= via.rest
      ? { found: false, problem: { why: "dangling", link: via.link, target: via.target } }
      : { found: false };
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === "..") {
      if (cur.length > 0) {
        cur.pop();
        stack.pop();
      }
      continue;
    }
    const rel = [...cur, c].join("/");
    const entries = entriesOf(stack[stack.length - 1]!, rel);
    const top = entries[0];
    if (!top) return missing();
    if (top.stats.isSymbolicLink()) {
      const target = readlinkSync(join(top.layer.dir, rel));
      if (++links > MAX_LINKS) return { found: false, problem: { why: "loop", link: rel, target } };
      via = { link: rel, target, rest: queue.length };
      if (target.startsWith("/")) {
        cur.length = 0;
        stack.length = 1;
      }
      queue.unshift(...target.split("/").filter((s) => s !== "" && s !== "."));
      continue;
    }
    if (queue.length === 0) return { found: true, dir: top.layer.dir, rel, stats: top.stats };
    if (!top.stats.isDirectory()) return missing();
    cur.push(c);
    stack.push(mergeDown(rel, entries));
  }
  // The root itself.
  const root = stack[0]![0];
  if (!root) return { found: false };
  return { found: true, dir: root.dir, rel: "", stats: lstatSync(root.dir) };
}

/** The host path of `path` in the union (links followed inside it), undefined when it is not there. */
export async function findInUnion(layers: readonly UnionLayer[], path: string): Promise<string | undefined> {
  const r = await lookupUnion(layers, path);
  return r.found ? (r.rel === "" ? r.dir : join(r.dir, r.rel)) : undefined;
}
