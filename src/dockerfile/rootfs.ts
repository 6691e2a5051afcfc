/**
 * Paths inside a stage's filesystem, resolved the way the build would see them: symlinks followed with
 * absolute targets taken from the root and `..` never climbing above it, over an `FsView` (the build context or
 * a root on disk, or a stage's layer entries: `StageIndex`). A `StageRoot` is a stage's filesystem on disk, a
 * read-only overlay of its snapshots made only when another step reads its files (`--from`); COPY and WORKDIR
 * ask the index.
 */
import { lstat, mkdir, readFile, readlink, realpath, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { BerthError } from "../errors.ts";
import type { EntryType } from "../layer/entry.ts";
import { typeOf } from "../layer/walk.ts";
import type { Image } from "../oci/image.ts";
import type {
  ReadOnlyRoot,
  SnapshotChain,
  SnapshotOptions,
  Snapshots,
  StreamedSnapshot,
  UnionLayer,
} from "../runtime/index.ts";
import { removeTree } from "../util/fs.ts";
import type { LayerEntries } from "./stage-index.ts";

const MAX_LINKS = 40;

/** Clean components of a path (`..` resolved lexically, never above the root). */
export function components(path: string): string[] {
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

/** What a path question needs to know of an entry (`lstat`, with a symlink's target). */
export interface PathInfo {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string | undefined;
}

/**
 * A stage's filesystem as COPY and WORKDIR ask about it: a directory on disk (`diskView`) or the layers'
 * entry lists (`StageIndex`). Paths are relative to the root ("" for the root), not resolved.
 */
export interface FsView {
  lstat(rel: string): Promise<PathInfo | undefined>;
  /** A file's content as text; undefined when it is not a file. */
  readFile(rel: string): Promise<string | undefined>;
}

/** A directory on disk as an `FsView`. */
function diskView(root: string): FsView {
  const host = (rel: string) => (rel === "" ? root : `${root}/${rel}`);
  return {
    async lstat(rel) {
      const st = await lstatOrUndefined(host(rel));
      if (!st) return undefined;
      // a socket is neither a directory nor a link, all a path question asks of it
      const type: EntryType = typeOf(st) ?? "block";
      const linkname = type === "symlink" ? await readlink(host(rel)) : undefined;
      return { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, linkname };
    },
    async readFile(rel) {
      return (await lstatOrUndefined(host(rel)))?.isFile() ? readFile(host(rel), "utf8") : undefined;
    },
  };
}

/**
 * Resolve `path` inside `view`, following symlinks in every component (and in the last one when
 * `followLast`). Returns the resolved path relative to the root ("" for the root), whether or not it exists.
 */
export async function resolveIn(view: FsView, path: string, followLast = true): Promise<string> {
  const todo = components(path);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    const st = await view.lstat([...done, c].join("/"));
    if (st?.type === "symlink" && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw new BerthError("IO", `too many levels of symbolic links in ${path}`);
      const target = st.linkname ?? "";
      const next = target.startsWith("/") ? components(target) : components([...done, target].join("/"));
      done.length = 0;
      todo.unshift(...next);
      continue;
    }
    done.push(c);
  }
  return done.join("/");
}

/** `resolveIn` a directory on disk. */
export function resolveInRoot(root: string, path: string, followLast = true): Promise<string> {
  return resolveIn(diskView(root), path, followLast);
}

export async function lstatOrUndefined(host: string) {
  try {
    return await lstat(host);
  } catch {
    return undefined;
  }
}

/**
 * A stage's (or an image's) filesystem on disk, for `--from` reads: a read-only root of its image's snapshots
 * (runtime `readOnlyRoot`: an overlay of them mounted at `dir`, lower dirs alone), made on first use and kept
 * until `remove`. The snapshots the stage's RUN steps made are reused: only the layers after its last RUN
 * are unpacked (into snapshots, which later builds reuse too). Full snapshots (no overlayfs), where each
 * snapshot is a whole tree: the top one read in place when every layer has one, else a copy of the last one
 * there with the other layers applied to it in `dir` (no snapshot made per layer).
 */
export class StageRoot {
  readonly dir: string;
  readonly home: string;
  readonly #snapshots: SnapshotOptions;
  #made: { digest: string; root: ReadOnlyRoot } | undefined;
  #layers: { digest: string; layers: UnionLayer[] | undefined } | undefined;
  #syncing: Promise<unknown> = Promise.resolve();

  /**
   * `dir`: where the overlay is mounted or the tree applied (in the build's temp folder, swept after a kill);
   * `home`: BERTH_HOME; `snapshots`: how its snapshots are opened (a mode forced).
   */
  constructor(dir: string, home: string, snapshots: SnapshotOptions = {}) {
    this.dir = dir;
    this.home = home;
    this.#snapshots = snapshots;
  }

  /**
   * The root of `image`'s filesystem (made, or made again when the image changed). Calls run one after
   * another: stages built at once may read the same stage's or image's filesystem.
   */
  sync(image: Image): Promise<string> {
    return this.#serial(() => this.#sync(image));
  }

  /**
   * The snapshots of `image`'s layers (made as `sync` makes them) as union layers, top first, for reads without
   * the mount (`stage-sources.ts`); undefined for full snapshots, or one whose opaque dirs are not known.
   */
  layers(image: Image): Promise<UnionLayer[] | undefined> {
    return this.#serial(async () => {
      if (this.#layers?.digest !== image.digest) {
        const { chainLayers, Snapshots } = await import("../runtime/index.ts");
        const snapshots = await Snapshots.open(this.home, this.#snapshots);
        const layers = snapshots.mode === "overlay" ? chainLayers(await snapshots.prepare(image)) : undefined;
        this.#layers = { digest: image.digest, layers };
      }
      return this.#layers.layers;
    });
  }

  /** Undo the mount and remove `dir` (after a sync under way); the root may be made again. */
  remove(): Promise<void> {
    return removeStageRoots([this]);
  }

  /** The root made, no longer this one's to release (after a sync under way): `removeStageRoots`. */
  detach(): Promise<ReadOnlyRoot | undefined> {
    return this.#serial(async () => {
      const made = this.#made;
      this.#made = undefined;
      return made?.root;
    });
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#syncing.then(f);
    this.#syncing = next.catch(() => undefined);
    return next;
  }

  async #sync(image: Image): Promise<string> {
    if (this.#made?.digest === image.digest) return this.#made.root.rootfs;
    await this.#release();
    // The runtime is loaded only when a step reads another stage.
    const { readOnlyRoot, Snapshots } = await import("../runtime/index.ts");
    const snapshots = await Snapshots.open(this.home, this.#snapshots);
    const cached = snapshots.mode === "full" ? await snapshots.cachedPrefix(image) : undefined;
    // mounted at the real path, as the mount table names it (the sweep finds it there)
    await mkdir(this.dir, { recursive: true });
    const target = await realpath(this.dir);
    const root =
      cached === undefined || cached.dirs.length === image.layers().length
        ? await readOnlyRoot(snapshots, cached ?? (await snapshots.prepare(image)), target)
        : await appliedRoot(snapshots, cached, image, target);
    this.#made = { digest: image.digest, root };
    return root.rootfs;
  }

  async #release(): Promise<void> {
    const made = this.#made;
    this.#made = undefined;
    await made?.root.release();
  }
}

