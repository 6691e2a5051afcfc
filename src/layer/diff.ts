/**
 * Diff two trees into a layer: entries added or changed in `after` (with their parent directories, as
 * Docker does), and `.wh.<name>` whiteouts for what `after` no longer has. Also the overlayfs upper-dir form:
 * a character device 0/0 is a whiteout and a directory with `trusted.overlay.opaque=y` (or
 * `user.overlay.opaque=y`) is opaque. Output goes through the same reproducible writer as buildLayer: sorted,
 * PAX only when needed. Owners, modes and mtimes come from `after` unless fixed by options.
 */
import type { Stats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { writeEntries } from "./build.ts";
import {
  baseName,
  comparePaths,
  dirName,
  type EntryHeader,
  joinPath,
  OPAQUE_MARKER,
  WHITEOUT_PREFIX,
} from "./entry.ts";
import {
  type LayerDescriptor,
  type LayerDestination,
  type LayerOutputOptions,
  writeLayer,
} from "./output.ts";
import { type PlannedEntry, typeOf, type XattrReader } from "./walk.ts";

export interface DiffOptions extends LayerOutputOptions {
  /** Fixed mtime (seconds) for every entry; default: each file's own. */
  mtime?: number | undefined;
  /** Fixed owner for every entry; default: each file's own. */
  uid?: number;
  gid?: number;
  /** Extended attributes of a host path: recorded in entries, and used to find overlayfs opaque dirs. */
  readXattrs?: XattrReader | undefined;
}

export interface DiffResult extends LayerDescriptor {
  entries: number;
  whiteouts: number;
}

interface Node {
  st: Stats;
  linkname?: string;
}

async function scan(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = await readdir(dir);
    await Promise.all(
      names.map(async (name) => {
        const host = join(dir, name);
        const path = joinPath(rel, name);
        const st = await lstat(host);
        const node: Node = { st };
        if (st.isSymbolicLink()) node.linkname = await readlink(host);
        out.set(path, node);
        if (st.isDirectory()) await walk(host, path);
      }),
    );
  };
  await walk(root, "");
  return out;
}

async function sameContent(a: string, b: string, size: number): Promise<boolean> {
  if (size === 0) return true;
  const [fa, fb] = await Promise.all([open(a), open(b)]);
  try {
    const ba = Buffer.allocUnsafe(Math.min(size, 1 << 20));
    const bb = Buffer.allocUnsafe(ba.length);
    for (let pos = 0; pos < size; ) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length, pos), fb.read(bb, 0, bb.length, pos)]);
      if (ra.bytesRead !== rb.bytesRead || ra.bytesRead === 0) return ra.bytesRead === rb.bytesRead;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      pos += ra.bytesRead;
    }
    return true;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

async function changed(
  beforeRoot: string,
  afterRoot: string,
  path: string,
  b: Node,
  a: Node,
): Promise<boolean> {
  const ta = typeOf(a.st);
  if (typeOf(b.st) !== ta) return true;
  if ((a.st.mode & 0o7777) !== (b.st.mode & 0o7777) || a.st.uid !== b.st.uid || a.st.gid !== b.st.gid)
    return true;
  switch (ta) {
    case "dir":
      return false;
    case "symlink":
      return a.linkname !== b.linkname;
    case "char":
    case "block":
      return a.st.rdev !== b.st.rdev;
    case "file":
      if (a.st.size !== b.st.size) return true;
      return !(await sameContent(join(beforeRoot, path), join(afterRoot, path), a.st.size));
    default:
      return false;
  }
}

function headerFor(path: string, node: Node, options: DiffOptions): EntryHeader {
  const type = typeOf(node.st)!;
  const h: EntryHeader = {
    path,
    type,
    mode: node.st.mode & 0o7777,
    uid: options.uid ?? node.st.uid,
    gid: options.gid ?? node.st.gid,
    size: type === "file" ? node.st.size : 0,
    mtime: options.mtime ?? Math.floor(node.st.mtimeMs / 1000),
  };
  if (node.linkname !== undefined) h.linkname = node.linkname;
  if (type === "char" || type === "block") {
    const rdev = node.st.rdev;
    h.devmajor = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    h.devminor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  }
  return h;
}

function whiteoutHeader(path: string, options: DiffOptions): EntryHeader {
  return { path, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: options.mtime ?? 0 };
}

