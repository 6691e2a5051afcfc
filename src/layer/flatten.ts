/**
 * Flatten an image's layers into one filesystem tar, the way ggcr's `mutate.Extract` does: layers are read
 * from the top down, remembering the paths seen, whited out and made opaque, and an entry is kept only when
 * nothing above shadows it. A first pass reads headers only; a second pass reads the layers base first and
 * writes the kept entries, so hardlink targets come before their links and a directory comes (with the
 * attributes of its top-most version) before its children. Layers are openers, since each is read twice.
 */
import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { decompress } from "../oci/compression.ts";
import { dirName, type EntryHeader, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./entry.ts";
import {
  type LayerDescriptor,
  type LayerDestination,
  type LayerOutputOptions,
  writeLayer,
} from "./output.ts";
import { readTar } from "./reader.ts";
import { entryComponents } from "./root.ts";

export type LayerOpener = () => Promise<Readable> | Readable;

export interface FlattenOptions extends LayerOutputOptions {
  /** Largest PAX header accepted; default 1 MiB. */
  maxMetaSize?: number;
}

function isHidden(path: string, deleted: Set<string>, opaque: Set<string>, nonDir: Set<string>): boolean {
  if (deleted.has(path)) return true;
  for (let d = dirName(path); ; d = dirName(d)) {
    if (deleted.has(d) || opaque.has(d) || nonDir.has(d)) return true;
    if (d === "") return false;
  }
}

async function* entriesOf(open: LayerOpener, options: FlattenOptions) {
  const stream = await decompress(await open());
  yield* readTar(stream, options.maxMetaSize === undefined ? {} : { maxMetaSize: options.maxMetaSize });
}

/** Flatten layers (base first) into one tar written to `destination` (uncompressed unless asked). */
export function flattenLayers(
  layers: readonly LayerOpener[],
  destination: LayerDestination,
  options: FlattenOptions = {},
): Promise<LayerDescriptor & { entries: number }> {
  return flattenTrees([{ layers }], destination, options);
}

/** One filesystem of `flattenTrees`: its layers, and the folder it goes under in the tar (none: the top). */
export interface FlattenTree {
  layers: readonly LayerOpener[];
  prefix?: string | undefined;
}

export interface FlattenTreesOptions extends FlattenOptions {
  /**
   * Each tree's entries in the order BuildKit's tar exporter writes a filesystem (fsutil's walk: each folder's
   * names sorted as bytes, a folder before what it holds; of a hard-link group the first path walked is the
   * file, the others link to it), not in layer order. The files' contents wait in a spool file in `spool`.
   * `extra`: files to add to a tree, made from its regular files (each path of a hard-link group too) in walk
   * order with their sha256, and written in their walk place (BuildKit's exporters merge attestations so).
   */
  walkOrder?: { spool: string; extra?: ExtraFiles | undefined } | undefined;
}

/** A regular file of a flattened tree, as `ExtraFiles` sees it: its path and its content's sha256 (hex). */
export interface WalkedFile {
  path: string;
  sha256: string;
}

/** The files to add to tree `tree` (its index in `flattenTrees`' list), given its regular files. */
export type ExtraFiles = (
  tree: number,
  files: readonly WalkedFile[],
) => readonly { path: string; content: Buffer; mode: number; mtime: number }[];

/**
 * Several filesystems flattened into one tar, each under its own folder (a 0755 root-owned entry, as BuildKit's
 * tar exporter writes the platforms of a multi-platform build: `linux_amd64/…`); hard links keep to their tree.
 */
export async function flattenTrees(
  trees: readonly FlattenTree[],
  destination: LayerDestination,
  options: FlattenTreesOptions = {},
): Promise<LayerDescriptor & { entries: number }> {
  const kept: Map<number, EntryHeader>[][] = [];
  for (const t of trees) kept.push(await keptEntries(t.layers, options));
  const { walkOrder, ...rest } = options;
  if (walkOrder) return walkOrdered(trees, kept, destination, rest, walkOrder);
  return writeTrees(trees, destination, options, async (n, t, put) => {
    for await (const { h, body } of keptOf(t, kept[n]!, options)) await put(h, body);
  });
}

/** A tree's kept entries, base layer first, each with its body (a file's). */
async function* keptOf(t: FlattenTree, kept: Map<number, EntryHeader>[], options: FlattenOptions) {
  for (let i = 0; i < t.layers.length; i++) {
    const keep = kept[i]!;
    if (keep.size === 0) continue;
    let index = -1;
    for await (const { body } of entriesOf(t.layers[i]!, options)) {
      const h = keep.get(++index);
      if (h) yield { h, body: h.type === "file" ? body : undefined };
    }
  }
}

/** The trees written one after another, each under its prefix (a root-owned 0755 folder entry first). */
async function writeTrees(
  trees: readonly FlattenTree[],
  destination: LayerDestination,
  options: FlattenOptions,
  each: (
    n: number,
    t: FlattenTree,
    put: (h: EntryHeader, body: AsyncIterable<Buffer> | undefined) => Promise<void>,
  ) => Promise<void>,
): Promise<LayerDescriptor & { entries: number }> {
  let entries = 0;
  const desc = await writeLayer(destination, { compression: "none", ...options }, async (w) => {
    for (const [n, t] of trees.entries()) {
      const under = (path: string) => (t.prefix ? `${t.prefix}/${path}` : path);
      if (t.prefix) {
        await w.add({ path: t.prefix, type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 });
        entries++;
      }
      await each(n, t, async (h, body) => {
        const moved =
          t.prefix === undefined
            ? h
            : {
                ...h,
                path: under(h.path),
                ...(h.type === "hardlink" ? { linkname: under(h.linkname!) } : {}),
              };
        await w.add(moved, body);
        entries++;
      });
    }
  });
  return { ...desc, entries };
}

/**
 * The first pass: per layer, entry index → the header to write in its place (only entries nothing above
 * shadows; a directory at its lowest visible position, with its top-most attributes).
 */
async function keptEntries(
  layers: readonly LayerOpener[],
  options: FlattenOptions,
): Promise<Map<number, EntryHeader>[]> {
  const seen = new Set<string>();
  const deleted = new Set<string>();
  const opaque = new Set<string>();
  const nonDir = new Set<string>();
  const dirHeader = new Map<string, EntryHeader>();
  /** Per layer: entry index → header to write in its place. */
  const keep: Map<number, EntryHeader>[] = layers.map(() => new Map());
  /** Where each kept directory is written: its lowest visible occurrence. */
  const dirAt = new Map<string, { layer: number; index: number }>();

  for (let i = layers.length - 1; i >= 0; i--) {
    const layerDeleted: string[] = [];
    const layerOpaque: string[] = [];
    let index = -1;
    for await (const { header } of entriesOf(layers[i]!, options)) {
      index++;
      const comps = entryComponents(header.path);
      const path = comps.join("/");
      const base = comps[comps.length - 1] ?? "";
      if (base.startsWith(WHITEOUT_PREFIX)) {
        const parent = comps.slice(0, -1).join("/");
        if (base === OPAQUE_MARKER) layerOpaque.push(parent);
        else if (!base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) {
          const name = base.slice(WHITEOUT_PREFIX.length);
          if (name !== "" && name !== "." && name !== "..")
            layerDeleted.push(parent === "" ? name : `${parent}/${name}`);
        }
        continue;
      }
      if (path === "" || isHidden(path, deleted, opaque, nonDir)) continue;
      const h = { ...header, path };
      // A visible non-directory hides whatever lower layers have below it, even if a higher layer replaced it.
      if (h.type !== "dir") nonDir.add(path);
      if (seen.has(path)) {
        // A directory seen above, still visible here: write the top version at this lower position.
        if (h.type === "dir" && dirHeader.has(path)) {
          const at = dirAt.get(path)!;
          keep[at.layer]!.delete(at.index);
          keep[i]!.set(index, dirHeader.get(path)!);
          dirAt.set(path, { layer: i, index });
        }
        continue;
      }
      seen.add(path);
      keep[i]!.set(index, h);
      if (h.type === "dir") {
        dirHeader.set(path, h);
        dirAt.set(path, { layer: i, index });
      }
    }
    for (const p of layerDeleted) deleted.add(p);
    for (const p of layerOpaque) opaque.add(p);
  }

  return keep;
}

/** A path's place in fsutil's walk: byte order with `/` below every other byte (a folder's names, depth first). */
function walkKey(path: string): Buffer {
  return Buffer.from(path.replaceAll("/", "\0"));
}

/** A kept entry and where its content waits in the spool. */
interface Spooled {
  h: EntryHeader;
  at: number;
}

/** `flattenTrees` in walk order: each tree's kept entries read once into a spool, sorted, then written. */
async function walkOrdered(
  trees: readonly FlattenTree[],
  kept: Map<number, EntryHeader>[][],
  destination: LayerDestination,
  options: FlattenOptions,
  walkOrder: NonNullable<FlattenTreesOptions["walkOrder"]>,
): Promise<LayerDescriptor & { entries: number }> {
  const spoolPath = join(walkOrder.spool, `spool-${randomBytes(6).toString("hex")}`);
  const spool = await open(spoolPath, "w+");
  try {
    let end = 0;
    const lists: Spooled[][] = [];
    for (const [n, t] of trees.entries()) {
      const list: Spooled[] = [];
      for await (const { h, body } of keptOf(t, kept[n]!, options)) {
        list.push({ h, at: end });
        for await (const chunk of (body ?? []) as AsyncIterable<Buffer>) {
          await spool.write(chunk, 0, chunk.length, end);
          end += chunk.length;
        }
      }
      list.sort((a, b) => Buffer.compare(walkKey(a.h.path), walkKey(b.h.path)));
      let walked = relinked(list);
      if (walkOrder.extra) {
        const extra = walkOrder.extra(n, await walkedFiles(walked, spool));
        for (const x of extra) {
          await spool.write(x.content, 0, x.content.length, end);
          const h: EntryHeader = {
            path: x.path,
            type: "file",
            mode: x.mode,
            uid: 0,
            gid: 0,
            size: x.content.length,
            mtime: x.mtime,
          };
          walked.push({ h, at: end });
          end += x.content.length;
        }
        // a stable sort: the extra files in their walk place, the rest as they were
        if (extra.length)
          walked = walked.sort((a, b) => Buffer.compare(walkKey(a.h.path), walkKey(b.h.path)));
      }
      lists.push(walked);
    }
    return await writeTrees(trees, destination, options, async (n, _t, put) => {
      for (const { h, at } of lists[n]!) {
        const body =
          h.type === "file" && h.size > 0
            ? spool.createReadStream({ start: at, end: at + h.size - 1, autoClose: false })
            : undefined;
        await put(h, body);
      }
    });
  } finally {
    await spool.close();
    await rm(spoolPath, { force: true }).catch(() => undefined);
  }
}

/** A walk-ordered tree's regular files with their content's sha256 (a hard link's is its leader's). */
async function walkedFiles(list: readonly Spooled[], spool: FileHandle): Promise<WalkedFile[]> {
  const out: WalkedFile[] = [];
  const digests = new Map<string, string>();
  for (const { h, at } of list) {
    if (h.type === "hardlink") out.push({ path: h.path, sha256: digests.get(h.linkname!) ?? "" });
    if (h.type !== "file") continue;
    const hash = createHash("sha256");
    if (h.size > 0) {
      for await (const chunk of spool.createReadStream({ start: at, end: at + h.size - 1, autoClose: false }))
        hash.update(chunk as Buffer);
    }
    const sha256 = hash.digest("hex");
    digests.set(h.path, sha256);
    out.push({ path: h.path, sha256 });
  }
  return out;
}

/**
 * Hard-link groups as a walk finds them: the first path of a group (in `list`'s order) is the file, with the
 * file's attributes and content, and the others link to it.
 */
function relinked(list: Spooled[]): Spooled[] {
  const files = new Map<string, Spooled>();
  for (const e of list) if (e.h.type === "file") files.set(e.h.path, e);
  const leader = new Map<string, string>();
  const groupOf = (e: Spooled) =>
    e.h.type === "hardlink" && files.has(e.h.linkname!)
      ? e.h.linkname!
      : files.has(e.h.path)
        ? e.h.path
        : undefined;
  const linked = new Set(list.filter((e) => e.h.type === "hardlink").map((e) => groupOf(e)));
  return list.map((e) => {
    const group = groupOf(e);
    if (group === undefined || !linked.has(group)) return e;
    const first = leader.get(group);
    if (first === undefined) {
      leader.set(group, e.h.path);
      const file = files.get(group)!;
      return { h: { ...file.h, path: e.h.path }, at: file.at };
    }
    const { linkname: _, ...h } = e.h;
    return { h: { ...h, type: "hardlink", size: 0, linkname: first }, at: 0 };
  });
}
