import { createReadStream, readFileSync, statSync } from "node:fs";
import { chmod, link, mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { BerthError, isBerthError } from "../../errors.ts";
import { copyRangeAtomic, exists, streamToFileAtomic, tempName, writeFileAtomic } from "../../util/fs.ts";
import { parseJson } from "../../util/json.ts";
import { sweepDeadOwners } from "../../util/owner.ts";
import { progressCounter } from "../../util/progress.ts";
import { chain } from "../../util/stream.ts";
import { type BlobSource, type FileRange, type Opener, verified } from "../blob.ts";
import { type Descriptor, isObject } from "../descriptor.ts";
import { type Digest, digestBytes, parseDigest, Verifier, verifyBytes } from "../digest.ts";
import { type Index, parseIndex, serialize } from "../manifest.ts";
import { MediaType } from "../mediatype.ts";
import { walk } from "../walk.ts";
import { deadLeases, LEASES_DIR, Lease, leasedDigests } from "./lease.ts";
import { withLock } from "./lock.ts";

export const REF_NAME = "org.opencontainers.image.ref.name";
const LAYOUT_VERSION = "1.0.0";
/** Blobs are read 1 MiB at a time: fewer, larger chunks through the hashing and writing streams. */
const READ_CHUNK = 1024 * 1024;
/** Blobs read by `readBlob` synchronously up to this size (manifests and configs are a few KB). */
const SYNC_READ = 128 * 1024;

/** The grammar of `org.opencontainers.image.ref.name` in an image layout. */
const REF_NAME_GRAMMAR =
  /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export function validateRefName(name: string): void {
  if (!REF_NAME_GRAMMAR.test(name)) {
    throw new BerthError(
      "REFERENCE_INVALID",
      `${JSON.stringify(name)} is not a valid OCI layout tag (org.opencontainers.image.ref.name)`,
    );
  }
}

export interface IndexSnapshot {
  raw: Buffer;
  index: Index;
}

/**
 * An OCI image layout on disk: `oci-layout`, `index.json`, `blobs/<alg>/<encoded>`. Blob writes are atomic
 * and verified; `index.json` changes happen under a cross-process lock.
 */
/** Errors of link(2) that mean "not here", not "something is wrong". */
const LINK_UNSUPPORTED = new Set(["EXDEV", "EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK", "EACCES"]);

export class OciLayout implements BlobSource {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Open an existing layout. */
  static async open(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(dir);
    await layout.checkHeader();
    return layout;
  }

  /** Open a layout, creating an empty one when the folder does not exist or is empty. */
  static async openOrCreate(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(dir);
    // synchronous, as checkHeader's read: a layout is there on every use but the first
    if (!statSync(join(dir, "oci-layout"), { throwIfNoEntry: false })) {
      await mkdir(dir, { recursive: true });
      // Under the lock, so that several processes creating the same layout agree.
      await withLock(join(dir, "index.json"), async () => {
        if (await exists(join(dir, "oci-layout"))) return;
        const stray = (await readdir(dir)).filter((e) => !e.startsWith(".") && e !== "index.json.lock");
        if (stray.length > 0) {
          throw new BerthError(
            "LAYOUT_INVALID",
            `${dir} is not an OCI image layout (no oci-layout file) and is not empty`,
          );
        }
        await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
        await writeFileAtomic(join(dir, "index.json"), serialize(emptyIndex()));
        await writeFileAtomic(join(dir, "oci-layout"), serialize({ imageLayoutVersion: LAYOUT_VERSION }));
      });
    }
    await layout.checkHeader();
    return layout;
  }

  /** The `oci-layout` file checked, read synchronously (30 bytes; an async read is four hops through libuv's pool). */
  private async checkHeader(): Promise<void> {
    let raw: Buffer;
    try {
      raw = readFileSync(join(this.dir, "oci-layout"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        if (!(await exists(this.dir))) {
          throw new BerthError(
            "IMAGE_NOT_FOUND",
            `no such folder: ${this.dir} (an OCI image layout was expected)`,
            {
              hint: "check the path after oci:",
            },
          );
        }
        throw new BerthError(
          "LAYOUT_INVALID",
          `${this.dir} is not an OCI image layout: it has no oci-layout file`,
        );
      }
      throw err;
    }
    const doc = parseJson(raw, join(this.dir, "oci-layout"), "LAYOUT_INVALID");
    if (!isObject(doc) || doc.imageLayoutVersion !== LAYOUT_VERSION) {
      throw new BerthError(
        "LAYOUT_INVALID",
        `${join(this.dir, "oci-layout")} must have imageLayoutVersion "1.0.0"`,
      );
    }
  }

  blobPath(digest: Digest): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.dir, "blobs", algorithm, encoded);
  }

  get tmpDir(): string {
    return join(this.dir, ".berth-tmp");
  }

  /** Where the leases of processes writing to this layout live (`lease.ts`). */
  get leasesDir(): string {
    return join(this.dir, LEASES_DIR);
  }

  /** A new lease on blobs of this layout, owned by this process; empty (no file) until a digest is added. */
  lease(): Lease {
    return new Lease(this.leasesDir);
  }

  /**
   * Remove what killed berth processes left in this layout: the blobs they created that no index entry reaches
   * and no live lease holds (what the cleanup of their failed copy would have removed), then their leases;
   * their blob temp files (and temp files without an owner older than an hour, from older berths), the temp
   * files of their index.json writes and lock takeovers. Returns how many entries went (leases, temp files
   * and blobs). A sweep killed midway leaves the leases it had not dealt with for the next one.
   */
  async sweep(): Promise<number> {
    const [dead, temp] = await Promise.all([deadLeases(this.leasesDir), this.sweepTemp()]);
    const created = dead.flatMap((d) => d.created);
    const removed = created.length > 0 ? await this.removeUnused(created) : [];
    await Promise.all(dead.map((d) => rm(d.path, { force: true })));
    return dead.length + removed.length + temp;
  }

  /** The temp files killed berths left (`sweep`'s part that needs no lock). Returns how many went. */
  async sweepTemp(): Promise<number> {
    const swept = await Promise.all([
      sweepDeadOwners(this.tmpDir, { untaggedOlderThan: 3_600_000 }),
      sweepDeadOwners(this.dir),
    ]);
    return swept[0].length + swept[1].length;
  }

  /**
   * Under the index lock, remove those of `digests` that no index entry reaches and no live lease (but the
   * lease named `exceptLease`, the caller's own) holds: the cleanup of a failed or killed copy, given the blobs
   * it created. Returns the digests removed. The race with a copy that leases a blob after the leases were
   * read, finds it present and then loses it is `gc`'s (gc.ts), and caught the same way, by that copy's commit.
   */
  async removeUnused(digests: readonly string[], exceptLease?: string): Promise<string[]> {
    return this.updateIndex(async (index) => {
      const keep = await reachable(this, index.manifests, { tolerateMissing: true });
      const leased = await leasedDigests(this.leasesDir, exceptLease);
      const removed: string[] = [];
      for (const digest of new Set(digests)) {
        if (keep.has(digest) || leased.has(digest) || !(await exists(this.blobPath(digest)))) continue;
        await this.removeBlob(digest);
        removed.push(digest);
      }
      return { result: removed };
    });
  }

  /**
   * Digests reachable from `root` that this layout lacks (a manifest that is missing hides its children).
   * Run under the index lock by a commit, this is the check that no image is tagged with a blob missing.
   */
  async missingUnder(root: Descriptor): Promise<string[]> {
    let nodes: Awaited<ReturnType<typeof walk>>;
    try {
      nodes = await walk(this, root);
    } catch (err) {
      if (err instanceof BerthError && err.code === "BLOB_NOT_FOUND") {
        return [String(err.details.digest ?? root.digest)];
      }
      throw err;
    }
    const missing: string[] = [];
    for (const node of nodes) {
      if (node.kind === "blob" && !(await this.hasBlob(node.descriptor)))
        missing.push(node.descriptor.digest);
    }
    return missing;
  }

  /**
   * Whether the blob is here with its size. One synchronous stat: a stat through libuv's pool costs more in the
   * hop than the call (writing an unchanged image to the store checks each of its blobs, one after another).
   */
  async hasBlob(desc: Pick<Descriptor, "digest" | "size">): Promise<boolean> {
    const st = statSync(this.blobPath(desc.digest), { throwIfNoEntry: false });
    return st?.isFile() === true && (desc.size < 0 || st.size === desc.size);
  }

  /** A blob's bytes, verified against the descriptor as they stream. */
  async openBlob(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    const stream = createReadStream(path, { highWaterMark: READ_CHUNK });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (err: NodeJS.ErrnoException) => reject(this.#missing(err, desc)));
    });
    return verified(stream, desc, `blob ${desc.digest} in ${this.dir}`);
  }

  /**
   * A small blob (manifest, config) read at once and verified: one file read instead of a stream, synchronous
   * up to `SYNC_READ` bytes (its parse and digest are: an async read is four hops through libuv's pool).
   */
  async readBlob(desc: Descriptor): Promise<Buffer> {
    const path = this.blobPath(desc.digest);
    let bytes: Buffer;
    try {
      bytes = desc.size >= 0 && desc.size <= SYNC_READ ? readFileSync(path) : await readFile(path);
    } catch (err) {
      throw this.#missing(err as NodeJS.ErrnoException, desc);
    }
    verifyBytes(bytes, desc.digest, desc.size, `blob ${desc.digest} in ${this.dir}`);
    return bytes;
  }

  #missing(err: NodeJS.ErrnoException, desc: Descriptor): Error {
    if (err.code !== "ENOENT") return err;
    return new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is missing from the layout ${this.dir}`, {
      details: { digest: desc.digest },
    });
  }

  /**
   * Write a blob atomically, verifying size and digest as it streams (once: a source stream that already
   * verifies this descriptor is not hashed again); skipped (without opening the source) when it is already
   * there. Returns whether it wrote.
   */
  async writeBlob(desc: Descriptor, open: Opener, onProgress?: (bytes: number) => void): Promise<boolean> {
    if (await this.hasBlob(desc)) return false;
    let stream = verified(await open(), desc, `blob ${desc.digest}`);
    if (onProgress) stream = chain(stream, progressCounter(onProgress));
    await streamToFileAtomic(stream, this.blobPath(desc.digest), this.tmpDir, 0o644);
    return true;
  }

  /** Where a blob lies on disk, for sinks that copy files directly. */
  async blobRange(desc: Descriptor): Promise<FileRange | undefined> {
    return (await this.hasBlob(desc))
      ? { path: this.blobPath(desc.digest), start: 0, size: desc.size }
      : undefined;
  }

  /**
   * Put in a blob from a file this process wrote and hashed itself, as a hard link (then renamed into place):
   * nothing is read or copied. "unsupported" when the file cannot be linked here (another file system, a
   * file system without hard links): the caller copies it instead.
   */
  async linkBlob(desc: Descriptor, file: string): Promise<"linked" | "present" | "unsupported"> {
    if (await this.hasBlob(desc)) return "present";
    // The link made straight at the blob's name (whole at once, as a rename): no temp name, no rename, the
    // folder made only when missing. A file there that hasBlob refused (short) is replaced through a temp name.
    await chmod(file, 0o644);
    const direct = await this.#linkDirect(file, desc.digest);
    if (direct !== "exists") return direct;
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = tempName(this.tmpDir, "blob");
    try {
      await link(file, tmp);
    } catch (err) {
      if (LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? "")) return "unsupported";
      throw err;
    }
    try {
      await rename(tmp, this.blobPath(desc.digest));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return "linked";
  }

  async #linkDirect(file: string, digest: Digest): Promise<"linked" | "unsupported" | "exists"> {
    const target = this.blobPath(digest);
    for (let made = false; ; made = true) {
      try {
        await link(file, target);
        return "linked";
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? "";
        if (code === "EEXIST") return "exists";
        if (LINK_UNSUPPORTED.has(code)) return "unsupported";
        if (code !== "ENOENT" || made) throw err;
        await mkdir(dirname(target), { recursive: true });
      }
    }
  }

  /** Write a blob copied from a local file range, verified against the descriptor before it is renamed in. */
  async writeBlobFromRange(
    desc: Descriptor,
    range: FileRange,
    onProgress?: (bytes: number) => void,
  ): Promise<boolean> {
    if (await this.hasBlob(desc)) return false;
    const what = `blob ${desc.digest} in ${range.path}`;
    if (range.size !== desc.size) {
      throw new BerthError(
        "SIZE_MISMATCH",
        `${what} has ${range.size} bytes where ${desc.size} were expected`,
      );
    }
    const v = new Verifier(desc.digest, desc.size, what);
    await copyRangeAtomic(
      range,
      this.blobPath(desc.digest),
      this.tmpDir,
      (p) => v.update(p),
      () => v.check(),
      onProgress,
    );
    return true;
  }

  async writeBlobBytes(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: digestBytes(bytes), size: bytes.length };
    if (!(await this.hasBlob(desc))) {
      // Not flushed, as no blob is (writeBlob's, linkBlob's): the index names it only once it is whole, and a
      // blob a crash cut short fails its digest where it is read (fsck names it).
      await writeFileAtomic(this.blobPath(desc.digest), bytes, 0o644, { sync: false });
    }
    return desc;
  }

  async readIndex(): Promise<IndexSnapshot> {
    const path = join(this.dir, "index.json");
    let raw: Buffer;
    try {
      // synchronous, as its parse is
      raw = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new BerthError(
          "LAYOUT_INVALID",
          `${this.dir} is not an OCI image layout: it has no index.json`,
        );
      }
      throw err;
    }
    try {
      return { raw, index: parseIndex(raw, "index.json") };
    } catch (err) {
      throw new BerthError("LAYOUT_INVALID", `layout ${this.dir}: ${(err as Error).message}`, {
        cause: err,
        details: err instanceof BerthError ? err.details : undefined,
      });
    }
  }

  /** Change index.json under the layout's lock; `fn` returns the new index (or undefined for no change). */
  async updateIndex<T>(
    fn: (index: Index) => Promise<{ index?: Index; result: T }> | { index?: Index; result: T },
  ): Promise<T> {
    return withLock(join(this.dir, "index.json"), async () => {
      const { index } = await this.readIndex();
      const out = await fn(structuredClone(index));
      if (out.index) await writeFileAtomic(join(this.dir, "index.json"), serialize(out.index));
      return out.result;
    });
  }

  /** Entries of index.json, with their tag when they have one. */
  async entries(): Promise<Descriptor[]> {
    return (await this.readIndex()).index.manifests;
  }

  /**
   * Resolve a tag (or, without one, the layout's only entry) to its descriptor. `name` may also be a
   * digest, which matches an entry by digest.
   */
  async resolve(name?: string): Promise<Descriptor> {
    const entries = await this.entries();
    if (name === undefined || name === "") {
      if (entries.length === 1) return entries[0]!;
      const tags = entries.map((e) => e.annotations?.[REF_NAME]).filter(Boolean);
      throw new BerthError(
        "IMAGE_NOT_FOUND",
        entries.length === 0
          ? `the layout ${this.dir} holds no image`
          : `the layout ${this.dir} holds ${entries.length} images; name one (${tags.join(", ") || "none is tagged"})`,
      );
    }
    const byName = entries.find((e) => e.annotations?.[REF_NAME] === name);
    if (byName) return byName;
    const byDigest = entries.find((e) => e.digest === name);
    if (byDigest) return byDigest;
    throw new BerthError(
      "IMAGE_NOT_FOUND",
      `the layout ${this.dir} has no image tagged ${JSON.stringify(name)}`,
    );
  }

  /** Point `name` at `desc` (replacing any entry of that name); without a name, add the entry untagged. */
  async tag(desc: Descriptor, name?: string): Promise<void> {
    if (name !== undefined) validateRefName(name);
    await this.updateIndex((index) => ({ index: withEntry(index, desc, name), result: undefined }));
  }

  /**
   * `tag`, after checking under the index lock that every blob `desc` reaches is present: a copy's commit. A
   * blob removed since the copy checked for it (a race with `gc` or another copy's cleanup its lease did not
   * cover) fails it with BLOB_NOT_FOUND and `details.missing`, and the index stays as it was. `indexAlone`:
   * only `desc`'s own blob is checked (an index copied without its images, as skopeo's `--multi-arch
   * index-only` writes one).
   */
  async commitTag(desc: Descriptor, name?: string, indexAlone = false): Promise<void> {
    if (name !== undefined) validateRefName(name);
    await this.updateIndex(async (index) => {
      if (isEntered(index, desc, name)) return { result: undefined };
      const missing = indexAlone
        ? (await this.hasBlob(desc))
          ? []
          : [desc.digest]
        : await this.missingUnder(desc);
      if (missing.length > 0) {
        throw new BerthError(
          "BLOB_NOT_FOUND",
          `${missing.length === 1 ? `blob ${missing[0]} is` : `${missing.length} blobs are`} missing from the layout ${this.dir} at commit`,
          { details: { digest: missing[0], missing } },
        );
      }
      return { index: withEntry(index, desc, name), result: undefined };
    });
  }

  /** Remove the entry tagged `name`; returns the removed descriptor. */
  async untag(name: string): Promise<Descriptor> {
    return this.updateIndex((index) => {
      const hit = index.manifests.find((m) => m.annotations?.[REF_NAME] === name || m.digest === name);
      if (!hit)
        throw new BerthError(
          "IMAGE_NOT_FOUND",
          `the layout ${this.dir} has no image tagged ${JSON.stringify(name)}`,
        );
      return { index: { ...index, manifests: index.manifests.filter((m) => m !== hit) }, result: hit };
    });
  }

  /** Remove a blob file (used by garbage collection and failed copies). */
  async removeBlob(digest: Digest): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }
}

/** The index entry of `desc` under `name` (or untagged). */
function entryOf(desc: Descriptor, name: string | undefined): Descriptor {
  const entry: Descriptor = { ...desc };
  const annotations = { ...(desc.annotations ?? {}) };
  delete annotations[REF_NAME];
  if (name !== undefined) annotations[REF_NAME] = name;
  if (Object.keys(annotations).length > 0) entry.annotations = annotations;
  else delete entry.annotations;
  return entry;
}

/**
 * Whether `index` already has `desc` entered under `name` exactly as `withEntry` would enter it (then
 * nothing is to be written: a no-change rebuild leaves index.json as it was).
 */
export function isEntered(index: Index, desc: Descriptor, name: string | undefined): boolean {
  const want = serialize(entryOf(desc, name));
  return index.manifests.some(
    (m) => m.annotations?.[REF_NAME] === name && m.digest === desc.digest && serialize(m).equals(want),
  );
}

/** `index` with `desc` entered under `name` (replacing any entry of that name), or untagged without one. */
function withEntry(index: Index, desc: Descriptor, name: string | undefined): Index {
  const entry = entryOf(desc, name);
  const manifests = index.manifests.filter((m) => {
    const mName = m.annotations?.[REF_NAME];
    if (name !== undefined) return mName !== name;
    return !(mName === undefined && m.digest === desc.digest);
  });
  manifests.push(entry);
  return { ...index, manifests };
}

/** Digests of everything reachable from the given index entries (a root whose blobs are missing, just itself). */
export async function reachable(
  source: BlobSource,
  roots: Descriptor[],
  options: { tolerateMissing?: boolean } = {},
): Promise<Set<string>> {
  const keep = new Set<string>();
  for (const root of roots) {
    try {
      for (const node of await walk(source, root)) keep.add(node.descriptor.digest);
    } catch (err) {
      if (!options.tolerateMissing || !isBerthError(err)) throw err;
      keep.add(root.digest);
    }
  }
  return keep;
}

export function emptyIndex(): Index {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}
