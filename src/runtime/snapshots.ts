/**
 * Snapshots: applied layers cached by chain ID under `$BERTH_HOME/snapshots`, shared by every image whose
 * layers begin with the same chain.
 *
 * - `overlay/<chain hex>/fs` (root, overlayfs available): the changes of one layer in overlayfs upper form,
 *   made by applying the layer through an overlay mount of its parent chain; a root is an overlay of the
 *   chain's `fs` dirs. Nothing is stored twice.
 * - `full/<chain hex>/fs` (rootless, or no overlayfs): the whole tree for that chain, copied from the
 *   parent's and then applied; a root is a copy of it.
 *
 * A snapshot is made in `tmp/` and renamed into place, so a snapshot that exists is complete; when two
 * processes make the same one, the first rename wins and the other's copy is dropped. Nothing is synced to
 * disk (an overlay snapshot is applied through a `volatile` mount, whose unmount skips the sync of the whole
 * filesystem: 280–400 ms a layer on a busy disk), so `meta.json` names the boot a snapshot was made in, and
 * another boot makes it again: a crash may have left it short. An overlay snapshot's `meta.json` also lists its
 * opaque directories (`opaque`; null when it cannot be read as a union), so that a root can be read without
 * mounting it (`union.ts`) and without a getfattr; a snapshot made before it did gets them once, from one.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { promisify } from "node:util";
import { BerthError, wrapError } from "../errors.ts";
import type { ApplyOptions } from "../layer/apply.ts";
import { chainIds, type Digest, encodedOf } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { makePrivateHome } from "../util/home.ts";
import { ownerTag } from "../util/owner.ts";
import {
  currentBootId,
  mountOverlay,
  overlaySupported,
  overlayUnionDirs,
  stripOverlayOrigins,
  unmount,
} from "./mount.ts";
import { type SnapshotMode, snapshotDir } from "./snapshot-dir.ts";

const pexec = promisify(execFile);

export type { SnapshotMode } from "./snapshot-dir.ts";

/**
 * A snapshot made from a layer's tar while the layer is written (`Snapshots.streamed`): the writer gives the
 * uncompressed tar to `input` as it writes it (`writeLayer`'s `tee`), then `finish` with its DiffID.
 */
export interface StreamedSnapshot {
  input: Writable;
  /**
   * Put the snapshot in place as the layer's of this DiffID (nothing when it could not be made from the
   * stream); a `prepare` that needs it meanwhile waits for it, so the writer need not. Never rejects.
   * `parents`: the DiffIDs below the layer when they are known only now (a step made early, against its base's
   * layers, and taken over more); the layer was applied as needing nothing below it, so any parents take it.
   */
  finish(diffId: Digest, parents?: readonly Digest[]): Promise<void>;
  /** Drop it (the layer was not written). */
  abandon(): Promise<void>;
}

/** A snapshot `prepare` found or made, with its opaque directories (`SnapshotChain.opaque`). */
interface MadeSnapshot {
  made: boolean;
  opaque: string[] | undefined;
}

/** The snapshots this process is finding or making, by their dir, each until it is in place or fails. */
const MAKING = new Map<string, Promise<MadeSnapshot>>();

export interface SnapshotOptions {
  /** Not root: layers are applied rootless (no chown, no device nodes) into full trees. */
  rootless?: boolean;
  /** Force a mode (default: overlay when root and the kernel allows it, else full). */
  mode?: SnapshotMode;
}

export interface PrepareOptions {
  signal?: AbortSignal | undefined;
  /** Called before each layer that has to be applied (index, count, chain ID). */
  onApply?: ((index: number, count: number, chainId: Digest) => void) | undefined;
  /** Asked before each layer is found or made (index): what sees its entries if it is applied. */
  observe?: ((index: number) => LayerObserver | undefined) | undefined;
}

/** What sees the entries of a layer `prepare` applies (`PrepareOptions.observe`). */
export interface LayerObserver {
  /** An apply of the layer begins (again, when one stopped part way: what it saw is dropped): its `onEntry`. */
  begin(): ApplyOptions["onEntry"];
  /** The apply begun last got through, its DiffID checked. */
  applied(): void;
  /** `prepare` is done with the layer: found, made, or failed. */
  end(): void;
}

