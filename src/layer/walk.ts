/**
 * Plan a layer from host files: walk directories (or single files) given as `{ source, dest }`, apply the
 * include/exclude matcher, and produce entries sorted bytewise with parents before children, attributes
 * normalised for reproducibility (fixed mtime and owner, modes masked to 0o7777, no names), hardlinks detected
 * by inode and pointed at the first path in sorted order.
 */
import type { Dirent, Stats } from "node:fs";
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { BerthError, wrapError } from "../errors.ts";
import { comparePaths, dirName, type EntryHeader, joinPath } from "./entry.ts";
import { createMatcher, type IgnoreSyntax, type Matcher } from "./ignore.ts";

export interface LayerSource {
  /** A host directory (its contents go under `dest`) or a file, symlink or special file (placed at `dest`). */
  source: string;
  /** Image path; default `/`. For a non-directory source, a `dest` ending in `/` means `dest` + its name. */
  dest?: string;
}

export type XattrReader = (hostPath: string) => Promise<Record<string, Buffer> | undefined>;

export interface PlanOptions {
  /** mtime of every entry, in seconds (the CLI passes SOURCE_DATE_EPOCH); default 0. */
  mtime?: number;
  /** Owner of every entry; default 0:0. */
  uid?: number;
  gid?: number;
  /** Patterns relative to each directory source. */
  exclude?: readonly string[] | undefined;
  ignoreSyntax?: IgnoreSyntax;
  /** Extended attributes to record for a host path (Node has no xattr API; the caller may provide one). */
  readXattrs?: XattrReader;
}

export interface PlannedEntry {
  header: EntryHeader;
  /** Host file whose bytes are the entry's content (regular files only). */
  hostPath?: string;
  /** Its bytes, read already (a build context's file, read for its digest): written instead of reading it. */
  content?: Buffer;
}

interface Found {
  header: EntryHeader;
  hostPath?: string;
  inode?: string;
  implicit: boolean;
}

/** Normalise an image path: `/a/./b/` → `a/b`; `..` is refused. Returns "" for the root. */
function cleanImagePath(p: string, what: string): string {
  const parts: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") throw new BerthError("USAGE", `${what} ${JSON.stringify(p)} may not contain ".."`);
    parts.push(s);
  }
  return parts.join("/");
}

function splitDev(rdev: number): { devmajor: number; devminor: number } {
  // glibc's gnu_dev_major/minor.
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return {
    devmajor: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0),
    devminor: (lo & 0xff) | ((lo >>> 12) & 0xfff00),
  };
}

/** Map a stat to an entry type, or undefined for sockets (which tar cannot hold). */
export function typeOf(st: Stats): EntryHeader["type"] | undefined {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return undefined;
}

type EntryFor = (hostPath: string, imagePath: string, st: Stats) => Promise<Found | undefined>;

/**
 * The entry for a host path (undefined for a socket) with the options' owner and mtime, its symlink target
 * read by `readLink`; xattrs are added by the caller.
 */
function baseEntry(
  options: PlanOptions,
  hostPath: string,
  imagePath: string,
  st: Stats,
  readLink: (hostPath: string) => string,
): Found | undefined {
  const type = typeOf(st);
  if (!type) return undefined;
  const header: EntryHeader = {
    path: imagePath,
    type,
    mode: st.mode & 0o7777,
    uid: options.uid ?? 0,
    gid: options.gid ?? 0,
    size: type === "file" ? st.size : 0,
    mtime: options.mtime ?? 0,
  };
  if (type === "symlink") header.linkname = readLink(hostPath);
  if (type === "char" || type === "block") Object.assign(header, splitDev(st.rdev));
  const f: Found = { header, implicit: false };
  if (type === "file") {
    f.hostPath = hostPath;
    if (st.nlink > 1) f.inode = `${st.dev}:${st.ino}`;
  }
  return f;
}

async function addXattrs(options: PlanOptions, hostPath: string, f: Found | undefined): Promise<void> {
  if (!f || !options.readXattrs) return;
  const x = await options.readXattrs(hostPath);
  if (x && Object.keys(x).length > 0) f.header.xattrs = x;
}

/** The entry for a host path (undefined for a socket), with the options' owner, mtime and xattrs. */
function entryMaker(options: PlanOptions): EntryFor {
  return async (hostPath, imagePath, st) => {
    const linkname = st.isSymbolicLink() ? await readlink(hostPath) : "";
    const f = baseEntry(options, hostPath, imagePath, st, () => linkname);
    await addXattrs(options, hostPath, f);
    return f;
  };
}

