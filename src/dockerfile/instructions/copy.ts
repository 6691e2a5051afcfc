/**
 * COPY and ADD: the layer that puts matched sources at the destination inside a stage's filesystem, with
 * docker's rules (a directory's contents are copied, a file goes into a destination that ends in `/` or is a
 * directory, missing parents are made 0755), existing parent directories kept as they are, `--chown` and
 * `--chmod`, local tar archives extracted by ADD and URLs downloaded by ADD.
 */

import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdir, open, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError, isBerthError } from "../../errors.ts";
import type { EntryHeader } from "../../layer/entry.ts";
import { type PlannedEntry, typeOf } from "../../layer/walk.ts";
import type { Digest } from "../../oci/digest.ts";
import type { Compression } from "../../oci/mediatype.ts";
import { type Chmod, parseChmod } from "../chmod.ts";
import { adoptEarly, makeEarly } from "../early.ts";
import { expandWord, splitRaw } from "../expand.ts";
import { type Heredoc, heredocName } from "../parse.ts";
import { type FsView, resolveIn, resolveOwner } from "../rootfs.ts";
import {
  type MatchedSource,
  matchSources,
  type SourceFile,
  selectSources,
  sourcesDigest,
} from "../sources.ts";
import type { StepContext, StepOutput } from "../step.ts";

export interface CopyLayerOptions {
  /** The stage's filesystem, as it was before the copy. */
  root: FsView;
  sources: MatchedSource[];
  /** Destination as written (expanded), before joining with the working directory. */
  dest: string;
  workdir: string;
  /** Owner for everything copied; default 0:0 for context files, the source's own for --from. */
  owner: { uid: number; gid: number } | undefined;
  keepOwner: boolean;
  chmod: Chmod | undefined;
  mtime: number;
  compression: Compression;
  /** Where the layer blob goes: a new name in the build's own temp folder (`StepContext.temp`). */
  layerPath: string;
  /** A source file's bytes when they were read already (the build context's, for the key). */
  content?: ((f: SourceFile) => Buffer | undefined) | undefined;
  /** Awaited before each entry is written (a layer made early writes only while the build's thread is idle). */
  pace?: (() => Promise<void>) | undefined;
  /** Also give the layer's tar to this stream as it is written (`LayerOutputOptions.tee`). */
  tee?: Writable | undefined;
}

interface Item {
  header: EntryHeader;
  hostPath?: string;
  content?: Buffer | undefined;
  /** `dev:ino` of a file with more than one link: the copy keeps the hard-link group. */
  inode?: string;
}

/** The filesystem a COPY --link layer is made against. */
const EMPTY: FsView = { lstat: async () => undefined, readFile: async () => undefined };

export async function buildCopyLayer(o: CopyLayerOptions) {
  let dest = await destinationOf(o);
  const items = new Map<string, Item>();
  for (const src of o.sources) {
    if (src.isDir && dest.madeFile)
      throw new BerthError(
        "DOCKERFILE_SYNTAX",
        `cannot copy the directory ${src.path} to /${dest.rel}: an earlier source of this COPY made it a file`,
        { hint: "end the destination with / to copy every source into a directory" },
      );
    addSource(items, src, dest, o);
    // As BuildKit, source after source onto a destination without a trailing /: the first makes it (the file
    // itself, or a directory with the contents), the next ones find it (a file is overwritten, the last wins).
    if (!dest.exists) {
      const isDir = dest.isDir || src.isDir;
      dest = { ...dest, exists: true, isDir, madeFile: !isDir };
    }
  }
  await addParents(items, o);
  const entries = layerEntries(items);
  // the layer's writers are loaded by the first step that makes a layer (a rebuild that changes nothing makes none)
  const [{ writeLayer }, { writeEntries }] = await Promise.all([
    import("../../layer/output.ts"),
    import("../../layer/build.ts"),
  ]);
  const desc = await writeLayer(o.layerPath, { compression: o.compression, tee: o.tee, fresh: true }, (w) =>
    writeEntries(w, o.pace ? paced(entries, o.pace) : entries),
  );
  return { ...desc, entries: entries.length, headers: entries.map((e) => e.header) };
}

