/**
 * Apply a layer to a root filesystem: OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) hide lower content only,
 * directory over directory keeps the directory and updates its attributes, anything else is unlinked and
 * recreated. Every path is resolved inside the root (see root.ts); nothing outside it is created, changed,
 * linked or read. As root, ownership is set with chown and device nodes are made; rootless, ownership is
 * recorded (returned, and given to `setXattr` as `user.rootlesscontainers` when the caller provides one) and
 * device nodes are skipped with a note.
 */
import { execFile } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  type Stats,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { mkdir, readdir, realpath, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { BerthError, wrapError } from "../errors.ts";
import { decompress } from "../oci/compression.ts";
import { type EntryHeader, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./entry.ts";
import { readTar } from "./reader.ts";
import { entryComponents, RootResolver } from "./root.ts";

const run = promisify(execFile);

export interface ApplyOptions {
  /** Not root: record ownership instead of chown, skip device nodes (with a note). */
  rootless?: boolean;
  /**
   * Make device nodes (default: unless rootless); a local export as root makes them though it records ownership
   * rather than chowning (the nodes are the caller's, as docker's client's mknod makes them).
   */
  devices?: boolean;
  /** Largest PAX header accepted; default 1 MiB. */
  maxMetaSize?: number;
  /**
   * Set an extended attribute (Node has no API for it; a caller with one passes it here). Called for xattrs
   * in the layer and, when rootless, `user.rootlesscontainers` for entries not owned by 0:0.
   */
  setXattr?: (hostPath: string, name: string, value: Buffer) => Promise<void>;
  signal?: AbortSignal | undefined;
  /**
   * Asked before each entry is applied; `false` stops the apply there (what was written stays, for the
   * caller to drop) and the result says `stopped`.
   */
  accept?: ((h: EntryHeader) => boolean) | undefined;
  /**
   * Told of each entry applied (after `accept`), in the tar's order, whiteouts too: a caller that wants the
   * layer's entries takes them here rather than reading the layer again. A sink it returns for a file is given
   * the file's content as it is written.
   */
  onEntry?: ((h: EntryHeader) => ((chunk: Buffer) => void) | undefined) | undefined;
}

export interface ApplyNote {
  entry: string;
  reason: string;
}

export interface ApplyStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  whiteouts: number;
  opaques: number;
  /** Entries or attributes not applied, and why (device nodes when rootless, xattrs without `setXattr`). */
  notes: ApplyNote[];
  /** Rootless only: image path → owner recorded instead of chown (entries not owned by 0:0). */
  ownership: Map<string, { uid: number; gid: number }>;
  /** The entry `accept` refused (nothing after it was applied). */
  stopped?: string;
}

interface DirAttrs {
  host: string;
  mode: number;
  mtime: number;
}

/** Apply one layer (a tar, gzip or zstd stream) to `rootDir`, which is created if missing. */
export async function applyLayer(
  layer: Readable | AsyncIterable<Buffer>,
  rootDir: string,
  options: ApplyOptions = {},
): Promise<ApplyStats> {
  await mkdir(rootDir, { recursive: true });
  const root = await realpath(rootDir);
  const stream = layer instanceof Readable ? await decompress(layer) : layer;
  const applier = new Applier(root, options);
  try {
    const tarOptions = options.maxMetaSize === undefined ? {} : { maxMetaSize: options.maxMetaSize };
    for await (const entry of readTar(stream, tarOptions)) {
      options.signal?.throwIfAborted();
      if (options.accept && !options.accept(entry.header)) {
        applier.stats.stopped = entry.header.path;
        if (layer instanceof Readable) layer.destroy();
        return applier.stats;
      }
      const sink = options.onEntry?.(entry.header);
      await applier.apply(entry.header, entry.body, sink);
    }
    await applier.finish();
  } catch (err) {
    if (layer instanceof Readable) layer.destroy();
    throw err instanceof BerthError ? err : wrapError("applying layer", err);
  }
  return applier.stats;
}

/**
 * An `accept` for applying a layer into an empty overlayfs upper dir without its parents mounted below it:
 * true while no entry needs what is below — each entry's parent directory is an entry before it, hard links
 * point at files of the layer, no whiteouts. Such a layer leaves the same upper dir as applied through the
 * overlay: a directory over a lower directory is merged either way, anything else hides what is below it.
 * Layers berth's COPY makes are such layers (they name every parent).
 */
export function selfContained(): (h: EntryHeader) => boolean {
  const dirs = new Set<string>([""]);
  const files = new Set<string>();
  return (h) => {
    const comps = entryComponents(h.path);
    const path = comps.join("/");
    if (comps.length > 0 && comps[comps.length - 1]!.startsWith(WHITEOUT_PREFIX)) return false;
    if (!dirs.has(comps.slice(0, -1).join("/"))) return false;
    if (h.type === "hardlink" && !files.has(entryComponents(h.linkname ?? "").join("/"))) return false;
    if (h.type === "dir") {
      dirs.add(path);
      files.delete(path);
    } else {
      dirs.delete(path);
      files.add(path);
    }
    return true;
  };
}

class Applier {
  readonly stats: ApplyStats = {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    devices: 0,
    whiteouts: 0,
    opaques: 0,
    notes: [],
    ownership: new Map(),
  };
  readonly #r: RootResolver;
  readonly #options: ApplyOptions;
  readonly #rootless: boolean;
  readonly #devices: boolean;
  /** Paths this layer wrote, and their ancestors: whiteouts and opaque markers leave them alone. */
  readonly #written = new Set<string>();
  readonly #writtenAncestors = new Set<string>();
  readonly #dirAttrs = new Map<string, DirAttrs>();

  constructor(root: string, options: ApplyOptions) {
    this.#r = new RootResolver(root);
    this.#options = options;
    this.#rootless = options.rootless ?? false;
    this.#devices = options.devices ?? !this.#rootless;
  }

  /** Apply one entry; `sink` (a file's) is given its content as it is written. */
  async apply(h: EntryHeader, body: AsyncIterable<Buffer>, sink?: (chunk: Buffer) => void): Promise<void> {
    const name = h.path;
    const comps = entryComponents(name);
    this.stats.entries++;
    if (comps.length === 0) {
      if (h.type !== "dir")
        throw new BerthError(
          "LAYER_INVALID",
          `layer entry ${JSON.stringify(name)} replaces the root with a ${h.type}`,
        );
      await this.#attrs(h, "", this.#r.root, true);
      this.stats.dirs++;
      return;
    }
    const base = comps[comps.length - 1]!;
    const parentComps = comps.slice(0, -1);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.#whiteout(name, base, parentComps);
      return;
    }
    const parent = (await this.#r.resolveDir(parentComps, name, true))!;
    const path = parent === "" ? base : `${parent}/${base}`;
    const host = this.#r.host(path);
    this.#markWritten(path);
    const existing = lstatOrNothing(host);
    if (h.type === "dir") {
      await this.#dir(h, path, host, existing);
      return;
    }
    if (h.type === "hardlink") {
      const target = await this.#linkTarget(h);
      if (existing) {
        const t = lstatSync(this.#r.host(target));
        if (t.ino === existing.ino && t.dev === existing.dev) return;
        await this.#remove(host, existing.isDirectory());
      }
      linkSync(this.#r.host(target), host);
      this.stats.hardlinks++;
      return;
    }
    if (existing) await this.#remove(host, existing.isDirectory());
    switch (h.type) {
      case "file":
        await this.#writeFile(h, path, host, body, sink);
        this.stats.files++;
        return;
      case "symlink":
        symlinkSync(h.linkname ?? "", host);
        this.#r.invalidate();
        await this.#attrs(h, path, host, false);
        this.stats.symlinks++;
        return;
      case "char":
      case "block":
      case "fifo":
        await this.#node(h, name, path, host);
        return;
    }
  }

  /** A directory entry: an existing directory keeps its contents, anything else there is replaced. */
  async #dir(h: EntryHeader, path: string, host: string, existing: Stats | undefined): Promise<void> {
    if (existing?.isDirectory()) {
      await this.#attrs(h, path, host, true);
    } else {
      if (existing) await this.#remove(host, existing.isDirectory());
      mkdirSync(host, { mode: 0o700 });
      this.#r.noteDir(path);
      await this.#attrs(h, path, host, true);
    }
    this.stats.dirs++;
  }

  /** A device node or FIFO (made with mknod/mkfifo); a device rootless, or where not permitted, is a note. */
  async #node(h: EntryHeader, name: string, path: string, host: string): Promise<void> {
    if (h.type !== "fifo" && !this.#devices) {
      this.stats.notes.push({
        entry: name,
        reason: `${h.type} device ${h.devmajor}:${h.devminor} not created (rootless)`,
      });
      return;
    }
    const mode = (h.mode & 0o777).toString(8);
    try {
      if (h.type === "fifo") await run("mkfifo", ["-m", mode, host]);
      else
        await run("mknod", [
          "-m",
          mode,
          host,
          h.type === "char" ? "c" : "b",
          String(h.devmajor ?? 0),
          String(h.devminor ?? 0),
        ]);
    } catch (err) {
      // Root of a user namespace (a build without root, cli/userns.ts) may not make device nodes: skipped
      // as rootless mode skips them (the runtime gives a container its own /dev).
      const denied = /Operation not permitted/.test(String((err as { stderr?: unknown }).stderr ?? ""));
      if (h.type !== "fifo" && denied) {
        this.stats.notes.push({
          entry: name,
          reason: `${h.type} device ${h.devmajor}:${h.devminor} not created (not permitted here)`,
        });
        return;
      }
      throw wrapError(`creating ${h.type} ${JSON.stringify(name)}`, err);
    }
    await this.#attrs(h, path, host, true);
    this.stats.devices++;
  }

  async finish(): Promise<void> {
    // Directory modes and mtimes last, deepest first: adding children changes a directory's mtime, and a
    // read-only directory must stay writable until then.
    const dirs = [...this.#dirAttrs.values()].sort((a, b) => b.host.length - a.host.length);
    for (const d of dirs) {
      chmodSync(d.host, d.mode);
      utimesSync(d.host, d.mtime, d.mtime);
    }
  }

  #markWritten(path: string): void {
    this.#written.add(path);
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const a = path.slice(0, i);
      if (this.#writtenAncestors.has(a)) break;
      this.#writtenAncestors.add(a);
    }
  }

  /**
   * Write a regular file with synchronous calls, as tar does: the asynchronous ones (open, write, chown,
   * chmod, utimes, close: six trips through libuv's thread pool per file) queued behind the decompressor there,
   * and for a layer of many small files (node_modules) the event loop mostly waited. Directories, links and
   * attributes too (`#dir`, `#attrs`, `finish`, root.ts's lookups): a base's snapshot made in the background
   * while the key pass keeps the main thread busy waited for it at each of those trips.
   */
  async #writeFile(
    h: EntryHeader,
    path: string,
    host: string,
    body: AsyncIterable<Buffer>,
    sink: ((chunk: Buffer) => void) | undefined,
  ): Promise<void> {
    const fd = openSync(
      host,
      constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        sink?.(chunk);
      }
      await this.#owner(h, path, host, fd);
      fchmodSync(fd, h.mode & 0o7777);
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
    await this.#xattrs(h, host);
  }

  async #owner(h: EntryHeader, path: string, host: string, fd?: number): Promise<void> {
    if (this.#rootless) {
      if (h.uid !== 0 || h.gid !== 0) {
        this.stats.ownership.set(path, { uid: h.uid, gid: h.gid });
        if (this.#options.setXattr && h.type !== "symlink") {
          await this.#options.setXattr(host, "user.rootlesscontainers", rootlessXattr(h.uid, h.gid));
        }
      }
      return;
    }
    try {
      if (fd !== undefined) fchownSync(fd, h.uid, h.gid);
      else if (h.type === "symlink") lchownSync(host, h.uid, h.gid);
      else chownSync(host, h.uid, h.gid);
    } catch (err) {
      // EINVAL: the owner has no id in this user namespace (a rootless berth mapping only the caller's id)
      if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
      throw new BerthError(
        "ID_UNMAPPED",
        `${path} in the layer is owned by ${h.uid}:${h.gid}, an id this user namespace does not map (only ids of the caller's /etc/subuid and /etc/subgid ranges can own files in a build without root)`,
        {
          hint: "install newuidmap/newgidmap (Debian: uidmap) and give your user ranges in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER), or run berth as root",
          cause: err,
          details: { path, uid: h.uid, gid: h.gid },
        },
      );
    }
  }

  async #attrs(h: EntryHeader, path: string, host: string, chmodIt: boolean): Promise<void> {
    await this.#owner(h, path, host);
    if (h.type === "dir") {
      this.#dirAttrs.set(host, { host, mode: h.mode & 0o7777, mtime: h.mtime });
      // Keep it writable for our own children until finish().
      chmodSync(host, (h.mode & 0o7777) | 0o700);
    } else if (h.type === "symlink") {
      lutimesSync(host, h.mtime, h.mtime);
    } else {
      if (chmodIt) chmodSync(host, h.mode & 0o7777);
      utimesSync(host, h.mtime, h.mtime);
    }
    await this.#xattrs(h, host);
  }

  async #xattrs(h: EntryHeader, host: string): Promise<void> {
    if (!h.xattrs) return;
    for (const [k, v] of Object.entries(h.xattrs)) {
      if (this.#options.setXattr) await this.#options.setXattr(host, k, v);
      else this.stats.notes.push({ entry: h.path, reason: `xattr ${k} not set (no xattr support given)` });
    }
  }

  async #remove(host: string, isDir: boolean): Promise<void> {
    await rm(host, { recursive: isDir, force: true });
    this.#r.invalidate();
    this.#dirAttrs.delete(host);
  }

  async #linkTarget(h: EntryHeader): Promise<string> {
    const name = h.path;
    const comps = entryComponents(
      h.linkname ?? "",
      name,
      `links to ${JSON.stringify(h.linkname)}, which climbs out of the root`,
    );
    if (comps.length === 0)
      throw new BerthError("LAYER_INVALID", `layer entry ${JSON.stringify(name)} is a hardlink to the root`);
    const parent = await this.#r.resolveDir(comps.slice(0, -1), name, false);
    const target =
      parent === undefined
        ? undefined
        : parent === ""
          ? comps[comps.length - 1]!
          : `${parent}/${comps[comps.length - 1]}`;
    const st = target === undefined ? undefined : lstatOrNothing(this.#r.host(target));
    if (!st || target === undefined) {
      throw new BerthError(
        "LAYER_UNSAFE",
        `layer entry ${JSON.stringify(name)} links to ${JSON.stringify(h.linkname)}, which does not exist in the root`,
        { details: { entry: name } },
      );
    }
    if (st.isDirectory()) {
      throw new BerthError(
        "LAYER_INVALID",
        `layer entry ${JSON.stringify(name)} is a hardlink to directory ${JSON.stringify(h.linkname)}`,
        { details: { entry: name } },
      );
    }
    return target;
  }

  async #whiteout(name: string, base: string, parentComps: string[]): Promise<void> {
    if (base === OPAQUE_MARKER) {
      const parent = await this.#r.resolveDir(parentComps, name, true);
      this.stats.opaques++;
      const dir = parent!;
      const host = this.#r.host(dir);
      for (const child of await readdir(host))
        await this.#removeLower(dir === "" ? child : `${dir}/${child}`);
      return;
    }
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // AUFS metadata (.wh..wh.plnk…)
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === "")
      throw new BerthError(
        "LAYER_INVALID",
        `layer entry ${JSON.stringify(name)} is a whiteout with no name`,
        { details: { entry: name } },
      );
    if (target === "." || target === "..") {
      throw new BerthError(
        "LAYER_UNSAFE",
        `layer entry ${JSON.stringify(name)} whites out ${JSON.stringify(target)}, which is not a name inside its directory`,
        { details: { entry: name } },
      );
    }
    this.stats.whiteouts++;
    const parent = await this.#r.resolveDir(parentComps, name, false);
    if (parent === undefined) return;
    await this.#removeLower(parent === "" ? target : `${parent}/${target}`);
  }

  /** Remove what lower layers put at `path`, keeping what this layer wrote. */
  async #removeLower(path: string): Promise<void> {
    const host = this.#r.host(path);
    const st = lstatOrNothing(host);
    if (!st) return;
    if (this.#written.has(path) || this.#writtenAncestors.has(path)) {
      if (st.isDirectory()) {
        for (const child of await readdir(host)) await this.#removeLower(`${path}/${child}`);
      }
      return;
    }
    await this.#remove(host, st.isDirectory());
  }
}

/** What is at `host`, or undefined when nothing (or nothing reachable) is. */
function lstatOrNothing(host: string): Stats | undefined {
  try {
    return lstatSync(host, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * The `user.rootlesscontainers` xattr value: protobuf `Resource { uint32 uid = 1; uint32 gid = 2; }`, as
 * rootlesscontainers.io specifies (fields left out when zero).
 */
export function rootlessXattr(uid: number, gid: number): Buffer {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  };
  const bytes: number[] = [];
  if (uid !== 0) bytes.push(0x08, ...varint(uid));
  if (gid !== 0) bytes.push(0x10, ...varint(gid));
  return Buffer.from(bytes);
}
