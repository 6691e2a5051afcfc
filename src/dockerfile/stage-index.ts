/**
 * A stage's filesystem as the tree of its layers' tar headers, whiteouts and opaque directories applied:
 * COPY's and WORKDIR's path questions (does the destination exist, what is it, who owns it, where do its
 * symlinks lead, what do /etc/passwd and /etc/group say) answered without writing the files to disk. Only
 * RUN and `--from` sources need the files themselves (`StageRoot`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../errors.ts";
import { type EntryHeader, type EntryType, OPAQUE_MARKER, WHITEOUT_PREFIX } from "../layer/entry.ts";
import type { Layer } from "../oci/image.ts";
import { writeFileAtomicSync } from "../util/fs.ts";
import { components, type FsView, type PathInfo } from "./rootfs.ts";

/**
 * Files whose content the index keeps as it reads the layers, for `--chown` and WORKDIR's owner by name; any
 * other file (where a symlinked /etc/passwd leads) is read again from its layer when asked.
 */
const KEPT = new Set(["passwd", "group"]);
const MAX_KEPT = 1024 * 1024;

interface Node {
  info: PathInfo;
  content?: Buffer | undefined;
  /** Where a file's content is: the layer and the entry's path in it. */
  source?: { layer: number; path: string } | undefined;
  children: Map<string, Node>;
}

const implicitDir = (): Node => ({
  info: { type: "dir", mode: 0o755, uid: 0, gid: 0 },
  children: new Map(),
});

/** A layer as the index reads it: its tar, and (from an image) its descriptor, whose digest names its entries. */
type IndexedLayer = Pick<Layer, "uncompressed"> & { readonly descriptor?: { readonly digest: string } };

/** An image, or anything with layers to read. */
interface LayerList {
  layers(): readonly IndexedLayer[];
}

/** What the index takes of an entry's header. */
type IndexHeader = Pick<EntryHeader, "path" | "type" | "mode" | "uid" | "gid" | "linkname">;

/** A layer's entries as the index takes them: the headers, and the content of the files it keeps. */
export interface IndexEntry {
  header: IndexHeader;
  content?: Buffer | undefined;
}

/**
 * A layer's entries taken from a reader of its tar that is about to start (`LayerEntries.expect`), as
 * `Snapshots.prepare` observes a layer it applies (its `LayerObserver`): each `begin` starts the entries over,
 * `applied` says the last reading got through (its DiffID checked), `end` that no reading is left.
 */
export interface ExpectedEntries {
  begin(): (h: EntryHeader) => ((chunk: Buffer) => void) | undefined;
  applied(): void;
  end(): void;
}

/** An entry as saved in `entries/<digest hex>.json`: path, type, mode, uid, gid, link target, kept content. */
type SavedEntry = [string, EntryType, number, number, number, string | null, string | null];

const SAVED_VERSION = 1;

/**
 * The entries of layers by digest, shared by the stage indexes of one build: the stages FROM the same image
 * read its layers once, and a step that wrote a layer gives its entries (`note`), so no stage reads them back
 * from the blob it just compressed. With a folder, each layer's entries are saved there (`<digest hex>.json`,
 * not flushed: one that does not parse is read again from the layer), so the next build reads no layer for them.
 */
export class LayerEntries {
  readonly #byDigest = new Map<string, Promise<readonly IndexEntry[]>>();
  /** Entries a reader of the layer's tar will give (`expect`): undefined when it did not get through. */
  readonly #expected = new Map<string, Promise<readonly IndexEntry[] | undefined>>();
  readonly #dir: string | undefined;

  /** `dir`: where the entries are saved between builds (none: kept in memory only). */
  constructor(dir?: string) {
    this.#dir = dir;
  }

  /** The entries of the layer whose blob has `digest` (as the step wrote them; no file content kept). */
  note(digest: string, headers: readonly IndexHeader[]): void {
    const entries = headers.map((header) => ({ header }));
    this.#byDigest.set(digest, Promise.resolve(entries));
    this.#save(digest, entries);
  }

