/**
 * Confined reads of a tree berth does not own (a buildpack's layers directory, an app directory, a build
 * context, a build image's layer): berth runs as root, so every path is resolved by berth itself, one component
 * at a time through directory file descriptors (`/proc/self/fd/<fd>/<name>`, Node's stand-in for `openat`),
 * and nothing leads out of the tree:
 *
 * - a symlink is followed only when its target stays inside the tree: a relative target whose `..`s never climb
 *   above the root, or an absolute target under the path the tree's writer knew it by (`seenAs`, e.g.
 *   `/layers/<buildpack>` inside the build sandbox), taken from the root. Any other symlink is an `UNSAFE_PATH`
 *   error naming the tree's owner and the path, never a read of a host file.
 * - every directory is opened with O_NOFOLLOW|O_DIRECTORY and the final file with O_NOFOLLOW|O_NONBLOCK, then
 *   fstat-ed: a component swapped for a symlink between the check and the open fails instead of being
 *   followed, and a FIFO, socket or device is refused without berth ever blocking on it.
 * - files are read up to a size cap (`maxBytes`), with a clear error past it.
 *
 * This is what the reference lifecycle gets for free by running as the CNB user (it follows only what that
 * user could); berth, running as root, follows only what stays in the tree.
 */
import { constants, type Dirent, readFileSync, realpathSync, type Stats } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, readlink } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../errors.ts";

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;
const MAX_LINKS = 40;

/** Default cap for a file read whole (TOML documents, Dockerfiles, ignore files). */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

export interface TreeOptions {
  /** Who wrote the tree, starting the error sentence: `buildpack "examples/hello@1.0"`, `the build context`. */
  owner: string;
  /** The tree, as the sentence names it: "its layers directory", "the app directory". Default "the tree". */
  name?: string;
  /**
   * The absolute path the tree's writer knew it by (a container path for a sandboxed buildpack), used both to
   * name paths in errors and to follow absolute symlink targets inside the tree. Default: the root itself.
   */
  seenAs?: string;
  /** Added to every error as its hint. */
  hint?: string;
}

export type EntryKind = "file" | "dir" | "other";

const at = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

function kindOf(st: Stats): EntryKind {
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
}

function describe(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isDirectory()) return "a directory";
  return "not a regular file";
}

/** An entry's lstat, or undefined when it (or a folder on its way) does not exist. */
async function lstatIfThere(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if (errno(err) !== "ENOENT" && errno(err) !== "ENOTDIR") throw err;
    return undefined;
  }
}

interface Walked {
  /** The final entry's lstat, after following symlinks inside the tree. */
  st: Stats;
  /** The final entry opened (directory or file), when asked for. */
  fh?: FileHandle;
}

/** A directory tree read without leaving it. */
export class ConfinedTree {
  readonly root: string;
  readonly o: TreeOptions;
  readonly #seenAs: string;

  /** `root`: the tree's host path; it must be a directory and not itself a symlink. */
  constructor(root: string, o: TreeOptions) {
    this.root = root.replace(/\/+$/, "") || "/";
    this.o = o;
    this.#seenAs = (o.seenAs ?? this.root).replace(/\/+$/, "") || "/";
  }

  /** The path as the tree's writer knows it (for messages). */
  shown(rel: string): string {
    const r = rel.replace(/^\/+/, "");
    if (r === "") return this.#seenAs;
    return this.#seenAs === "/" ? `/${r}` : `${this.#seenAs}/${r}`;
  }

  unsafe(rel: string, what: string): BerthError {
    const path = this.shown(rel);
    return new BerthError("UNSAFE_PATH", `${this.o.owner}: ${path} ${what}`, {
      details: { owner: this.o.owner, path },
      hint: this.o.hint || undefined,
    });
  }