/** Turn chosen paths of `after` (plus whiteouts) into sorted planned entries, with hardlinks as links. */
async function plan(
  afterRoot: string,
  after: Map<string, Node>,
  chosen: Set<string>,
  whiteouts: string[],
  options: DiffOptions,
): Promise<PlannedEntry[]> {
  // Parents of chosen entries come along.
  for (const p of [...chosen, ...whiteouts]) {
    for (let d = dirName(p); d !== "" && !chosen.has(d); d = dirName(d))
      if (after.get(d)?.st.isDirectory()) chosen.add(d);
  }
  // Hardlink groups: if one member is in the layer, all are.
  const groups = new Map<string, string[]>();
  for (const [p, n] of after) {
    if (n.st.isFile() && n.st.nlink > 1) {
      const k = `${n.st.dev}:${n.st.ino}`;
      groups.set(k, [...(groups.get(k) ?? []), p]);
    }
  }
  for (const members of groups.values()) {
    if (members.some((m) => chosen.has(m))) for (const m of members) chosen.add(m);
  }
  const entries: { header: EntryHeader; hostPath?: string; inode?: string }[] = [];
  for (const p of chosen) {
    const n = after.get(p)!;
    if (!typeOf(n.st)) continue;
    const header = headerFor(p, n, options);
    if (options.readXattrs) {
      const x = await options.readXattrs(join(afterRoot, p));
      if (x) {
        for (const k of Object.keys(x))
          if (k.startsWith("trusted.overlay.") || k.startsWith("user.overlay.")) delete x[k];
        if (Object.keys(x).length > 0) header.xattrs = x;
      }
    }
    const e: { header: EntryHeader; hostPath?: string; inode?: string } = { header };
    if (header.type === "file") {
      e.hostPath = join(afterRoot, p);
      if (n.st.nlink > 1) e.inode = `${n.st.dev}:${n.st.ino}`;
    }
    entries.push(e);
  }
  for (const w of whiteouts) entries.push({ header: whiteoutHeader(w, options) });
  entries.sort((x, y) => comparePaths(x.header.path, y.header.path));
  const first = new Map<string, string>();
  return entries.map((e) => {
    if (e.inode !== undefined) {
      const f = first.get(e.inode);
      if (f !== undefined) return { header: { ...e.header, type: "hardlink", size: 0, linkname: f } };
      first.set(e.inode, e.header.path);
    }
    return e.hostPath === undefined ? { header: e.header } : { header: e.header, hostPath: e.hostPath };
  });
}

/** A layer that turns `before` into `after` when applied onto it. */
export async function diffTrees(
  beforeRoot: string,
  afterRoot: string,
  destination: LayerDestination,
  options: DiffOptions = {},
): Promise<DiffResult> {
  const [before, after] = await Promise.all([scan(beforeRoot), scan(afterRoot)]);
  const chosen = new Set<string>();
  for (const [p, a] of after) {
    const b = before.get(p);
    if (!b || (await changed(beforeRoot, afterRoot, p, b, a))) chosen.add(p);
  }
  const whiteouts: string[] = [];
  for (const p of before.keys()) {
    if (after.has(p)) continue;
    const parent = dirName(p);
    // Only the top-most deletion: the parent must still be a directory in both trees.
    if (parent !== "" && !(after.get(parent)?.st.isDirectory() && before.get(parent)?.st.isDirectory()))
      continue;
    whiteouts.push(joinPath(parent, `${WHITEOUT_PREFIX}${baseName(p)}`));
  }
  const entries = await plan(afterRoot, after, chosen, whiteouts, options);
  const desc = await writeLayer(destination, options, (w) => writeEntries(w, entries));
  return { ...desc, entries: entries.length, whiteouts: whiteouts.length };
}

/** A layer from an overlayfs upper directory (whiteout devices and opaque xattrs translated to OCI form). */
export async function diffOverlay(
  upperDir: string,
  destination: LayerDestination,
  options: DiffOptions = {},
): Promise<DiffResult> {
  const upper = await scan(upperDir);
  const chosen = new Set<string>();
  const whiteouts: string[] = [];
  for (const [p, n] of upper) {
    if (n.st.isCharacterDevice() && n.st.rdev === 0) {
      whiteouts.push(joinPath(dirName(p), `${WHITEOUT_PREFIX}${baseName(p)}`));
      continue;
    }
    chosen.add(p);
    if (n.st.isDirectory() && options.readXattrs) {
      const x = await options.readXattrs(join(upperDir, p));
      const v = x?.["trusted.overlay.opaque"] ?? x?.["user.overlay.opaque"];
      if (v?.toString() === "y") whiteouts.push(`${p}/${OPAQUE_MARKER}`);
    }
  }
  const entries = await plan(upperDir, upper, chosen, whiteouts, options);
  const desc = await writeLayer(destination, options, (w) => writeEntries(w, entries));
  return { ...desc, entries: entries.length, whiteouts: whiteouts.length };
}