  /**
   * The entries of the layer whose blob has `digest` as another reader of its tar takes them (the base's snapshot
   * made in the background, `warmSnapshots`), so that the layer is not read a second time for them: `of`
   * waits for that reader, and reads the layer itself only when it did not get through. Undefined when the
   * entries are known already (or expected from another reader).
   */
  expect(digest: string): ExpectedEntries | undefined {
    if (this.#byDigest.has(digest) || this.#expected.has(digest) || this.#load(digest)) return undefined;
    let entries: IndexEntry[] = [];
    let whole = false;
    let resolve: (got: readonly IndexEntry[] | undefined) => void = () => undefined;
    const expected = new Promise<readonly IndexEntry[] | undefined>((r) => {
      resolve = r;
    });
    this.#expected.set(digest, expected);
    expected.then((got) => {
      this.#expected.delete(digest);
      // nobody asked meanwhile (`of` keeps and saves what it waited for)
      if (got && !this.#byDigest.has(digest)) {
        this.#byDigest.set(digest, Promise.resolve(got));
        this.#save(digest, got);
      }
    });
    return {
      begin: () => {
        const taken: IndexEntry[] = [];
        entries = taken;
        whole = false;
        return (header) => {
          const entry: IndexEntry = { header, content: undefined };
          taken.push(entry);
          if (!kept(header)) return undefined;
          const chunks: Buffer[] = [];
          entry.content = Buffer.alloc(0);
          return (chunk) => {
            chunks.push(chunk);
            entry.content = chunks.length === 1 ? chunk : Buffer.concat(chunks);
          };
        };
      },
      applied: () => {
        whole = true;
      },
      end: () => resolve(whole ? entries : undefined),
    };
  }

  /** Start reading the entries of `layers` (a later `of` waits for them); a failure is `of`'s to report. */
  prefetch(layers: readonly IndexedLayer[]): void {
    for (const layer of layers) if (layer.descriptor) this.of(layer).catch(() => undefined);
  }

  /** The entries of `layer`: known by its digest, saved by an earlier build, else read from its tar. */
  of(layer: IndexedLayer): Promise<readonly IndexEntry[]> {
    const digest = layer.descriptor?.digest;
    if (digest === undefined) return readEntries(layer);
    const known = this.#byDigest.get(digest) ?? this.#load(digest);
    if (known) return known;
    const expected = this.#expected.get(digest);
    const entries = expected ? expected.then((got) => got ?? readEntries(layer)) : readEntries(layer);
    const read = entries.then((entries) => {
      this.#save(digest, entries);
      return entries;
    });
    this.#byDigest.set(digest, read);
    // a failed read is not kept: the next stage tries again (and says why)
    read.catch(() => this.#byDigest.delete(digest));
    return read;
  }

  #file(digest: string): string | undefined {
    const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
    return this.#dir === undefined || hex === undefined ? undefined : join(this.#dir, `${hex}.json`);
  }

  /** Entries an earlier build saved (read synchronously: one small file), or undefined. */
  #load(digest: string): Promise<readonly IndexEntry[]> | undefined {
    const file = this.#file(digest);
    if (file === undefined) return undefined;
    let saved: { v?: unknown; entries?: SavedEntry[] };
    try {
      saved = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      return undefined;
    }
    if (saved.v !== SAVED_VERSION || !Array.isArray(saved.entries)) return undefined;
    const entries = saved.entries.map(([path, type, mode, uid, gid, linkname, content]) => ({
      header: { path, type, mode, uid, gid, ...(linkname === null ? {} : { linkname }) },
      content: content === null ? undefined : Buffer.from(content, "base64"),
    }));
    const p = Promise.resolve(entries);
    this.#byDigest.set(digest, p);
    return p;
  }

  /** Save a layer's entries for later builds; a failure only costs the next build a read of the layer. */
  #save(digest: string, entries: readonly IndexEntry[]): void {
    const file = this.#file(digest);
    if (file === undefined) return;
    const saved: SavedEntry[] = entries.map(({ header: h, content }) => [
      h.path,
      h.type,
      h.mode,
      h.uid,
      h.gid,
      h.linkname ?? null,
      content === undefined ? null : content.toString("base64"),
    ]);
    try {
      writeFileAtomicSync(file, JSON.stringify({ v: SAVED_VERSION, entries: saved }));
    } catch {
      // not saved: the next build reads the layer
    }
  }
}

/** Whether the index keeps the content of the entry (`KEPT`). */
function kept(header: EntryHeader): boolean {
  const base = header.path.slice(header.path.lastIndexOf("/") + 1);
  return header.type === "file" && KEPT.has(base) && header.size <= MAX_KEPT;
}

