/**
 * The build context's content digests, kept between builds (issue 20, "Speed": the context is hashed once and
 * incrementally). `$BERTH_HOME/cache/dockerfile/context/<digest of the context's real path>.json` maps each
 * file's path in the context to the metadata it had when it was read (size, mtime, ctime, inode, device,
 * mode) and its content digest; a file whose metadata are unchanged is not read again, as git's index and
 * BuildKit's content hash cache do.
 *
 * ctime is what makes this safe: a program can put back a file's size and mtime after changing it
 * (`touch -r`, `cp -p`, an editor that restores the mtime), but any change of content or metadata sets ctime
 * to the time of the change, which nobody can set back. A change made within the timestamp granularity of
 * the moment the file was read would leave ctime as it was, so an entry is only trusted when the file's
 * ctime is more than `RACY_MS` older than that moment (git's "racily clean" rule); younger entries are read
 * again, and trusted from the build after.
 *
 * The paths come from the COPY/ADD walk (sources.ts), which never follows links out of the context; the
 * index only decides whether a regular file found there has to be read.
 */
import { hash } from "node:crypto";
import { readFileSync, realpathSync, type Stats } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { writeFileAtomic } from "../util/fs.ts";
import { fileDigest, isSmallFile, readSmallFile } from "./sources.ts";

/** How much older than the read a file's ctime must be for its entry to be trusted (coarse kernel clocks). */
const RACY_MS = 1000;

/**
 * The bytes of the small files this build read, kept for the COPY that writes them (BuildKit's rule: a context
 * file's content is read once), up to this many in all; past it files are read again.
 */
const KEPT_BYTES = 32 * 1024 * 1024;

/** Entries kept for files this build did not read (see `save`). */
const MAX_ENTRIES = 100_000;

/** A relative path that is not plain names joined by single separators: empty, `.` or `..` names, a trailing one. */
const NOT_PLAIN = /^$|(?:^|\/)\.\.?(?:\/|$)|\/\/|\/$/;

/** [size, mtimeMs, ctimeMs, ino, dev, mode, sha256 hex, read at (ms since epoch)] */
type Entry = [number, number, number, number, number, number, string, number];

interface IndexFile {
  version: 1;
  entries: Record<string, Entry>;
}

export interface ContextIndexStats {
  /** Files whose content was read (new, changed, or too recent to trust). */
  read: number;
  /** Files whose digest came from the index. */
  reused: number;
}

const sameMeta = (e: Entry, st: Stats) =>
  e[0] === st.size &&
  e[1] === st.mtimeMs &&
  e[2] === st.ctimeMs &&
  e[3] === st.ino &&
  e[4] === st.dev &&
  e[5] === st.mode;

export class ContextIndex {
  readonly #file: string | undefined;
  readonly #root: string;
  readonly #entries: Map<string, Entry>;
  /** Digests computed in this build: the context is read once per build whatever trusts the index. */
  readonly #seen = new Map<string, Entry>();
  #dirty = false;
  readonly stats: ContextIndexStats = { read: 0, reused: 0 };
  /** How a file is read (a test hook to count reads; none keeps bytes). */
  readonly #read: ((path: string, size: number) => string | Promise<string>) | undefined;
  /** Bytes of files read (`content`), by their name in the index. */
  readonly #kept = new Map<string, Buffer>();
  #keptBytes = 0;

  private constructor(
    file: string | undefined,
    root: string,
    entries: Map<string, Entry>,
    read: ((path: string, size: number) => string | Promise<string>) | undefined,
  ) {
    this.#file = file;
    this.#root = root;
    this.#entries = entries;
    this.#read = read;
  }