async function* paced<T>(items: Iterable<T>, pace: () => Promise<void>): AsyncGenerator<T> {
  for (const item of items) {
    await pace();
    yield item;
  }
}

/** Where the copy goes: its path in the stage and whether sources go into it (a directory) or become it. */
interface Destination {
  /** Relative to the stage's root, its symlinks resolved. */
  rel: string;
  /** Whether it exists before the copy (or an earlier source of it made it). */
  exists: boolean;
  isDir: boolean;
  /** An earlier source of this copy made it, a file. */
  madeFile?: boolean;
}

async function destinationOf(o: CopyLayerOptions): Promise<Destination> {
  const destAbs = posix.resolve(o.workdir || "/", o.dest);
  const wantsDir = o.dest.endsWith("/") || o.dest.endsWith("/.") || o.dest === ".";
  const rel = await resolveIn(o.root, destAbs, true);
  const st = await o.root.lstat(rel);
  return { rel, exists: st !== undefined, isDir: wantsDir || st?.type === "dir" };
}

const joinRel = (a: string, b: string) => (a === "" ? b : b === "" ? a : `${a}/${b}`);

/** Directories the copy itself creates get this owner (buildah's and BuildKit's ChownDirs). */
const dirOwnerOf = (o: CopyLayerOptions) => o.owner ?? { uid: 0, gid: 0 };

/** The items of one source: a directory's contents go into the destination, a file into it or onto it. */
function addSource(
  items: Map<string, Item>,
  src: MatchedSource,
  dest: Destination,
  o: CopyLayerOptions,
): void {
  const add = (path: string, f: MatchedSource["files"][number]) => {
    const item = itemOf(path, f, o);
    if (item) items.set(path, item);
  };
  if (src.isDir) {
    // The directory's contents go into the destination (COPY --parents: the paths kept below the source).
    for (const f of src.files) {
      if (f.rel === "") continue;
      add(joinRel(dest.rel, f.rel), f);
    }
    if (dest.rel !== "" && !dest.exists) {
      items.set(dest.rel, {
        header: { path: dest.rel, type: "dir", mode: 0o755, ...dirOwnerOf(o), size: 0, mtime: o.mtime },
      });
    }
    return;
  }
  const f = src.files[0]!;
  // A symlink source keeps its own name (its target's content, under the link's name), as BuildKit.
  const name = src.name || basename(src.path) || basename(f.hostPath);
  const path = dest.isDir ? joinRel(dest.rel, name) : dest.rel;
  if (path === "") throw new BerthError("DOCKERFILE_SYNTAX", `cannot copy a file onto /`);
  add(path, f);
}