  /**
   * Walk `rel` from the root. Returns undefined when a component does not exist (or an intermediate one is
   * not a directory). `open`: open the final entry (a directory, or a regular file with O_NONBLOCK).
   */
  async #walk(rel: string, open_: boolean): Promise<Walked | undefined> {
    const root = await this.#openRoot();
    if (!root) return undefined;
    const dirs: FileHandle[] = [root];
    const names: string[] = [];
    const shownRel = (c: string) => [...names, c].join("/");
    try {
      const queue = this.#components(rel);
      let links = 0;
      // The last symlink followed, and how many components were left after it: while the queue is at least
      // that long, a missing component is part of its target (a dangling link, refused like the layer engine's).
      let via: { link: string; target: string; rest: number } | undefined;
      while (queue.length > 0) {
        const c = queue.shift()!;
        if (c === "..") {
          if (dirs.length === 1) throw this.#climbsOut(rel, via);
          await dirs.pop()!.close();
          names.pop();
          continue;
        }
        const p = at(dirs[dirs.length - 1]!.fd, c);
        const st = await lstatIfThere(p);
        if (!st) {
          if (via && queue.length >= via.rest) {
            throw this.unsafe(
              via.link,
              `is a symlink to ${JSON.stringify(via.target)}, which does not exist in ${this.#name}`,
            );
          }
          return undefined;
        }
        if (st.isSymbolicLink()) {
          const link = shownRel(c);
          if (++links > MAX_LINKS) throw this.unsafe(link, "goes through too many symlinks");
          const target = await readlink(p);
          via = { link, target, rest: queue.length };
          const next = this.#linkTarget(link, target);
          if (next.fromRoot) {
            while (dirs.length > 1) await dirs.pop()!.close();
            names.length = 0;
          }
          queue.unshift(...next.components);
          continue;
        }
        if (!st.isDirectory()) {
          if (queue.length > 0) return undefined;
          if (!open_ || !st.isFile()) return { st };
          return await this.#openFound(p, st, shownRel(c)); // before the folders close
        }
        dirs.push(await this.#openDir(p, shownRel(c)));
        names.push(c);
      }
      const top = dirs[dirs.length - 1]!;
      const st = await top.stat();
      if (!open_) return { st };
      dirs.pop();
      return { st, fh: top };
    } finally {
      for (const d of dirs) await d.close();
    }
  }

  /** The root opened, or undefined when it does not exist; a root that is a symlink or a file is refused. */
  async #openRoot(): Promise<FileHandle | undefined> {
    try {
      return await open(this.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if (errno(err) === "ENOENT") return undefined;
      if (errno(err) === "ELOOP" || errno(err) === "ENOTDIR") {
        throw this.unsafe("", `is not a directory (${errno(err) === "ELOOP" ? "a symlink" : "a file"})`);
      }
      throw err;
    }
  }

