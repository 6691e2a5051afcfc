/**
 * COPY/ADD sources: patterns (with `*`, `?`, `[…]` per path component, as Go's filepath.Match) matched inside
 * a root (the build context with its `.dockerignore`, or another stage's or image's filesystem), and the
 * files below each match, walked in a stable order. Also the content digest of what a COPY reads, for the
 * build cache.
 */
import { createHash, hash } from "node:crypto";
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  type Stats,
} from "node:fs";
import { open, stat } from "node:fs/promises";
import { BerthError } from "../errors.ts";
import { createMatcher, type Matcher } from "../layer/ignore.ts";
import { compileGlob, type Glob } from "../util/glob.ts";
import { components, lstatOrUndefined, resolveInRoot } from "./rootfs.ts";

/** One file, directory or symlink to copy. */
export interface SourceFile {
  /** Where it is on the host. */
  hostPath: string;
  /** Its path below the matched source ("" for the matched source itself). */
  rel: string;
  st: Stats;
  linkname?: string;
}

/** One matched source: a file, or a directory whose contents are copied. */
export interface MatchedSource {
  /** The path in the root that matched (resolved). */
  path: string;
  isDir: boolean;
  files: SourceFile[];
  /** The name it was matched by (a symlink's own name, not its target's). */
  name?: string;
  /** The path that matched, before symlinks were resolved. */
  matched?: string;
}