/** The snapshots an image's root is made of. */
export interface SnapshotChain {
  mode: SnapshotMode;
  chainIds: Digest[];
  /** The `fs` dir of each snapshot, base first. overlay: one layer's changes each; full: whole trees. */
  dirs: string[];
  /** Layers applied to make this chain now (0 when every snapshot was cached). */
  applied: number;
  /** Snapshots found in the cache. */
  reused: number;
  /**
   * overlay: the opaque directories of each snapshot (as `dirs`), to read the root as a union (`union.ts`);
   * undefined for one that cannot be (`overlayUnionDirs`).
   */
  opaque?: (readonly string[] | undefined)[];
}

export class Snapshots {
  readonly home: string;
  readonly root: string;
  readonly mode: SnapshotMode;
  readonly rootless: boolean;

  private constructor(home: string, mode: SnapshotMode, rootless: boolean) {
    this.home = home;
    this.root = join(home, "snapshots");
    this.mode = mode;
    this.rootless = rootless;
  }

  static async open(home: string, options: SnapshotOptions = {}): Promise<Snapshots> {
    const root = join(home, "snapshots");
    // 0700: snapshots hold image roots, setuid files and all.
    await makePrivateHome(home);
    // synchronous: there on every open but the first (each RUN opens the snapshots), and a trip through libuv's
    // pool waits for a main thread that may be busy (the key pass, while the base's snapshots are being made)
    mkdirSync(join(root, "tmp"), { recursive: true, mode: 0o700 });
    const rootless = options.rootless ?? false;
    const mode = options.mode ?? ((await overlaySupported(root, !rootless)) ? "overlay" : "full");
    if (mode === "overlay" && rootless) {
      throw new BerthError("USAGE", "overlay snapshots need root; rootless runs use full snapshots");
    }
    return new Snapshots(home, mode, rootless);
  }

  /** The directory of a snapshot (whether or not it exists). */
  dir(chainId: Digest): string {
    return snapshotDir(this.home, this.mode, chainId);
  }

  /** An empty directory, the lower layer of an image with no layers. */
  async empty(): Promise<string> {
    const d = join(this.root, "empty");
    await mkdir(d, { recursive: true });
    return d;
  }