  /** The components of `rel` to walk (empty and `.` ones dropped); a NUL byte is refused. */
  #components(rel: string): string[] {
    const queue: string[] = [];
    for (const c of rel.split("/")) {
      if (c === "" || c === ".") continue;
      if (c.includes("\0")) throw this.unsafe(rel, "has a NUL byte in its name");
      queue.push(c);
    }
    return queue;
  }

  /** The error for a `..` at the root: of the last symlink followed, or of the path itself. */
  #climbsOut(rel: string, via: { link: string; target: string } | undefined): BerthError {
    return via
      ? this.unsafe(
          via.link,
          `is a symlink to ${JSON.stringify(via.target)}, which leads out of ${this.#name}`,
        )
      : this.unsafe(rel, `climbs out of ${this.#name}`);
  }

  /**
   * Where the symlink `link` leads: components to walk from its folder, or from the root for an absolute
   * target under `seenAs`; any other absolute target is refused.
   */
  #linkTarget(link: string, target: string): { fromRoot: boolean; components: string[] } {
    const parts = (t: string) => t.split("/").filter((s) => s !== "" && s !== ".");
    if (!target.startsWith("/")) return { fromRoot: false, components: parts(target) };
    const inside =
      target === this.#seenAs
        ? ""
        : this.#seenAs === "/"
          ? target
          : target.startsWith(`${this.#seenAs}/`)
            ? target.slice(this.#seenAs.length + 1)
            : undefined;
    if (inside === undefined) {
      throw this.unsafe(
        link,
        `is a symlink to ${JSON.stringify(target)}, outside ${this.#name}; berth does not follow it`,
      );
    }
    return { fromRoot: true, components: parts(inside) };
  }

  /** Open the regular file `st` found at `p`, refusing it when it changed in between. */
  async #openFound(p: string, st: Stats, shown: string): Promise<Walked> {
    let fh: FileHandle;
    try {
      fh = await open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (errno(err) === "ELOOP") throw this.unsafe(shown, "changed into a symlink while berth read it");
      throw err;
    }
    const fst = await fh.stat();
    if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) {
      await fh.close();
      throw this.unsafe(shown, "changed while berth read it");
    }
    return { st: fst, fh };
  }

  /** Open the directory found at `p`, refusing it when it changed into something else in between. */
  async #openDir(p: string, shown: string): Promise<FileHandle> {
    try {
      return await open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (errno(err) === "ELOOP" || errno(err) === "ENOTDIR") {
        throw this.unsafe(shown, "changed while berth read it");
      }
      throw err;
    }
  }

  get #name(): string {
    return this.o.name ?? "the tree";
  }

  /** What `rel` is after following symlinks inside the tree; undefined when it does not exist. */
  async kind(rel: string): Promise<EntryKind | undefined> {
    const w = await this.#walk(rel, false);
    return w ? kindOf(w.st) : undefined;
  }

  /**
   * The contents of the regular file `rel`, or undefined when it does not exist. A symlink out of the tree,
   * a FIFO, socket, device or directory, or a file over `maxBytes` is an UNSAFE_PATH error.
   */
  async readFile(rel: string, maxBytes = MAX_DOCUMENT_BYTES): Promise<Buffer | undefined> {
    const fh = await this.#openFile(rel);
    if (!fh) return undefined;
    try {
      const tooBig = () =>
        this.unsafe(rel, `is larger than the ${maxBytes} bytes berth reads from such a file`);
      const st = await fh.stat();
      if (st.size > maxBytes) throw tooBig();
      const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
      let n = 0;
      for (;;) {
        if (n === buf.length) throw tooBig();
        const r = await fh.read(buf, n, buf.length - n, n);
        if (r.bytesRead === 0) break;
        n += r.bytesRead;
      }
      return buf.subarray(0, n);
    } finally {
      await fh.close();
    }
  }

  /** `readFile` as UTF-8 text. */
  async readText(rel: string, maxBytes = MAX_DOCUMENT_BYTES): Promise<string | undefined> {
    return (await this.readFile(rel, maxBytes))?.toString("utf8");
  }

  /** The entries of directory `rel` (types as lstat sees them), or undefined when it does not exist. */
  async readdir(rel = ""): Promise<Dirent[] | undefined> {
    const w = await this.#walk(rel, true);
    if (!w) return undefined;
    try {
      if (!w.st.isDirectory()) return undefined;
      return await readdir(`/proc/self/fd/${w.fh!.fd}`, { withFileTypes: true });
    } finally {
      await w.fh?.close();
    }
  }

  /**
   * Copy the regular file `rel` to `destRel` in `dest` (see `writeFile`) through the opened file; false when
   * `rel` does not exist.
   */
  async copyOut(rel: string, dest: ConfinedTree, destRel: string): Promise<boolean> {
    const fh = await this.#openFile(rel);
    if (!fh) return false;
    try {
      const out = await dest.#create(destRel, 0o644);
      await pipeline(fh.createReadStream({ start: 0, autoClose: false }), out.createWriteStream());
    } finally {
      await fh.close();
    }
    return true;
  }

  /**
   * Make the directories of `rel` (mode 0755) for berth to write into, refusing any component that is a
   * symlink or not a directory (another user may write in the tree). `own`: give each new directory, and the
   * last, to that user; `mode`: the last one's mode (not masked by the umask). The directory's host path.
   */
  async mkdirs(rel: string, own?: { uid: number; gid: number }, mode?: number): Promise<string> {
    const fh = await this.#dirs(rel, own);
    try {
      if (mode !== undefined) await fh.chmod(mode);
    } finally {
      await fh.close();
    }
    return this.#host(rel);
  }

  /**
   * Write `rel` (directories made as `mkdirs`), never through a symlink: the file is opened with O_NOFOLLOW.
   * `mode` is set as given (not masked by the umask). The file's host path.
   */
  async writeFile(rel: string, data: string | Uint8Array, mode = 0o644): Promise<string> {
    const fh = await this.#create(rel, mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
    return this.#host(rel);
  }

  #host(rel: string): string {
    const r = rel.replace(/^\/+|\/+$/g, "");
    return r === "" ? this.root : `${this.root}/${r}`;
  }

  async #create(rel: string, mode: number): Promise<FileHandle> {
    const parts = rel.split("/").filter((c) => c !== "" && c !== ".");
    const name = parts.pop();
    if (!name) throw this.unsafe(rel, "is not a file name");
    const dir = await this.#dirs(parts.join("/"));
    try {
      const fh = await open(at(dir.fd, name), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK, mode);
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        throw this.unsafe(rel, `is ${describe(st)}, where a regular file was expected`);
      }
      return fh;
    } catch (err) {
      if (errno(err) === "ELOOP") throw this.unsafe(rel, "is a symlink; berth does not write through it");
      throw err;
    } finally {
      await dir.close();
    }
  }

  async #dirs(rel: string, own?: { uid: number; gid: number }): Promise<FileHandle> {
    const names: string[] = [];
    let fh: FileHandle;
    try {
      fh = await open(this.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if (errno(err) === "ELOOP" || errno(err) === "ENOTDIR") {
        throw this.unsafe("", "is a symlink, not a directory; berth does not follow it");
      }
      throw err;
    }
    const parts = rel.split("/").filter((c) => c !== "" && c !== ".");
    try {
      for (const c of parts) {
        if (c === ".." || c.includes("\0")) throw this.unsafe(rel, "is not a clean relative path");
        names.push(c);
        const p = at(fh.fd, c);
        let made = false;
        try {
          await mkdir(p, { mode: 0o755 });
          made = true;
        } catch (err) {
          if (errno(err) !== "EEXIST") throw err;
        }
        let next: FileHandle;
        try {
          next = await open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
        } catch (err) {
          if (errno(err) === "ELOOP" || errno(err) === "ENOTDIR") {
            const st = await lstat(p).catch(() => undefined);
            throw this.unsafe(
              names.join("/"),
              st?.isSymbolicLink()
                ? "is a symlink, not a directory; berth does not follow it"
                : `is ${st ? describe(st) : "gone"}, not a directory`,
            );
          }
          throw err;
        }
        await fh.close();
        fh = next;
        if (made && own) await fh.chown(own.uid, own.gid);
      }
      if (own) await fh.chown(own.uid, own.gid);
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async #openFile(rel: string): Promise<FileHandle | undefined> {
    const w = await this.#walk(rel, true);
    if (!w) return undefined;
    if (!w.fh || !w.st.isFile()) {
      await w.fh?.close();
      throw this.unsafe(rel, `is ${describe(w.st)}, where a regular file was expected`);
    }
    return w.fh;
  }
}