const GLOB = /[*?[]/;

/**
 * A COPY source pattern's wildcard part (from its first component with a wildcard on, whole: a class may
 * take a `/`), as BuildKit's fsutil matches it (Go's filepath.Match: `!` in `[!…]` is no negation; a bad
 * pattern matches nothing there, an error here).
 */
function wildcardGlob(rest: string, pattern: string): Glob {
  return compileGlob(
    rest,
    (why) =>
      new BerthError(
        "DOCKERFILE_SYNTAX",
        `pattern ${JSON.stringify(pattern)} is not a valid wildcard: ${why}`,
        {
          hint: "COPY and ADD take Go's filepath.Match wildcards: *, ?, [a-z], [^a-z], and \\ before a character to match it literally",
        },
      ),
  );
}

/**
 * Paths (relative to root) matching a pattern, not excluded. As fsutil's ResolveWildcards: the components
 * before the first one with a wildcard name a directory (links followed inside the root); below it, every
 * entry (links not followed) whose path from there matches the rest of the pattern, a matching directory not
 * walked further. A walk goes no deeper than the rest's `/`s (and classes, which may take one) reach.
 */
async function expandPattern(root: string, pattern: string, matcher: Matcher | undefined): Promise<string[]> {
  const parts = components(pattern);
  const k = parts.findIndex((part) => GLOB.test(part));
  let found: string[];
  if (k < 0) found = [parts.join("/")];
  else {
    const rest = parts.slice(k).join("/");
    const glob = wildcardGlob(rest, pattern);
    const base = await resolveInRoot(root, parts.slice(0, k).join("/"), true);
    found = [];
    const depth = (rest.match(/[/[]/g) ?? []).length;
    const visit = (rel: string, slashes: number): void => {
      let names: string[];
      try {
        names = readdirSync(rel === "" ? `${root}/${base}` : `${root}/${base}/${rel}`).sort();
      } catch {
        return;
      }
      for (const name of names) {
        const r = rel === "" ? name : `${rel}/${name}`;
        const isDir = lstatSync(`${root}/${base}/${r}`, { throwIfNoEntry: false })?.isDirectory() ?? false;
        if (glob.test(r)) found.push(base === "" ? r : `${base}/${r}`);
        else if (isDir && slashes < depth) visit(r, slashes + 1);
      }
    };
    visit("", 0);
  }
  const out: string[] = [];
  for (const p of found) {
    const st = await lstatOrUndefined(p === "" ? root : `${root}/${p}`);
    if (!st) continue;
    if (matcher && p !== "" && matcher.excludes(p, st.isDirectory())) continue;
    out.push(p);
  }
  return out;
}

/**
 * The entries below `dirRel` (not following symlinks: a link is an entry, never a way out of the root),
 * sorted. Synchronous: a walk is many small lstat calls, each cheaper than a trip through libuv's pool (the
 * bench's context, 280 entries: 2.7 → 0.5 ms warm, a process's first walk 8.6 → 5.4 ms of CPU).
 */
function walk(
  root: string,
  dirRel: string,
  below: string,
  matcher: Matcher | undefined,
  out: SourceFile[],
): void {
  const host = dirRel === "" ? root : `${root}/${dirRel}`;
  const names = readdirSync(host).sort();
  for (const name of names) {
    const rel = dirRel === "" ? name : `${dirRel}/${name}`;
    const hostPath = `${root}/${rel}`;
    const st = lstatSync(hostPath, { throwIfNoEntry: false });
    if (!st || st.isSocket()) continue;
    const isDir = st.isDirectory();
    const excluded = matcher?.excludes(rel, isDir) ?? false;
    if (excluded && !(isDir && matcher?.hasNegations)) continue;
    const relBelow = below === "" ? name : `${below}/${name}`;
    const f: SourceFile = { hostPath, rel: relBelow, st };
    if (st.isSymbolicLink()) f.linkname = readlinkSync(hostPath);
    if (isDir) {
      const before = out.length;
      const idx = out.push(f) - 1;
      walk(root, rel, relBelow, matcher, out);
      if (excluded && out.length === before + 1) out.splice(idx, 1);
    } else if (!excluded) out.push(f);
  }
}

/**
 * Match COPY sources in `root`. A source that matches nothing is an error naming it (as docker's "not found
 * in build context" does). Symlinks in a source path are followed inside the root; symlinks below a matched
 * directory are copied as symlinks.
 */
export async function matchSources(
  root: string,
  patterns: readonly string[],
  matcher: Matcher | undefined,
  where: string,
): Promise<MatchedSource[]> {
  const out: MatchedSource[] = [];
  for (const pattern of patterns) {
    const matched = await expandPattern(root, pattern, matcher);
    // A wildcard that matches nothing copies nothing (BuildKit's AllowEmptyWildcard); a name must exist.
    if (matched.length === 0 && GLOB.test(pattern)) continue;
    if (matched.length === 0) {
      throw new BerthError(
        "DOCKERFILE_SOURCE_NOT_FOUND",
        `${JSON.stringify(pattern)} not found in ${where}${matcher ? " (or excluded by .dockerignore)" : ""}`,
        { details: { source: pattern } },
      );
    }
    for (const p of matched) {
      const resolved = await resolveInRoot(root, p, true);
      const hostPath = resolved === "" ? root : `${root}/${resolved}`;
      let st: Stats;
      try {
        st = await stat(hostPath);
      } catch {
        throw new BerthError(
          "DOCKERFILE_SOURCE_NOT_FOUND",
          `${JSON.stringify(pattern)} is a symlink whose target ${JSON.stringify(`/${resolved}`)} does not exist in ${where}`,
        );
      }
      if (st.isDirectory()) {
        const files: SourceFile[] = [];
        walk(root, resolved, "", matcher, files);
        out.push({ path: resolved, isDir: true, files: [{ hostPath, rel: "", st }, ...files], matched: p });
      } else {
        const name = p.slice(p.lastIndexOf("/") + 1);
        out.push({ path: resolved, isDir: false, files: [{ hostPath, rel: "", st }], name, matched: p });
      }
    }
  }
  return out;
}

/** Files up to this size are read in one call (a stream's machinery costs more than the read). */
const WHOLE_READ = 1024 * 1024;

/**
 * Files up to this size are read synchronously: an asynchronous read is four trips through libuv's pool (open,
 * fstat, read, close), which for small files cost more than the read itself. The bench project's 269 context
 * files (4–64 KiB): 19–25 ms read 8 at a time, 5–6 ms synchronously; in a cold build, where the pool is also
 * busy with other stages' work, the context's hashing took ~60 ms of the first step's wait.
 */
const SYNC_READ = 128 * 1024;

/**
 * A file is opened as the layer writer opens it: never through a symlink (a file swapped for a link since it
 * was listed would be read from wherever the link points, outside the context), never blocking on a FIFO.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The buffer small files are read into for their digest alone (one per process: read and hash are one run). */
let scratch: Buffer | undefined;

/**
 * A file of at most `SYNC_READ` bytes read whole, `size` being what lstat said: its bytes (in `into`, else in a
 * buffer of their own) and their sha256 (hex), with one read and one hash call (`readFileSync` and a Hash
 * object per file cost an fstat, an allocation and three calls into OpenSSL more). A file whose size is no
 * longer `size` is read whole as it is now.
 */
export function readSmallFile(path: string, size: number, into?: Buffer): { bytes: Buffer; hex: string } {
  const fd = openSync(path, OPEN_FLAGS);
  try {
    const buf = into ?? Buffer.allocUnsafe(size + 1);
    // one byte more than expected, to notice a file that grew
    let got = 0;
    for (let n = -1; n !== 0 && got <= size; got += n) n = readSync(fd, buf, got, size + 1 - got, got);
    const bytes = got === size ? buf.subarray(0, size) : readFileSync(fd);
    return { bytes, hex: hash("sha256", bytes, "hex") };
  } finally {
    closeSync(fd);
  }
}

/** Whether `readSmallFile` takes a file of this size. */
export const isSmallFile = (size: number) => size <= SYNC_READ;

/**
 * The sha256 (hex) of a file's content; `size` is what lstat said. A small file's comes at once (no promise to
 * wait for: the context's 269 files are that many trips through the microtask queue fewer).
 */
export function fileDigest(path: string, size = Number.POSITIVE_INFINITY): string | Promise<string> {
  if (size > SYNC_READ) return largeFileDigest(path, size);
  scratch ??= Buffer.allocUnsafe(SYNC_READ + 1);
  return readSmallFile(path, size, scratch).hex;
}

async function largeFileDigest(path: string, size: number): Promise<string> {
  const h = createHash("sha256");
  const file = await open(path, OPEN_FLAGS);
  try {
    if (size <= WHOLE_READ) return h.update(await file.readFile()).digest("hex");
    for await (const chunk of file.createReadStream({ autoClose: false })) h.update(chunk as Buffer);
    return h.digest("hex");
  } finally {
    await file.close();
  }
}

/** Contents digested at once by `sourcesDigest` (libuv's pool reads 4 at a time; hashing overlaps them). */
const DIGEST_JOBS = 8;

/**
 * A digest of what the sources hold: names, types, modes, sizes, link targets, contents and which files are
 * hard links of one another. `contentOf` gives a regular file's content digest (default: read it; the build
 * context's come from its index, context-index.ts).
 */
export async function sourcesDigest(
  sources: readonly MatchedSource[],
  contentOf: (hostPath: string, st: Stats) => string | Promise<string> = (p, st) => fileDigest(p, st.size),
  /** Owners too (another stage's files, whose owners COPY --from keeps). */
  owners = false,
): Promise<string> {
  // The contents first, several at once; then everything in order.
  const files = sources.flatMap((s) => s.files).filter((f) => f.st.isFile());
  const contents = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++]!;
      const got = contentOf(f.hostPath, f.st);
      contents.set(f.hostPath, typeof got === "string" ? got : await got);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DIGEST_JOBS, files.length) }, worker));
  const h = createHash("sha256");
  // the text hashed gathered into ~64 KB pieces: one update per file's four was ~600 calls into OpenSSL for
  // 200 files (the digest is of the bytes in order, however they are cut)
  let text = "";
  const add = (t: string) => {
    text += t;
    if (text.length >= 65536) {
      h.update(text);
      text = "";
    }
  };
  const inodes = new Map<string, number>();
  let n = 0;
  for (const s of sources) {
    add(`source ${s.path} ${s.isDir} ${s.name ?? ""} \n`);
    for (const f of s.files) {
      const type = f.st.isDirectory() ? "d" : f.st.isSymbolicLink() ? "l" : f.st.isFile() ? "f" : "o";
      let group = "";
      if (type === "f" && f.st.nlink > 1) {
        const k = `${f.st.dev}:${f.st.ino}`;
        if (!inodes.has(k)) inodes.set(k, n);
        group = String(inodes.get(k));
      }
      n++;
      add(
        `${f.rel}\0${type}\0${f.st.mode & 0o7777}\0${f.st.size}\0${f.linkname ?? ""}\0${group}\0` +
          (owners ? `${f.st.uid}:${f.st.gid}\0` : "") +
          (type === "f" ? contents.get(f.hostPath)! : "") +
          "\n",
      );
    }
  }
  return h.update(text).digest("hex");
}