  /** Make (or find) the snapshots of every layer of `image`. */
  async prepare(image: Image, options: PrepareOptions = {}): Promise<SnapshotChain> {
    const config = image.imageConfig();
    const diffIds = config.rootfs.diff_ids;
    const layers = image.layers();
    if (layers.length !== diffIds.length) {
      throw new BerthError(
        "MANIFEST_INVALID",
        `${image.digest} has ${layers.length} layers but its config lists ${diffIds.length} diff_ids`,
      );
    }
    const ids = chainIds(diffIds);
    const dirs: string[] = [];
    const opaque: (string[] | undefined)[] = [];
    let applied = 0;
    let reused = 0;
    for (let i = 0; i < ids.length; i++) {
      options.signal?.throwIfAborted();
      const dir = this.dir(ids[i]!);
      // One snapshot at a time per dir in this process: a second prepare (another build's, or a background one)
      // waits for the first; when that one failed, it tries itself and reports its own failure.
      const pending = MAKING.get(dir);
      let got = pending && (await pending.catch(() => undefined));
      if (!got) {
        const observer = options.observe?.(i);
        const own = this.#snapshot(dir, () => {
          options.onApply?.(i, ids.length, ids[i]!);
          const open = () => layers[i]!.uncompressed();
          return this.#make(ids[i]!, diffIds[i]!, dirs, open, i, options.signal, observer);
        });
        MAKING.set(dir, own);
        got = await own.finally(() => {
          observer?.end();
          if (MAKING.get(dir) === own) MAKING.delete(dir);
        });
      }
      if (got.made) applied++;
      else reused++;
      opaque.push(got.opaque);
      dirs.push(join(dir, "fs"));
    }
    return {
      mode: this.mode,
      chainIds: ids,
      dirs,
      applied,
      reused,
      ...(this.mode === "overlay" ? { opaque } : {}),
    };
  }

  /**
   * Make the snapshot of a layer over `parents` (the DiffIDs below it) from its tar as it is written, with no
   * read back of the blob: applied as `prepare` applies it (the same tar, the same `applyLayer`), so the snapshot
   * is the one `prepare` would make. overlay only, and only a layer that needs nothing below it (`selfContained`:
   * berth's COPY layers); for any other, or when the apply fails, no snapshot is made and `prepare` makes it
   * when a root needs it. Undefined in full mode.
   */
  async streamed(below: readonly Digest[]): Promise<StreamedSnapshot | undefined> {
    if (this.mode !== "overlay") return undefined;
    const tmp = this.#tempDir("stream");
    const { applyLayer, selfContained } = await import("../layer/index.ts");
    const input = new PassThrough();
    await mkdir(tmp, { recursive: true });
    const applied = applyLayer(input, join(tmp, "fs"), {
      rootless: this.rootless,
      accept: below.length > 0 ? selfContained() : undefined,
    }).then(
      (stats) => stats.stopped === undefined,
      () => false,
    );
    // whatever stopped the apply, the writer is never held up by this copy of its tar
    applied.then(() => input.resume());
    const drop = () => rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    return {
      input,
      abandon: async () => {
        input.destroy(new Error("the layer was not written"));
        await applied;
        await drop();
      },
      finish: (diffId, parents = below) => {
        const ids = chainIds([...parents, diffId]);
        const chainId = ids.at(-1)!;
        const dir = this.dir(chainId);
        const parent = ids.at(-2);
        const placing = (async (): Promise<MadeSnapshot> => {
          if (!(await applied)) throw new Error("the layer was not applied from its tar");
          // applied as a base layer (anything taken): only a base layer it is
          if (below.length === 0 && parents.length > 0) throw new Error("the layer was applied as a base");
          await this.#place(tmp, chainId, {
            chainId,
            diffId,
            index: parents.length,
            parent: parent === undefined ? null : join(this.dir(parent), "fs"),
            opaque: [],
          });
          return { made: true, opaque: [] };
        })();
        // claimed at once: a prepare that needs it meanwhile waits for it (and makes it itself if it fails)
        MAKING.set(dir, placing);
        return placing
          .then(() => undefined, drop)
          .finally(() => MAKING.get(dir) === placing && MAKING.delete(dir));
      },
    };
  }

  /**
   * The snapshots of `image`'s layers that are there already, base first, up to the first one missing (none
   * is made): what a read-only root can start from without making a snapshot of every layer.
   */
  async cachedPrefix(image: Image): Promise<SnapshotChain> {
    const ids = chainIds(image.imageConfig().rootfs.diff_ids);
    const dirs: string[] = [];
    for (const id of ids) {
      if (!(await this.#usable(this.dir(id)))) break;
      dirs.push(join(this.dir(id), "fs"));
    }
    return { mode: this.mode, chainIds: ids.slice(0, dirs.length), dirs, applied: 0, reused: dirs.length };
  }

  /** The snapshot in `dir`: found (its opaque dirs), else made by `make`. */
  async #snapshot(dir: string, make: () => Promise<string[] | undefined>): Promise<MadeSnapshot> {
    const meta = await this.#usable(dir);
    if (meta) return { made: false, opaque: await this.#opaqueOf(dir, meta) };
    return { made: true, opaque: await make() };
  }

  /**
   * The `meta.json` of the snapshot in `dir` when it is there and was made in this boot (one of another boot
   * is moved away); undefined when it has to be made.
   */
  async #usable(dir: string): Promise<SnapshotMeta | undefined> {
    // synchronous: a stat and a small file per layer of the chain, before each RUN's runc and each stage read,
    // where every trip through libuv's pool waits for the build's thread
    if (!isDir(join(dir, "fs"))) return undefined;
    const meta = readMeta(join(dir, "meta.json"));
    // Made before snapshots named their boot: the layers after the first were synced by their unmount.
    if (meta.boot === undefined || meta.boot === (await currentBootId())) return meta;
    const away = this.#tempDir("stale");
    await rename(dir, away).catch(() => undefined);
    await rm(away, { recursive: true, force: true });
    return undefined;
  }

  /** An overlay snapshot's opaque directories: from its `meta.json`, else (made before it listed them) from a getfattr, then recorded. */
  async #opaqueOf(dir: string, meta: SnapshotMeta): Promise<string[] | undefined> {
    if (this.mode !== "overlay") return undefined;
    if (Array.isArray(meta.opaque)) return meta.opaque.filter((p) => typeof p === "string");
    if (meta.opaque === null) return undefined;
    const opaque = await overlayUnionDirs(join(dir, "fs"));
    await writeFileAtomic(join(dir, "meta.json"), `${JSON.stringify({ ...meta, opaque: opaque ?? null })}\n`);
    return opaque;
  }

  /**
   * A new folder's path in `tmp/`, named with this process's identity (`ownerTag`): when this process is killed
   * while it makes a snapshot there, the next berth's sweep (`sweepLeftovers`) removes it, unmounting the overlay
   * it may have left mounted in it first.
   */
  #tempDir(what: string): string {
    return join(this.root, "tmp", `${what}-${ownerTag()}-${randomBytes(6).toString("hex")}`);
  }

  /** Write `tmp`'s `meta.json` and rename it into place as `chainId`'s snapshot (or drop it: one is there). */
  async #place(tmp: string, chainId: Digest, record: SnapshotRecord): Promise<void> {
    const { opaque, ...rest } = record;
    const meta = {
      ...rest,
      mode: this.mode,
      boot: await currentBootId(),
      ...(opaque !== undefined ? { opaque } : {}),
    };
    // synchronous, as `#usable`: a small file, a folder there on every placing but the first, a rename
    writeFileSync(join(tmp, "meta.json"), `${JSON.stringify(meta)}\n`);
    mkdirSync(join(this.root, this.mode), { recursive: true });
    try {
      renameSync(tmp, this.dir(chainId));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      // Another process made it first: theirs is as good as ours.
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async #make(
    chainId: Digest,
    diffId: Digest,
    parents: readonly string[],
    open: () => Promise<Readable>,
    index: number,
    signal: AbortSignal | undefined,
    observer: LayerObserver | undefined,
  ): Promise<string[] | undefined> {
    const tmp = this.#tempDir(encodedOf(chainId).slice(0, 12));
    const fs = join(tmp, "fs");
    let mounted: string | undefined;
    // A layer applied straight into the dir has no opaque directory (nothing below it to hide).
    let opaque: string[] | undefined = [];
    try {
      await mkdir(tmp, { recursive: true });
      // The layer engine is loaded only when a layer has to be applied (a cached image needs none).
      const { applyLayer, selfContained } = await import("../layer/index.ts");
      const apply = async (target: string, accept?: ReturnType<typeof selfContained>) => {
        const stream = await open();
        const stats = await applyLayer(stream, target, {
          rootless: this.rootless,
          signal,
          accept,
          onEntry: observer?.begin(),
        });
        if (stats.stopped !== undefined) return false;
        // The DiffID is checked at the end of the stream: read whatever the tar reader left.
        for await (const _ of stream) {
          // drain
        }
        observer?.applied();
        return true;
      };
      if (this.mode === "full") {
        if (parents.length > 0) await pexec("cp", ["-a", "--reflink=auto", parents[parents.length - 1]!, fs]);
        await apply(fs);
      } else if (!(await apply(fs, parents.length > 0 ? selfContained() : undefined))) {
        // The layer needs what is below it (`selfContained`): applied again, through an overlay of its parents.
        await rm(fs, { recursive: true, force: true });
        const work = join(tmp, "work");
        const target = join(tmp, "merged");
        await Promise.all([mkdir(fs), mkdir(work), mkdir(target)]);
        await mountOverlay({
          lowerDirs: [...parents].reverse(),
          upperDir: fs,
          workDir: work,
          target,
          base: this.root,
          volatile: true,
        });
        mounted = target;
        await apply(target);
        await unmount(mounted);
        mounted = undefined;
        await rm(work, { recursive: true, force: true });
        await rm(target, { recursive: true, force: true });
        opaque = await stripOverlayOrigins(fs);
      }
      await this.#place(tmp, chainId, {
        chainId,
        diffId,
        index,
        parent: parents.length ? parents[parents.length - 1]! : null,
        ...(this.mode === "overlay" ? { opaque: opaque ?? null } : {}),
      });
      return opaque;
    } catch (err) {
      if (mounted) await unmount(mounted);
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw wrapError(`applying layer ${index} (${diffId})`, err);
    }
  }
}

/** What a snapshot's `meta.json` records (its mode and boot added when it is placed). */
interface SnapshotRecord {
  chainId: Digest;
  diffId: Digest;
  index: number;
  parent: string | null;
  opaque?: string[] | null;
}

/** What berth reads back from a snapshot's `meta.json`. */
interface SnapshotMeta {
  boot?: unknown;
  opaque?: unknown[] | null;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A snapshot's `meta.json`; empty when it is missing or not JSON (made before snapshots had one). */
function readMeta(path: string): SnapshotMeta {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as SnapshotMeta;
  } catch {
    return {};
  }
}