/** Plan the entries of a layer built from these sources (later sources override earlier ones). */
export async function planLayer(
  sources: readonly LayerSource[],
  options: PlanOptions = {},
): Promise<PlannedEntry[]> {
  // One directory (a CNB layer, a buildpack, an app): the streaming walk gives the same entries with synchronous
  // file system calls; the asynchronous walk below queued ~12k lstats of a node_modules through libuv's thread
  // pool (0.4 s idle, over 1 s on a busy machine, against well under 0.1 s inline).
  const only = sources.length === 1 ? sources[0]! : undefined;
  if (only !== undefined && canStreamLayer(options)) {
    let st: Stats | undefined;
    try {
      st = lstatSync(only.source);
    } catch {
      // Reported below, as for any source.
    }
    if (st?.isDirectory()) {
      const out: PlannedEntry[] = [];
      for await (const e of streamLayer(only.source, options, only.dest ?? "/")) out.push(e);
      return out;
    }
  }
  return planLayerByWalk(sources, options);
}

/** `planLayer` for any sources: all of them walked (asynchronously), then sorted. */
export async function planLayerByWalk(
  sources: readonly LayerSource[],
  options: PlanOptions = {},
): Promise<PlannedEntry[]> {
  const mtime = options.mtime ?? 0;
  const uid = options.uid ?? 0;
  const gid = options.gid ?? 0;
  const matcher = createMatcher(options.exclude ?? [], options.ignoreSyntax);
  const found = new Map<string, Found>();

  const put = (f: Found) => {
    const prev = found.get(f.header.path);
    if (prev && f.implicit && !prev.implicit) return;
    found.set(f.header.path, f);
  };
  const implicitParents = (path: string) => {
    for (let d = dirName(path); d !== ""; d = dirName(d)) {
      if (found.has(d)) continue;
      put({ header: { path: d, type: "dir", mode: 0o755, uid, gid, size: 0, mtime }, implicit: true });
    }
  };
  const entryFor = entryMaker(options);

  for (const src of sources) {
    const dest = src.dest ?? "/";
    let st: Stats;
    try {
      st = await lstat(src.source);
    } catch (err) {
      throw wrapError(`reading layer source ${src.source}`, err);
    }
    if (st.isDirectory()) {
      const base = cleanImagePath(dest, "destination");
      if (base !== "") {
        implicitParents(base);
        const f = await entryFor(src.source, base, st);
        if (f) put(f);
      }
      try {
        await walkDir(src.source, "", base, matcher, entryFor, put);
      } catch (err) {
        throw wrapError(`walking ${src.source}`, err);
      }
    } else {
      const path = cleanImagePath(
        dest.endsWith("/") ? `${dest}${basename(src.source)}` : dest,
        "destination",
      );
      if (path === "") throw new BerthError("USAGE", `file ${src.source} cannot be placed at the image root`);
      implicitParents(path);
      const f = await entryFor(src.source, path, st);
      if (!f) throw new BerthError("USAGE", `${src.source} is a socket, which a layer cannot hold`);
      put(f);
    }
  }

  const sorted = [...found.values()].sort((a, b) => comparePaths(a.header.path, b.header.path));
  const firstOfInode = new Map<string, string>();
  const out: PlannedEntry[] = [];
  for (const f of sorted) {
    const parent = dirName(f.header.path);
    if (parent !== "") {
      const p = found.get(parent);
      if (p?.header.type !== "dir") {
        throw new BerthError(
          "LAYER_INVALID",
          `layer entry ${JSON.stringify(f.header.path)} is inside ${JSON.stringify(parent)}, which is not a directory`,
        );
      }
    }
    if (f.inode !== undefined) {
      const first = firstOfInode.get(f.inode);
      if (first !== undefined) {
        out.push({ header: { ...f.header, type: "hardlink", size: 0, linkname: first } });
        continue;
      }
      firstOfInode.set(f.inode, f.header.path);
    }
    out.push(f.hostPath === undefined ? { header: f.header } : { header: f.header, hostPath: f.hostPath });
  }
  return out;
}