/**
 * Undo the roots' mounts, all with one umount (the end of a build), release the others, and remove their dirs
 * (each after its sync under way).
 */
export async function removeStageRoots(roots: readonly StageRoot[]): Promise<void> {
  const made = await Promise.all(roots.map((r) => r.detach()));
  const mounted = made.flatMap((m) => (m?.mountPoint === undefined ? [] : [m.mountPoint]));
  if (mounted.length > 0) {
    const { unmountAll } = await import("../runtime/index.ts");
    await unmountAll(mounted);
  }
  await Promise.all(made.map((m) => (m && m.mountPoint === undefined ? m.release() : undefined)));
  await Promise.all(roots.map((r) => removeTree(r.dir)));
}

/**
 * `image`'s tree in `target`: a copy of the top of `cached` (the full snapshots of its first layers, if any),
 * with the layers after those applied to it; released by removing it.
 */
async function appliedRoot(
  snapshots: Snapshots,
  cached: SnapshotChain,
  image: Image,
  target: string,
): Promise<ReadOnlyRoot> {
  const release = () => rm(target, { recursive: true, force: true });
  try {
    // node:child_process and the layer reader: loaded by a build that unpacks a base, not by one whose steps are cached
    const [{ applyLayer }, { execFile }] = await Promise.all([
      import("../layer/apply.ts"),
      import("node:child_process"),
    ]);
    const from = cached.dirs.at(-1);
    if (from !== undefined) await promisify(execFile)("cp", ["-a", "--reflink=auto", `${from}/.`, target]);
    for (const layer of image.layers().slice(cached.dirs.length)) {
      const stream = await layer.uncompressed();
      await applyLayer(stream, target, { rootless: snapshots.rootless });
      for await (const _ of stream) {
        // drain: the DiffID is verified at the end
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { rootfs: target, release };
}

/** What `warmSnapshots` needs: where the snapshots are, the runtime the RUN steps use, the build's signal. */
export interface WarmOptions {
  home: string;
  runtime?: string | undefined;
  searchPath?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Called when the image's first layer is unpacked (the pause a RUN waiting for it would announce). */
  onUnpack?: ((layers: number) => void) | undefined;
  /**
   * Begin only once this settles (the key pass's end, when a cache import may still leave the stages that asked
   * for the snapshots out: then `signal` is aborted by then, and nothing is made).
   */
  after?: Promise<unknown> | undefined;
  /**
   * Where the layers' entries are wanted (the build's `LayerEntries`): those of the layers applied are taken as
   * they are applied, and not read again for the stages' path questions. Not with `after`.
   */
  entries?: Pick<LayerEntries, "expect"> | undefined;
}

/**
 * Make `image`'s snapshots in the background, and find the runtime, for a RUN (or a `--from` read) that will
 * need them: a stage starts on them when its base is opened, not when its first RUN begins. The step that
 * needs them waits for the snapshot under way (`Snapshots.prepare`) instead of making it again. Never rejects:
 * a failure is dropped here, and the step that needs the snapshots makes them itself and reports it, with the
 * same sentence.
 */
export async function warmSnapshots(image: Image, o: WarmOptions): Promise<void> {
  // before the first await: a path question the key pass asks next waits for these
  const entries = o.after
    ? []
    : image.layers().map((l) => l.descriptor && o.entries?.expect(l.descriptor.digest));
  try {
    await o.after;
    if (o.signal?.aborted) return;
    const { findRuntime, prepareSnapshots } = await import("../runtime/index.ts");
    const runtime = findRuntime({ want: o.runtime || undefined, path: o.searchPath || undefined });
    runtime.catch(() => undefined);
    const onApply = (i: number, n: number) => (i === 0 ? o.onUnpack?.(n) : undefined);
    await prepareSnapshots({ home: o.home }, image, o.signal, onApply, (i) => entries[i]);
    await runtime;
  } catch {
    // the step that needs them says what is wrong
  } finally {
    for (const e of entries) e?.end();
  }
}

/**
 * A snapshot of the layer a step is writing, over `image`'s (`Snapshots.streamed`), for a RUN after it in the
 * stage: made as the layer is written instead of read back from the blob when the RUN begins. Undefined where
 * none can be made (full snapshots, or the snapshots cannot be opened: the RUN then says why).
 */
export async function streamedSnapshot(home: string, image: Image): Promise<StreamedSnapshot | undefined> {
  try {
    const { Snapshots } = await import("../runtime/index.ts");
    return await (await Snapshots.open(home)).streamed(image.imageConfig().rootfs.diff_ids);
  } catch {
    return undefined;
  }
}

/** The line that announces the pause of unpacking an image's first layers into snapshots. */
export const unpackingLine = (n: number) =>
  `Unpacking the image's ${n} layer${n === 1 ? "" : "s"} into snapshots (first use; later builds reuse them)`;

/**
 * Numeric ids for `--chown user:group`, names looked up in the root's /etc/passwd and /etc/group. A name that is
 * not there is no error, as in BuildKit's readUser: a user is 0:0, a group leaves the user's (`--chown=:` too).
 */
export async function resolveOwner(view: FsView, spec: string): Promise<{ uid: number; gid: number }> {
  const [user = "", group] = spec.split(":");
  const read = async (file: string) => {
    const path = await resolveIn(view, `/etc/${file}`);
    const text = await view.readFile(path);
    // BuildKit opens the link's target in the stage's root and fails when it is not there
    if (text === undefined && path !== `etc/${file}`)
      throw new BerthError(
        "USER_NOT_FOUND",
        `/etc/${file} is a symlink to /${path}, which is not a file in the stage (links are resolved inside the stage)`,
      );
    return (text ?? "")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"));
  };
  let uid: number;
  let primaryGid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    if (group === undefined) primaryGid = uid;
  } else {
    const row = (await read("passwd")).find((r) => r[0] === user);
    uid = row ? Number(row[2]) : 0;
    primaryGid = row ? Number(row[3]) : 0;
  }
  let gid: number;
  if (group === undefined || group === "") gid = primaryGid ?? uid;
  else if (/^\d+$/.test(group)) gid = Number(group);
  else {
    const row = (await read("group")).find((r) => r[0] === group);
    gid = row ? Number(row[2]) : (primaryGid ?? uid);
  }
  return { uid, gid };
}