/** A layer's headers, with the content of the files the index keeps. */
async function readEntries(layer: IndexedLayer): Promise<IndexEntry[]> {
  const entries: IndexEntry[] = [];
  // the layer opened at once (`LayerEntries.prefetch` starts every read in the same tick), the tar reader loaded
  // meanwhile by the first layer read: a rebuild that changes nothing reads none
  const [tar, { readTar }] = await Promise.all([layer.uncompressed(), import("../layer/reader.ts")]);
  for await (const { header, body } of readTar(tar)) {
    let content: Buffer | undefined;
    if (kept(header)) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c);
      content = Buffer.concat(chunks);
    }
    entries.push({ header, content });
  }
  return entries;
}

export class StageIndex implements FsView {
  readonly #root = implicitDir();
  #layers: readonly IndexedLayer[] = [];
  #applied = 0;
  #syncing: Promise<unknown> = Promise.resolve();
  readonly #entries: LayerEntries;

  /** `entries`: the layers' entries this index shares with others (default: its own). */
  constructor(entries: LayerEntries = new LayerEntries()) {
    this.#entries = entries;
  }

  /** Add the layers of `image` the index does not have yet (the image must extend what was added). */
  sync(image: LayerList | undefined): Promise<FsView> {
    const next = this.#syncing.then(() => this.#sync(image));
    this.#syncing = next.catch(() => undefined);
    return next;
  }

  async #sync(image: LayerList | undefined): Promise<FsView> {
    const layers = image?.layers() ?? [];
    this.#layers = layers;
    for (; this.#applied < layers.length; this.#applied++) {
      this.#addLayer(this.#applied, await this.#entries.of(layers[this.#applied]!));
    }
    return this;
  }

  /** Whiteouts and opaque markers hide what the layers below have; then the layer's entries go in. */
  #addLayer(layer: number, entries: readonly IndexEntry[]): void {
    for (const { header } of entries) {
      const comps = components(header.path);
      const base = comps.pop();
      if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) continue;
      const parent = this.#node(comps);
      if (parent?.info.type !== "dir") continue;
      if (base === OPAQUE_MARKER) parent.children.clear();
      else parent.children.delete(base.slice(WHITEOUT_PREFIX.length));
    }
    for (const { header, content } of entries) {
      const comps = components(header.path);
      const base = comps.pop();
      if (base === undefined) {
        this.#root.info = infoOf(header);
        continue;
      }
      if (base.startsWith(WHITEOUT_PREFIX)) continue;
      let dir = this.#root;
      for (const c of comps) {
        let next = dir.children.get(c);
        if (next?.info.type !== "dir") {
          next = implicitDir();
          dir.children.set(c, next);
        }
        dir = next;
      }
      const old = dir.children.get(base);
      if (header.type === "hardlink") {
        const target = this.#node(components(header.linkname ?? ""));
        if (target) dir.children.set(base, { ...target, children: new Map() });
      } else if (header.type === "dir" && old?.info.type === "dir") old.info = infoOf(header);
      else
        dir.children.set(base, {
          info: infoOf(header),
          content,
          source: header.type === "file" ? { layer, path: header.path } : undefined,
          children: new Map(),
        });
    }
  }

  #node(comps: readonly string[]): Node | undefined {
    let n: Node | undefined = this.#root;
    for (const c of comps) {
      n = n.info.type === "dir" ? n.children.get(c) : undefined;
      if (!n) return undefined;
    }
    return n;
  }

  async lstat(rel: string): Promise<PathInfo | undefined> {
    return this.#node(components(rel))?.info;
  }

  async readFile(rel: string): Promise<string | undefined> {
    const n = this.#node(components(rel));
    if (n?.info.type !== "file") return undefined;
    n.content ??= await this.#read(n, rel);
    return n.content.toString("utf8");
  }

  /** A file's content from the layer that has it. */
  async #read(n: Node, rel: string): Promise<Buffer> {
    const layer = n.source && this.#layers[n.source.layer];
    if (layer) {
      const [tar, { readTar }] = await Promise.all([layer.uncompressed(), import("../layer/reader.ts")]);
      for await (const { header, body } of readTar(tar)) {
        if (header.path !== n.source?.path) continue;
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c);
        return Buffer.concat(chunks);
      }
    }
    throw new BerthError("INTERNAL", `the stage index finds no content for /${rel} in its layer`);
  }
}

function infoOf(h: IndexHeader): PathInfo {
  return { type: h.type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, linkname: h.linkname };
}