/**
 * Read `file` of a tree berth does not own (an app directory, a build context) when it lies inside `dir`:
 * confined to `dir` (symlinks followed only inside it). A file outside `dir` is one the user named
 * themselves and is read as it is, unless `mustBeInside` (a path a project file named), which makes it an
 * UNSAFE_PATH error. Undefined when the file does not exist. `dir` may itself be a symlink (the user chose it).
 */
export async function readFileWithin(
  file: string,
  dir: string,
  o: TreeOptions & { mustBeInside?: boolean; maxBytes?: number },
): Promise<Buffer | undefined> {
  const base = resolve(dir);
  const path = resolve(base, file);
  const rel = relative(base, path);
  const inside = rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel);
  if (!inside) {
    if (o.mustBeInside) {
      throw new ConfinedTree(base, { ...o, seenAs: base }).unsafe(
        "",
        `does not hold ${JSON.stringify(file)}; berth reads only files inside it`,
      );
    }
    // synchronous: what is read whole here (a Dockerfile, a project.toml) is parsed at once, as long
    try {
      return readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }
  // synchronous: one realpath(3), without a hop through libuv's pool and back
  let root: string | undefined;
  try {
    root = realpathSync.native(base);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (root === undefined) return undefined;
  return new ConfinedTree(root, { ...o, seenAs: o.seenAs ?? base }).readFile(rel, o.maxBytes);
}