export interface SelectOptions {
  /** `.dockerignore` of the build context. */
  matcher: Matcher | undefined;
  /** For messages: "the build context", "--from=build". */
  what: string;
  /** COPY --parents: each source keeps its path below the root, or below a `/./` pivot in the pattern. */
  parents: boolean;
  /** COPY --exclude patterns (dockerignore syntax), against paths relative to each matched source. */
  excludes: readonly string[];
}

/** The sources of one COPY/ADD: `matchSources` plus --parents and --exclude. */
export async function selectSources(
  root: string,
  patterns: readonly string[],
  o: SelectOptions,
): Promise<MatchedSource[]> {
  const ex = o.excludes.length ? createMatcher([...o.excludes]) : undefined;
  const excluded = (rel: string, isDir: boolean): boolean => {
    if (!ex) return false;
    for (let p = rel; p !== "" && p !== "."; p = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "") {
      if (ex.excludes(p, p === rel ? isDir : true)) return true;
    }
    return false;
  };
  if (o.parents) return selectParents(root, patterns, o, excluded);
  const out = await matchSources(root, patterns, o.matcher, o.what);
  if (!ex) return out;
  // As BuildKit's copier: a matched source itself is copied whatever the patterns say (they apply to the
  // paths below it).
  for (const src of out) {
    if (src.isDir) src.files = src.files.filter((f) => f.rel === "" || !excluded(f.rel, f.st.isDirectory()));
  }
  return out;
}

