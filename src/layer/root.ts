/**
 * Confinement: resolve layer paths inside a root directory the way openat2(RESOLVE_IN_ROOT) or securejoin
 * does: every intermediate component is looked up inside the root, symlinks among them are followed with
 * absolute targets taken relative to the root, and the final component is never followed. A path that climbs
 * out (`..` above the root, from the entry or from a symlink), or goes through a symlink whose target does
 * not exist inside the root, is refused with LAYER_UNSAFE naming the entry.
 */
import { lstatSync, mkdirSync, readlinkSync } from "node:fs";
import { BerthError } from "../errors.ts";

const MAX_LINKS = 40;

function unsafe(entry: string, message: string): BerthError {
  return new BerthError("LAYER_UNSAFE", `layer entry ${JSON.stringify(entry)} ${message}`, {
    details: { entry },
  });
}

/**
 * Split an entry name into clean components. A leading `/` is dropped (`/etc/x` means `<root>/etc/x`);
 * `.` and empty components are dropped; `..` is resolved lexically and refused if it climbs above the root.
 */
export function entryComponents(
  name: string,
  entry: string = name,
  what = "climbs out of the root",
): string[] {
  const out: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (out.length === 0) throw unsafe(entry, what);
      out.pop();
      continue;
    }
    if (c.includes("\0")) throw unsafe(entry, "has a NUL byte in its name");
    out.push(c);
  }
  return out;
}

export class RootResolver {
  readonly root: string;
  /** Image directory paths (resolved, no symlinks) known to be real directories. */
  readonly #dirs = new Set<string>();
  /** Entry parent path as written → resolved image path. */
  readonly #resolved = new Map<string, string>();

  /** `root` must be an absolute, symlink-free path (realpath it first). */
  constructor(root: string) {
    this.root = root.replace(/\/+$/, "") || "/";
  }

  host(imagePath: string): string {
    return imagePath === "" ? this.root : `${this.root}/${imagePath}`;
  }

  /** Forget cached lookups; call after removing or replacing a directory or creating a symlink. */
  invalidate(): void {
    this.#dirs.clear();
    this.#resolved.clear();
  }

  noteDir(imagePath: string): void {
    this.#dirs.add(imagePath);
  }

  /**
   * Resolve directory components inside the root, creating missing directories (mode 0755) when `create` is
   * set and no symlink was followed on the way. Returns the resolved image path ("" for the root), or
   * undefined when it does not exist and `create` is off.
   */
  async resolveDir(
    components: readonly string[],
    entry: string,
    create: boolean,
  ): Promise<string | undefined> {
    const key = components.join("/");
    const hit = this.#resolved.get(key);
    if (hit !== undefined) return hit;
    const cur: string[] = [];
    const queue = [...components];
    let links = 0;
    let via: { link: string; target: string } | undefined;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === "..") {
        if (cur.length === 0) {
          throw unsafe(
            entry,
            `goes through symlink ${JSON.stringify(via?.link)} (-> ${JSON.stringify(via?.target)}), which points out of the root`,
          );
        }
        cur.pop();
        continue;
      }
      const next = cur.length === 0 ? c : `${cur.join("/")}/${c}`;
      if (this.#dirs.has(next)) {
        cur.push(c);
        continue;
      }
      const host = this.host(next);
      // synchronous, as the apply's other calls (apply.ts): a trip through libuv's pool per component waits
      // for a main thread that is busy elsewhere (the key pass, while a base's snapshot is made)
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (!st) {
        if (via) {
          throw unsafe(
            entry,
            `goes through symlink ${JSON.stringify(via.link)} (-> ${JSON.stringify(via.target)}), whose target does not exist in the root`,
          );
        }
        if (!create) return undefined;
        mkdirSync(host, { mode: 0o755 });
        this.#dirs.add(next);
        cur.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw unsafe(entry, "goes through too many symlinks");
        const target = readlinkSync(host);
        via = { link: next, target };
        if (target.startsWith("/")) cur.length = 0;
        queue.unshift(...target.split("/").filter((s) => s !== "" && s !== "."));
        continue;
      }
      if (!st.isDirectory()) {
        throw new BerthError(
          "LAYER_INVALID",
          `layer entry ${JSON.stringify(entry)} is inside ${JSON.stringify(next)}, which is not a directory`,
          { details: { entry } },
        );
      }
      this.#dirs.add(next);
      cur.push(c);
    }
    const out = cur.join("/");
    this.#resolved.set(key, out);
    return out;
  }
}