/** A source file as the entry at `path`, with the copy's owner and mode; undefined for what is not copied. */
function itemOf(path: string, f: MatchedSource["files"][number], o: CopyLayerOptions): Item | undefined {
  const st = f.st;
  // COPY takes no device nodes from a context or stage (nor sockets, which tar cannot hold)
  const type = typeOf(st);
  if (!type || type === "char" || type === "block") return undefined;
  const owner = o.owner ?? (o.keepOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
  const header: EntryHeader = {
    path,
    type,
    mode: type === "symlink" ? 0o777 : (o.chmod?.apply(st.mode & 0o7777, type === "dir") ?? st.mode & 0o7777),
    ...owner,
    size: type === "file" ? st.size : 0,
    mtime: o.mtime,
  };
  if (f.linkname !== undefined) header.linkname = f.linkname;
  const item: Item = type === "file" ? { header, hostPath: f.hostPath, content: o.content?.(f) } : { header };
  if (type === "file" && st.nlink > 1) item.inode = `${st.dev}:${st.ino}`;
  return item;
}

/** Parents of the items: existing directories keep their attributes, missing ones are made. */
async function addParents(items: Map<string, Item>, o: CopyLayerOptions): Promise<void> {
  // A folder walked once has had its own parents walked: the next path under it stops there.
  const walked = new Set<string>();
  for (const path of [...items.keys()]) {
    for (let d = posix.dirname(path); d !== "." && d !== ""; d = posix.dirname(d)) {
      if (walked.has(d)) break;
      walked.add(d);
      if (items.has(d)) continue;
      const st = await o.root.lstat(d);
      if (st && st.type !== "dir") {
        throw new BerthError("DOCKERFILE_SYNTAX", `cannot copy to /${path}: /${d} is not a directory`);
      }
      items.set(d, {
        header: st
          ? {
              path: d,
              type: "dir",
              mode: st.mode,
              uid: st.uid,
              gid: st.gid,
              size: 0,
              mtime: o.mtime,
            }
          : { path: d, type: "dir", mode: 0o755, ...dirOwnerOf(o), size: 0, mtime: o.mtime },
      });
    }
  }
}

/**
 * The layer's entries in layer order. Hard-link groups stay groups: the first path holds the content, the
 * others link to it.
 */
function layerEntries(items: Map<string, Item>): PlannedEntry[] {
  const first = new Map<string, string>();
  return [...items.values()]
    .sort((a, b) => Buffer.compare(Buffer.from(a.header.path), Buffer.from(b.header.path)))
    .map((i) => {
      if (i.inode !== undefined) {
        const target = first.get(i.inode);
        if (target !== undefined)
          return { header: { ...i.header, type: "hardlink", size: 0, linkname: target } };
        first.set(i.inode, i.header.path);
      }
      if (!i.hostPath) return { header: i.header };
      return i.content
        ? { header: i.header, hostPath: i.hostPath, content: i.content }
        : { header: i.header, hostPath: i.hostPath };
    });
}

/** The compressions ADD recognises on a local archive, as docker does, by their magic numbers. */
export type ArchiveCompression = "none" | "gzip" | "zstd" | "bzip2" | "xz";

const MAGIC: [ArchiveCompression, Buffer][] = [
  ["gzip", Buffer.from([0x1f, 0x8b])],
  ["zstd", Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ["bzip2", Buffer.from("BZh")],
  ["xz", Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
];

/** bzip2 and xz have no decoder in Node: the system's tools decode them. */
const TOOLS: Partial<Record<ArchiveCompression, { command: string; pkg: string }>> = {
  bzip2: { command: "bzip2", pkg: "bzip2" },
  xz: { command: "xz", pkg: "xz-utils" },
};

/** A local file's content, decompressed as its magic number says (ADD's decompressors loaded on first use). */
async function openDecompressed(path: string, compression: ArchiveCompression): Promise<Readable> {
  const file = createReadStream(path);
  if (compression === "none") return file;
  if (compression === "gzip" || compression === "zstd") {
    const { decompressAs } = await import("../../oci/compression.ts");
    return decompressAs(file, compression);
  }
  const tool = TOOLS[compression]!;
  const { spawn } = await import("node:child_process");
  const child = spawn(tool.command, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  const out = child.stdout;
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c;
  });
  const fail = (why: string, code: "DOCKERFILE_SOURCE_NOT_FOUND" | "DOCKERFILE_UNSUPPORTED") =>
    out.destroy(new BerthError(code, `ADD could not decompress ${basename(path)}: ${why}`));
  child.on("error", (err: NodeJS.ErrnoException) =>
    err.code === "ENOENT"
      ? fail(
          `it is ${compression}-compressed and the ${tool.command} command is missing (apt-get install ${tool.pkg})`,
          "DOCKERFILE_UNSUPPORTED",
        )
      : fail(err.message, "DOCKERFILE_SOURCE_NOT_FOUND"),
  );
  child.on("close", (code) => {
    if (code !== 0 && code !== null) {
      fail(stderr.trim() || `${tool.command} exited ${code}`, "DOCKERFILE_SOURCE_NOT_FOUND");
    }
  });
  child.stdin.on("error", () => undefined); // a reader that stops early closes the pipe
  file.on("error", (err) => out.destroy(err));
  file.pipe(child.stdin);
  out.once("close", () => {
    file.destroy();
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/**
 * How ADD should unpack a local file: the compression of a tar archive (plain, gzip, zstd, bzip2 or xz), or
 * undefined when the file is no tar archive and is copied as it is (a compressed file that is not a tar too,
 * as docker does).
 */
export async function archiveCompression(path: string): Promise<ArchiveCompression | undefined> {
  const { BLOCK, decodeHeader } = await import("../../tar/header.ts");
  // whether a block is a tar header: its checksum adds up (the tar module's check, as for layers)
  const isTarHeader = (block: Buffer) =>
    block.length === BLOCK && !decodeHeader(block).problems.some((p) => p.field === "checksum");
  const fh = await open(path, "r");
  let head: Buffer;
  try {
    const buf = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(buf, 0, BLOCK, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const compression = MAGIC.find(([, m]) => head.subarray(0, m.length).equals(m))?.[0] ?? "none";
  if (compression === "none") return isTarHeader(head) ? "none" : undefined;
  let block: Buffer;
  try {
    const { peek } = await import("../../oci/compression.ts");
    const peeked = await peek(await openDecompressed(path, compression), BLOCK);
    peeked.stream.destroy();
    block = peeked.head;
  } catch (err) {
    // A file that only looks compressed is copied as it is, as docker does; a missing tool is an error.
    if (err instanceof BerthError && err.code === "DOCKERFILE_UNSUPPORTED") throw err;
    return undefined;
  }
  return isTarHeader(block) ? compression : undefined;
}

/** Extract a tar archive (compressed as `archiveCompression` said) into a fresh directory (confined, owners kept). */
export async function extractArchive(
  path: string,
  compression: ArchiveCompression,
  dir: string,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { applyLayer } = await import("../../layer/apply.ts");
  await applyLayer(await openDecompressed(path, compression), dir);
}

/** Download a URL for ADD (or `who` else); returns the file, its name from the URL and the content digest. */
export async function download(
  url: string,
  dir: string,
  signal?: AbortSignal,
  who = "ADD",
): Promise<{ path: string; name: string; digest: string }> {
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (err) {
    throw new BerthError(
      "DOCKERFILE_SOURCE_NOT_FOUND",
      `${who} could not fetch ${url}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!res.ok || !res.body) {
    throw new BerthError("DOCKERFILE_SOURCE_NOT_FOUND", `${who} could not fetch ${url}: HTTP ${res.status}`);
  }
  await mkdir(dir, { recursive: true });
  const path = join(dir, "download");
  const h = createHash("sha256");
  const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  body.on("data", (c: Buffer) => h.update(c));
  await pipeline(body, createWriteStream(path, { mode: 0o600 }));
  const name = basename(new URL(url).pathname) || "index.html";
  return { path, name, digest: `sha256:${h.digest("hex")}` };
}

/**
 * Whether an ADD source is a git repository (BuildKit's forms: git@…, git://…, ssh://…, http(s)://…/x.git and
 * github.com/OWNER/REPO, each with `#ref[:subdir]` or `?ref=…`).
 */
export function isGitSource(src: string): boolean {
  return (
    /^(?:git@|git:\/\/|ssh:\/\/)/.test(src) ||
    /^https?:\/\/[^#?]+\.git(?:[#?].*)?$/.test(src) ||
    /^https?:\/\/github\.com\/[^/]+\/[^/#?]+\/?(?:[#?].*)?$/.test(src)
  );
}

function isHttpSource(src: string): boolean {
  return /^https?:\/\//i.test(src);
}

const CHECKSUM_ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** `ADD --checksum=<algorithm>:<hex>` (sha256, sha384, sha512), as BuildKit's digest.Parse takes it. */
function parseChecksum(text: string): { algorithm: string; hex: string } {
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(text);
  const want = m ? CHECKSUM_ALGORITHMS[m[1]!] : undefined;
  if (!m || want === undefined || m[2]!.length !== want)
    throw new BerthError(
      "DOCKERFILE_SYNTAX",
      `--checksum=${text} is not a digest such as sha256:<64 hex digits> (sha256, sha384, sha512)`,
    );
  return { algorithm: m[1]!, hex: m[2]! };
}

/** ADD --checksum: the downloaded file's digest must be the one given; a mismatch is an error naming both. */
function verifyChecksum(url: string, checksum: string, path: string, sha256: string): void {
  const want = parseChecksum(checksum);
  const got =
    want.algorithm === "sha256"
      ? sha256
      : `${want.algorithm}:${createHash(want.algorithm).update(readFileSync(path)).digest("hex")}`;
  if (got !== `${want.algorithm}:${want.hex}`) {
    throw new BerthError(
      "DIGEST_MISMATCH",
      `ADD ${url}: checksum mismatch: --checksum=${checksum}, but the content's digest is ${got}`,
      { hint: "the file at the URL changed, or the checksum is wrong" },
    );
  }
}

/** A heredoc's content as a file to copy. */
async function heredocFile(dir: string, name: string, content: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, content, { mode: 0o644 });
  return path;
}

/** A COPY or ADD instruction's words and flags, expanded. */
interface CopyArgs {
  isAdd: boolean;
  srcWords: string[];
  dest: string;
  fromRef: string | undefined;
  chown: string | undefined;
  chmodText: string | undefined;
  chmod: Chmod | undefined;
  link: boolean;
  parents: boolean;
  excludes: string[];
  checksum: string | undefined;
  unpack: boolean | undefined;
  keepGitDir: () => string | undefined;
  heredocs: Map<string, Heredoc>;
}

/** The instruction's words (each expanded on its own) and flags, `--chmod` and `--checksum` checked. */
function copyArgs(c: StepContext): CopyArgs {
  const { ins, vars } = c;
  // Each word is expanded on its own, as BuildKit does: `COPY ${EMPTY} .` copies the context's root.
  const raw = ins.json ?? splitRaw(ins.args, c.escape);
  if (raw.length < 2)
    throw new BerthError("DOCKERFILE_SYNTAX", `${ins.keyword} needs a source and a destination`);
  const words = raw.map((w) => expandWord(w, vars, c.escape).value);
  const srcWords = words.slice(0, -1);
  const flag = (n: string) => {
    const v = ins.flags[n]?.[0];
    return v === undefined ? undefined : expandWord(v, vars, c.escape).value;
  };
  const fromRef = flag("from");
  const chown = flag("chown");
  const chmodText = flag("chmod");
  const chmod = chmodText === undefined ? undefined : parseChmod(chmodText);
  const link = flag("link") === "true";
  const parents = flag("parents") === "true";
  const excludes = (ins.flags.exclude ?? []).map((e) => expandWord(e, vars, c.escape).value);
  const checksum = flag("checksum");
  const unpackFlag = flag("unpack");
  if (checksum !== undefined) {
    if (srcWords.length !== 1)
      throw new BerthError("DOCKERFILE_SYNTAX", "checksum can't be specified for multiple sources");
    if (!isHttpSource(srcWords[0]!) && !isGitSource(srcWords[0]!))
      throw new BerthError("DOCKERFILE_SYNTAX", "checksum requires HTTP(S) or Git sources");
    if (!isGitSource(srcWords[0]!)) parseChecksum(checksum);
  }
  return {
    isAdd: ins.keyword === "ADD",
    srcWords,
    dest: words[words.length - 1]!,
    fromRef,
    chown,
    chmodText,
    chmod,
    link,
    parents,
    excludes,
    checksum,
    unpack: unpackFlag === undefined ? undefined : unpackFlag === "true",
    // expanded only when a git source is fetched
    keepGitDir: () => flag("keep-git-dir"),
    heredocs: new Map(ins.heredocs.map((h) => [h.name, h])),
  };
}

/** The heredoc a source word names, if any. */
function heredocOf(a: CopyArgs, w: string): Heredoc | undefined {
  const name = heredocName(w);
  return name === undefined ? undefined : a.heredocs.get(name);
}

/** Sources that are not context patterns (heredocs, ADD's git repositories and URLs), fetched into `dl`. */
interface FetchedSources {
  extra: MatchedSource[];
  /** The words left to match in the build context or the `--from` stage. */
  patterns: string[];
}

/** Fetch the sources that are not patterns, adding what they hold to the key `parts`. */
async function fetchSources(
  c: StepContext,
  a: CopyArgs,
  dl: string,
  parts: unknown[],
): Promise<FetchedSources> {
  const extra: MatchedSource[] = [];
  const patterns: string[] = [];
  for (const w of a.srcWords) {
    const h = heredocOf(a, w);
    if (h !== undefined) {
      const content = h.expand ? expandWord(h.content, c.vars, c.escape).value : h.content;
      const path = await heredocFile(join(dl, `heredoc-${extra.length}`), posix.basename(h.name), content);
      extra.push({
        path: h.name,
        isDir: false,
        files: [{ hostPath: path, rel: "", st: await stat(path) }],
      });
      parts.push({ heredoc: h.name, content });
    } else if (a.isAdd && (isGitSource(w) || isHttpSource(w)) && c.dry) {
      throw new BerthError("INTERNAL", `the key of ADD ${w} needs the download`);
    } else if (a.isAdd && isGitSource(w)) {
      parts.push(await gitSource(c, a, w, join(dl, `git-${extra.length}`), extra));
    } else if (/^git@|^git:\/\//.test(w) && !a.isAdd) {
      throw new BerthError("DOCKERFILE_SYNTAX", "source can't be a git ref for COPY");
    } else if (a.isAdd && isHttpSource(w)) {
      parts.push(await urlSource(c, a, w, dl, extra));
    } else if (/^https?:\/\//.test(w)) {
      throw new BerthError("DOCKERFILE_SYNTAX", "source can't be a URL for COPY", {
        hint: "ADD fetches URLs",
      });
    } else patterns.push(w);
  }
  return { extra, patterns };
}

/** ADD of a git repository: its tree (or subdir) is added to `extra`; returns the key part. */
async function gitSource(
  c: StepContext,
  a: CopyArgs,
  w: string,
  dir: string,
  extra: MatchedSource[],
): Promise<unknown> {
  const { fetchGit, parseGitRef } = await import("./git.ts");
  const ref = parseGitRef(w);
  const keep = a.keepGitDir();
  const got = await fetchGit(ref, dir, {
    checksum: a.checksum,
    keepGitDir: keep === undefined ? (ref.keepGitDir ?? false) : keep === "true",
    env: c.env,
    signal: c.inputs.signal,
  });
  const sub = await matchSources(dir, [ref.subdir ?? "."], undefined, w);
  // The repository's tree (or its subdir) goes into the destination, as a directory's contents.
  extra.push(...sub.map((x) => ({ ...x, isDir: true })).filter((x) => x.files[0]!.st.isDirectory()));
  c.fetched?.({ kind: "git", url: w, commit: got.commit });
  return { git: w, commit: got.commit, keep };
}

/** ADD of a URL: the download (unpacked when --unpack asks) is added to `extra`; returns the key part. */
async function urlSource(
  c: StepContext,
  a: CopyArgs,
  w: string,
  dl: string,
  extra: MatchedSource[],
): Promise<unknown> {
  const got = await download(w, join(dl, `url-${extra.length}`), c.inputs.signal);
  if (a.checksum !== undefined) verifyChecksum(w, a.checksum, got.path, got.digest);
  // A URL's archive is unpacked only when --unpack asks (BuildKit).
  const compression = a.unpack === true ? await archiveCompression(got.path) : undefined;
  if (compression !== undefined) {
    const dir = join(dl, `tar-url-${extra.length}`);
    await extractArchive(got.path, compression, dir);
    extra.push(...(await matchSources(dir, ["."], undefined, "the archive")));
  } else {
    extra.push({
      path: got.name,
      isDir: false,
      files: [{ hostPath: got.path, rel: "", st: await stat(got.path) }],
    });
  }
  c.fetched?.({ kind: "http", url: w, digest: got.digest as Digest });
  return { url: w, digest: got.digest };
}

/**
 * The history's created_by in BuildKit's wording: --parents, --chown and --chmod (not --from, --link, --exclude
 * or --checksum), the paths, then the heredocs as <<NAME, and ` # buildkit`; or the entry the step was given.
 */
function copyHistory(c: StepContext, a: CopyArgs): { createdBy: string; comment?: string } {
  if (c.history) return c.history;
  const { ins } = c;
  const createdBy = [
    ins.keyword,
    ...(a.parents ? ["--parents"] : []),
    ...(ins.flags.chown ? [`--chown=${a.chown}`] : []),
    ...(ins.flags.chmod ? [`--chmod=${a.chmodText}`] : []),
    ...a.srcWords.filter((w) => heredocOf(a, w) === undefined),
    ...a.srcWords.flatMap((w) => {
      const h = heredocOf(a, w);
      return h === undefined ? [] : [`<<${h.name}`];
    }),
    `${a.dest} # buildkit`,
  ].join(" ");
  return { createdBy };
}

/**
 * ADD extracts local tar archives into the destination (unless --unpack=false); the sources to copy, and
 * whether they keep their owners (an archive's, or another stage's).
 */
async function unpackSources(
  a: CopyArgs,
  sources: MatchedSource[],
  fromStage: boolean,
  dl: string,
): Promise<{ sources: MatchedSource[]; keepOwner: boolean }> {
  const out: MatchedSource[] = [];
  let keepOwner = fromStage;
  for (const src of sources) {
    const compression =
      a.isAdd && a.unpack !== false && !fromStage && !src.isDir
        ? await archiveCompression(src.files[0]!.hostPath)
        : undefined;
    if (compression !== undefined) {
      const dir = join(dl, `tar-${out.length}`);
      await extractArchive(src.files[0]!.hostPath, compression, dir);
      const extracted = await matchSources(dir, ["."], undefined, "the archive");
      out.push(...extracted);
      keepOwner = true;
    } else out.push(src);
  }
  return { sources: out, keepOwner };
}

/** The step's output over the stage's filesystem `root`: the layer of `sources` (and `extra`) at the destination. */
async function copyOutput(
  c: StepContext,
  a: CopyArgs,
  root: FsView,
  sources: MatchedSource[],
  extra: MatchedSource[],
  fromStage: boolean,
  dl: string,
  pace?: () => Promise<void>,
): Promise<StepOutput> {
  const unpacked = await unpackSources(a, sources, fromStage, dl);
  const owner = a.chown === undefined ? undefined : await resolveOwner(root, a.chown);
  const layerPath = c.temp("layer-");
  const write = (tee: Writable | undefined) =>
    buildCopyLayer({
      // --link: the layer is made as if on an empty filesystem (BuildKit: `FROM scratch; COPY …`, merged).
      root: a.link ? EMPTY : root,
      sources: [...unpacked.sources, ...extra],
      dest: a.parents && !a.dest.endsWith("/") ? `${a.dest}/` : a.dest,
      workdir: c.config.WorkingDir || "/",
      owner,
      keepOwner: unpacked.keepOwner,
      chmod: a.chmod,
      mtime: c.mtime,
      compression: c.compression,
      layerPath,
      // the context's files this build read for the key: written from those bytes
      content: fromStage ? undefined : (f) => c.contextContent(f.hostPath, f.st),
      pace,
      tee,
    });
  // A layer made early may be dropped at its turn: its snapshot is held until then (`HeldSnapshot`).
  const teed = pace ? c.earlySnapshotting : c.snapshotting;
  const desc = await (teed ? teed(write) : write(undefined));
  return { config: c.config, layer: { path: layerPath, ...desc } };
}

/** What a COPY's layer depends on besides its sources and the stage's filesystem (early.ts's `basis`). */
const earlyBasis = (c: StepContext) => JSON.stringify([c.config.WorkingDir || "/", c.mtime, c.compression]);

/** COPY and ADD: what the sources are, the key over what they hold, and the layer. */
export async function copyInstruction(c: StepContext): Promise<void> {
  const { ins, where } = c;
  const a = copyArgs(c);
  const { dest, fromRef, chown, chmod, link, parents, excludes, checksum, unpack } = a;
  const workdir = c.config.WorkingDir || "/";
  const dl = c.temp("src-");
  // Resolve what the step reads and digest it for the key.
  const parts: unknown[] = [
    {
      srcWords: a.srcWords,
      dest,
      workdir,
      chown,
      // the octal value as before; a symbolic mode's text
      chmod: chmod?.key,
      from: fromRef,
      link,
      parents,
      excludes,
      checksum,
      unpack,
    },
  ];
  const { extra, patterns } = await fetchSources(c, a, dl, parts);
  const select = (root: string | undefined, what: string) =>
    (root === undefined
      ? c.contextSources(patterns, { parents, excludes })
      : selectSources(root, patterns, { matcher: undefined, what, parents, excludes })
    ).catch((err) => {
      if (isBerthError(err, "DOCKERFILE_SOURCE_NOT_FOUND"))
        throw new BerthError(err.code, `${where}: ${ins.keyword} failed: ${err.message}`, {
          details: { ...err.details, line: ins.line },
        });
      throw err;
    });
  let sources: MatchedSource[] = [];
  let fromSources: (() => Promise<MatchedSource[]>) | undefined;
  // a named directory context's files are the host's: copied as root's, as the build context's
  let local = false;
  if (fromRef !== undefined) {
    const src = await c.sourceRoot(fromRef);
    local = src.local === true;
    parts.push({ fromImage: src.id });
    let selected: Promise<MatchedSource[]> | undefined;
    fromSources = () => {
      const what = `--from=${fromRef}`;
      selected ??= (async () =>
        (await src.sources?.(patterns, { matcher: undefined, what, parents, excludes })) ??
        select(await src.root(), what))();
      return selected;
    };
  }
  // COPY --link is reused after any change before it, unless its owner is a name the stage's /etc/passwd
  // resolves (then the stage's filesystem is an input).
  const linked = link && (chown === undefined || /^\d+(?::\d+)?$/.test(chown));
  // The key pass where no cache can have the step: the sources (for a layer made early), not their digest,
  // which is taken when the layer is made early or at the step's turn (a cold build reads the context's files
  // of the final stage while a RUN runs, not before the first step).
  const unkeyed = c.keyless && !linked && patterns.length > 0 && fromRef === undefined;
  if (fromRef === undefined && patterns.length) {
    sources = await select(undefined, "the build context");
    if (!unkeyed) parts.push({ context: await c.contextDigest(sources) });
  }
  await c.cached(
    parts,
    async () => {
      if (fromSources) sources = await fromSources();
      const root = await c.view();
      const early = await adoptEarly(c.takeEarly(), root, earlyBasis(c));
      if (early) return { ...early, config: c.config, early: true };
      return await copyOutput(c, a, root, [...sources], extra, fromSources !== undefined && !local, dl);
    },
    {
      ...copyHistory(c, a),
      // A COPY of context files alone may be made early, against the key pass's view (early.ts).
      early:
        !a.isAdd && fromRef === undefined && extra.length === 0
          ? async (pace) => {
              // the step's key at its turn: hashed now, while a RUN runs
              if (unkeyed) await c.contextDigest(sources);
              return makeEarly(await c.view(), earlyBasis(c), (root) =>
                copyOutput(c, a, root, [...sources], [], false, dl, pace),
              );
            }
          : undefined,
      linked,
      unkeyed,
      // BuildKit's content-based key: the selected files of the stage or image, owners included.
      content:
        fromSources &&
        (async () => [
          ...parts.slice(0, -1),
          { fromContent: await sourcesDigest(await fromSources!(), undefined, !local) },
        ]),
    },
  );
  // made only by heredocs, ADD's downloads and archives: a cached COPY of the context has none to remove
  if (existsSync(dl)) await rm(dl, { recursive: true, force: true });
}