/**
 * COPY --parents as BuildKit's dockerfile2llb has it: a pattern is cut at its first `/./` into a source
 * directory (the root when there is no pivot; wildcards allowed) and an include pattern below it (dockerignore
 * syntax, so `**` spans directories, and a matching directory brings all it holds). What matches keeps its
 * path below the source, with the directories above it copied from the source (their mode, or --chmod; their
 * owner as the files'), as BuildKit's copier makes them; --exclude drops paths below the source. A pattern
 * without wildcards must exist.
 */
async function selectParents(
  root: string,
  patterns: readonly string[],
  o: SelectOptions,
  excluded: (rel: string, isDir: boolean) => boolean,
): Promise<MatchedSource[]> {
  const out: MatchedSource[] = [];
  for (const pattern of patterns) {
    const i = pattern.indexOf("/./");
    const dir = i < 0 ? "/" : pattern.slice(0, i) || "/";
    const include = components(i < 0 ? pattern : pattern.slice(i + 3)).join("/");
    if (!GLOB.test(dir) && !GLOB.test(include)) {
      // the path must exist (BuildKit's RequiredPaths): matchSources names it when it does not
      await matchSources(root, [include === "" ? dir : `${dir}/${include}`], o.matcher, o.what);
    }
    const inc = include === "" ? undefined : createMatcher([include]);
    for (const src of await matchSources(root, [dir], o.matcher, o.what)) {
      if (!src.isDir) continue;
      const kept = new Set<string>();
      for (const f of src.files) {
        if (f.rel === "") continue;
        const isDir = f.st.isDirectory();
        if ((inc && !inc.excludes(f.rel, isDir)) || excluded(f.rel, isDir)) continue;
        kept.add(f.rel);
        // the directories above it, as the source has them
        for (let d = f.rel; d.includes("/"); ) {
          d = d.slice(0, d.lastIndexOf("/"));
          kept.add(d);
        }
      }
      const files = src.files.filter((f) => f.rel === "" || kept.has(f.rel));
      out.push({ ...src, files });
    }
  }
  return out;
}

/**
 * The build context's sources as one build reads them: each set of patterns and flags matched once (its
 * `.dockerignore`, `matcher`, applied), each match digested once (a file's content digest from `contentOf`: the
 * context's index); the key pass and the steps share them.
 */
export class ContextSources {
  readonly #root: string;
  readonly #matcher: Matcher | undefined;
  readonly #contentOf: (hostPath: string, st: Stats) => string | Promise<string>;
  readonly #matched = new Map<string, Promise<MatchedSource[]>>();
  readonly #digests = new WeakMap<readonly MatchedSource[], Promise<string>>();

  constructor(
    root: string,
    matcher: Matcher | undefined,
    contentOf: (hostPath: string, st: Stats) => string | Promise<string>,
  ) {
    this.#root = root;
    this.#matcher = matcher;
    this.#contentOf = contentOf;
  }

  /** The sources `patterns` match (`StepContext.contextSources`). */
  select(
    patterns: readonly string[],
    o: { parents: boolean; excludes: readonly string[] },
  ): Promise<MatchedSource[]> {
    const id = JSON.stringify([patterns, o.parents, o.excludes]);
    let p = this.#matched.get(id);
    if (!p) {
      const what = "the build context";
      p = selectSources(this.#root, patterns, { ...o, matcher: this.#matcher, what });
      this.#matched.set(id, p);
    }
    return p;
  }

  /** The digest of sources `select` gave (`StepContext.contextDigest`). */
  digest(sources: readonly MatchedSource[]): Promise<string> {
    let p = this.#digests.get(sources);
    if (!p) {
      p = sourcesDigest(sources, this.#contentOf);
      this.#digests.set(sources, p);
    }
    return p;
  }
}