/** Walk a directory; returns whether anything below it was kept. */
async function walkDir(
  hostDir: string,
  rel: string,
  imageBase: string,
  matcher: Matcher,
  entryFor: (hostPath: string, imagePath: string, st: Stats) => Promise<Found | undefined>,
  put: (f: Found) => void,
): Promise<boolean> {
  const dirents: Dirent[] = await readdir(hostDir, { withFileTypes: true });
  const kept = await Promise.all(
    dirents.map(async (d) => {
      const childRel = joinPath(rel, d.name);
      const hostPath = join(hostDir, d.name);
      const isDir = d.isDirectory();
      const excluded = matcher.excludes(childRel, isDir);
      if (excluded && !(isDir && matcher.hasNegations)) return false;
      const st = await lstat(hostPath);
      const imagePath = joinPath(imageBase, childRel);
      if (st.isDirectory()) {
        const below = await walkDir(hostPath, childRel, imageBase, matcher, entryFor, put);
        if (excluded && !below) return false;
      }
      const f = await entryFor(hostPath, imagePath, st);
      if (!f) return false;
      put(f);
      return true;
    }),
  );
  return kept.some(Boolean);
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** A child of a directory being streamed: its own entry, or (key `name/`) the entries below it. */
interface StreamItem {
  key: string;
  name: string;
  st: Stats;
  below: boolean;
}

/** A directory being streamed: its sorted children and the next one to visit. */
interface Listing {
  hostDir: string;
  rel: string;
  items: StreamItem[];
  next: number;
}

/**
 * Whether `streamLayer` can stand in for `planLayer` on this single directory source: only when no pattern
 * re-includes what an excluded directory holds (which needs the whole subtree before the directory's entry).
 */
export function canStreamLayer(options: PlanOptions): boolean {
  return !createMatcher(options.exclude ?? [], options.ignoreSyntax).hasNegations;
}

/**
 * The entries `planLayer([{ source: dir, dest }], options)` gives, in the same order with the same headers,
 * produced while the tree is walked so that writing (and compressing) overlaps the walk. Order: the implicit
 * parents of `dest` and `dest` itself (all prefixes of what follows), then at each level the children sorted by
 * name, and a directory's subtree by `name/`; as every path below a directory starts with `name/`, this is the
 * bytewise order of whole paths. Only for a directory source that `canStreamLayer` accepts.
 *
 * The walk's file system calls are synchronous, as tar's are: asynchronous ones go through libuv's thread pool,
 * where they queue behind the compressor's blocks (and each costs a promise and a trip through the event loop),
 * while a directory listing or an lstat of a cached inode takes microseconds.
 */
export async function* streamLayer(
  dir: string,
  options: PlanOptions = {},
  dest = "/",
): AsyncGenerator<PlannedEntry> {
  const matcher = createMatcher(options.exclude ?? [], options.ignoreSyntax);
  const base = cleanImagePath(dest, "destination");
  const firstOfInode = new Map<string, string>();
  const list = (hostDir: string, rel: string): Listing => {
    const items: StreamItem[] = [];
    const prefix = hostDir.endsWith("/") ? hostDir : `${hostDir}/`;
    let astral = false;
    for (const d of readdirSync(hostDir, { withFileTypes: true })) {
      const name = d.name;
      if (matcher.excludes(joinPath(rel, name), d.isDirectory())) continue;
      const st = lstatSync(prefix + name);
      astral ||= SURROGATE.test(name);
      items.push({ key: name, name, st, below: false });
      if (st.isDirectory()) items.push({ key: `${name}/`, name, st, below: true });
    }
    // Strings compare by UTF-16 code unit, which is the UTF-8 byte order except for characters outside the
    // BMP (surrogate pairs); only a listing with one of those needs its names as bytes.
    if (astral) items.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    else items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { hostDir, rel, items, next: 0 };
  };
  let stack: Listing[];
  let top: Found | undefined;
  try {
    if (base !== "") top = baseEntry(options, dir, base, lstatSync(dir), readlinkSync);
    await addXattrs(options, dir, top);
    stack = [list(dir, "")];
  } catch (err) {
    throw wrapError(`walking ${dir}`, err);
  }
  if (top !== undefined) {
    const { mtime = 0, uid = 0, gid = 0 } = options;
    const parents: string[] = [];
    for (let d = dirName(base); d !== ""; d = dirName(d)) parents.unshift(d);
    for (const path of parents)
      yield { header: { path, type: "dir", mode: 0o755, uid, gid, size: 0, mtime } };
    yield { header: top.header };
  }
  for (let listing = stack.at(-1); listing !== undefined; listing = stack.at(-1)) {
    const item = listing.items[listing.next++];
    if (item === undefined) {
      stack.pop();
      continue;
    }
    const hostPath = `${listing.hostDir.endsWith("/") ? listing.hostDir : `${listing.hostDir}/`}${item.name}`;
    const rel = joinPath(listing.rel, item.name);
    if (item.below) {
      stack.push(list(hostPath, rel));
      continue;
    }
    const path = joinPath(base, rel);
    const f = baseEntry(options, hostPath, path, item.st, readlinkSync);
    if (!f) continue;
    await addXattrs(options, hostPath, f);
    if (f.inode !== undefined) {
      const first = firstOfInode.get(f.inode);
      if (first !== undefined) {
        yield { header: { ...f.header, type: "hardlink", size: 0, linkname: first } };
        continue;
      }
      firstOfInode.set(f.inode, path);
    }
    yield f.hostPath === undefined ? { header: f.header } : { header: f.header, hostPath: f.hostPath };
  }
}