  /**
   * The index of `contextDir` under `cacheRoot` (`$BERTH_HOME/cache/dockerfile`); an index that cannot be
   * read starts empty. Without `cacheRoot` nothing is kept between builds.
   */
  static async open(
    cacheRoot: string | undefined,
    contextDir: string,
    read?: (path: string, size: number) => string | Promise<string>,
  ): Promise<ContextIndex> {
    // Paths are taken relative to the context as the build names it (sources.ts joins onto that); the index
    // file is named after its real path, so that two names of one folder share it.
    const root = resolve(contextDir);
    let real = root;
    // synchronous, as the index's parse is (each async call is a hop through libuv's pool and back); the
    // native one: one realpath(3), not an lstat per component
    try {
      real = realpathSync.native(contextDir);
    } catch {
      // a context that does not exist fails where it is read
    }
    const entries = new Map<string, Entry>();
    let file: string | undefined;
    if (cacheRoot !== undefined) {
      const key = hash("sha256", real, "hex");
      file = join(cacheRoot, "context", `${key}.json`);
      try {
        const parsed = JSON.parse(readFileSync(file, "utf8")) as IndexFile;
        if (parsed.version === 1 && parsed.entries && typeof parsed.entries === "object") {
          for (const [k, e] of Object.entries(parsed.entries)) {
            if (Array.isArray(e) && e.length === 8 && typeof e[6] === "string") entries.set(k, e);
          }
        }
      } catch {
        // none yet, or unreadable: start empty
      }
    }
    return new ContextIndex(file, root, entries, read);
  }

  /**
   * The sha256 (hex) of a regular file of the context, `st` being its lstat: at once when the index knows it or
   * the file is small (read synchronously), else a promise.
   */
  digest(hostPath: string, st: Stats): string | Promise<string> {
    const rel = this.#relative(hostPath);
    if (rel === "" || rel.startsWith(`..${sep}`) || rel === "..") {
      this.stats.read++;
      return (this.#read ?? fileDigest)(hostPath, st.size);
    }
    const seen = this.#seen.get(rel);
    if (seen && sameMeta(seen, st)) return seen[6];
    const known = this.#entries.get(rel);
    if (known && sameMeta(known, st) && known[2] < known[7] - RACY_MS) {
      this.stats.reused++;
      this.#seen.set(rel, known);
      return known[6];
    }
    const readAt = Date.now();
    if (!this.#read && isSmallFile(st.size) && this.#keptBytes + st.size <= KEPT_BYTES) {
      const { bytes, hex } = readSmallFile(hostPath, st.size);
      if (bytes.length === st.size) {
        this.#kept.set(rel, bytes);
        this.#keptBytes += bytes.length;
      }
      return this.#note(rel, st, hex, readAt);
    }
    const hex = (this.#read ?? fileDigest)(hostPath, st.size);
    return typeof hex === "string"
      ? this.#note(rel, st, hex, readAt)
      : hex.then((h) => this.#note(rel, st, h, readAt));
  }

  /**
   * The bytes of a file of the context as this build read them for its digest, if it did and `st` (its lstat)
   * is what they were read with: a COPY writes these, not the file read again.
   */
  content(hostPath: string, st: Stats): Buffer | undefined {
    const rel = this.#relative(hostPath);
    const seen = this.#seen.get(rel);
    return seen && sameMeta(seen, st) ? this.#kept.get(rel) : undefined;
  }

  /** Keep what a read found. */
  #note(rel: string, st: Stats, hex: string, readAt: number): string {
    this.stats.read++;
    const e: Entry = [st.size, st.mtimeMs, st.ctimeMs, st.ino, st.dev, st.mode, hex, readAt];
    this.#seen.set(rel, e);
    this.#entries.set(rel, e);
    this.#dirty = true;
    return hex;
  }

  /**
   * `hostPath` relative to the root, as `path.relative` has it: the paths sources.ts joins onto the root (plain
   * names after it) are cut, not resolved twice (`relative` resolves both: ~4–10 µs a file, 1–3 ms of a
   * 269-file context's COPYs); any other path goes through `relative`.
   */
  #relative(hostPath: string): string {
    const prefix = this.#root.endsWith(sep) ? this.#root : this.#root + sep;
    const rest = hostPath.slice(prefix.length);
    return hostPath.startsWith(prefix) && !NOT_PLAIN.test(rest) ? rest : relative(this.#root, hostPath);
  }

  /** Write the index back (atomically) when this build read anything. */
  async save(): Promise<void> {
    if (!this.#file || !this.#dirty) return;
    // Files other builds of this context read are kept (another Dockerfile may copy them), up to a bound, past
    // which only this build's stay: files that come and go must not grow the index for ever.
    const keep = this.#entries.size > MAX_ENTRIES ? this.#seen : this.#entries;
    const out: IndexFile = { version: 1, entries: Object.fromEntries(keep) };
    await mkdir(join(this.#file, ".."), { recursive: true });
    // Not flushed: an index cut short by a crash does not parse, and every file is read again.
    await writeFileAtomic(this.#file, JSON.stringify(out), 0o600, { sync: false });
    this.#dirty = false;
  }
}
