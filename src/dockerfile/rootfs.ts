/**
 * Paths inside a root directory (the build context, or a stage's filesystem applied on disk), resolved the
 * way the build would see them: symlinks followed with absolute targets taken from the root and `..` never
 * climbing above it. A `StageRoot` is a stage's filesystem, applied layer by layer as the stage grows, made
 * only when an instruction needs to look at it (COPY/ADD destinations, WORKDIR, --chown names, --from).
 */
import { lstat, mkdir, readFile, readlink, realpath, rm } from "node:fs/promises";
import { BerthError } from "../errors.ts";
import { applyLayer } from "../layer/index.ts";
import type { Image } from "../oci/image.ts";

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

/**
 * Resolve `path` inside `root`, following symlinks in every component (and in the last one when
 * `followLast`). Returns the resolved path relative to the root ("" for the root), whether or not it exists.
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<string> {
  const todo = components(path);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    const host = `${root}/${[...done, c].join("/")}`;
    let st: Awaited<ReturnType<typeof lstat>> | undefined;
    try {
      st = await lstat(host);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink() && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw new BerthError("IO", `too many levels of symbolic links in ${path}`);
      const target = await readlink(host);
      const next = target.startsWith("/") ? components(target) : components([...done, target].join("/"));
      if (!target.startsWith("/")) done.length = 0;
      else done.length = 0;
      todo.unshift(...next);
      continue;
    }
    done.push(c);
  }
  return done.join("/");
}

export async function lstatOrUndefined(host: string) {
  try {
    return await lstat(host);
  } catch {
    return undefined;
  }
}

/** A stage's filesystem on disk, kept in step with the stage's image. */
export class StageRoot {
  readonly dir: string;
  #applied = 0;
  #real: string | undefined;
  #syncing: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Apply the layers of `image` this root does not have yet (the image must extend what was applied). Calls
   * run one after another: stages built at once may read the same stage's or image's filesystem.
   */
  sync(image: Image | undefined): Promise<string> {
    const next = this.#syncing.then(() => this.#sync(image));
    this.#syncing = next.catch(() => undefined);
    return next;
  }

  async #sync(image: Image | undefined): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    this.#real ??= await realpath(this.dir);
    const layers = image?.layers() ?? [];
    for (; this.#applied < layers.length; this.#applied++) {
      const stream = await layers[this.#applied]!.uncompressed();
      await applyLayer(stream, this.#real);
      for await (const _ of stream) {
        // drain: the DiffID is verified at the end
      }
    }
    return this.#real;
  }

  /** The host path of an image path, symlinks resolved inside the root. */
  async host(path: string, followLast = true): Promise<string> {
    const real = this.#real ?? (await realpath(this.dir));
    const rel = await resolveInRoot(real, path, followLast);
    return rel === "" ? real : `${real}/${rel}`;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Numeric ids for `--chown user:group`, names looked up in the root's /etc/passwd and /etc/group. */
export async function resolveOwner(
  root: string | undefined,
  spec: string,
): Promise<{ uid: number; gid: number }> {
  const [user = "", group] = spec.split(":");
  const read = async (file: string) => {
    if (!root) return [];
    try {
      return (await readFile(`${root}/etc/${file}`, "utf8"))
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(":"));
    } catch {
      return [];
    }
  };
  let uid: number;
  let primaryGid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    if (group === undefined) primaryGid = uid;
  } else {
    const row = (await read("passwd")).find((r) => r[0] === user);
    if (!row)
      throw new BerthError(
        "USER_NOT_FOUND",
        `user ${JSON.stringify(user)} is not in the image's /etc/passwd`,
      );
    uid = Number(row[2]);
    primaryGid = Number(row[3]);
  }
  let gid: number;
  if (group === undefined || group === "") gid = primaryGid ?? uid;
  else if (/^\d+$/.test(group)) gid = Number(group);
  else {
    const row = (await read("group")).find((r) => r[0] === group);
    if (!row)
      throw new BerthError(
        "USER_NOT_FOUND",
        `group ${JSON.stringify(group)} is not in the image's /etc/group`,
      );
    gid = Number(row[2]);
  }
  return { uid, gid };
}
