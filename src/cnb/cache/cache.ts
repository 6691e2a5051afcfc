/**
 * The build cache, in the lifecycle's two forms. A directory cache is `<dir>/committed/<diffID>.tar`
 * (uncompressed tars of `/layers/<bp>/<layer>`) plus the JSON file `io.buildpacks.lifecycle.cache.metadata`,
 * written through `staging/` and swapped in whole; an image cache is an image whose layers are those tars
 * (compressed) and whose label `io.buildpacks.lifecycle.cache.metadata` holds the same JSON.
 */
import { createReadStream } from "node:fs";
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { BerthError, wrapError } from "../../errors.ts";
import type { BlobSource } from "../../oci/blob.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { type Digest, encodedOf } from "../../oci/digest.ts";
import type { Image } from "../../oci/image.ts";
import { withOwnedLock } from "../../util/lock.ts";
import { type CacheMetadata, LABEL, parseJsonLabel } from "../files/labels.ts";

export type { CacheMetadata };

/** A layer written by export for the cache: its uncompressed tar and/or its compressed blob. */
export interface CacheLayerFiles {
  diffId: Digest;
  /** The uncompressed tar (directory caches need it). */
  tarPath?: string;
  /** The compressed blob (image caches need it), with where to read it. */
  blob?: { descriptor: Descriptor; source: BlobSource };
}

export interface Cache {
  readonly kind: "dir" | "image";
  readonly description: string;
  /** Whether saving needs uncompressed tars (dir) or compressed blobs (image). */
  readonly wants: "tar" | "blob";
  metadata(): Promise<CacheMetadata>;
  hasLayer(diffId: Digest): Promise<boolean>;
  /** The uncompressed tar of a cached layer, verified against its diffID. */
  openLayer(diffId: Digest): Promise<Readable>;
}

const emptyCacheMetadata = (): CacheMetadata => ({ buildpacks: [] });

const META_FILE = LABEL.cache;

/** `<dir>/committed/…`; `clear` makes it read as empty (the old contents are dropped when it is saved). */
export class DirectoryCache implements Cache {
  readonly kind = "dir" as const;
  readonly wants = "tar" as const;
  readonly dir: string;
  readonly cleared: boolean;

  constructor(dir: string, options: { clear?: boolean } = {}) {
    this.dir = dir;
    this.cleared = options.clear ?? false;
  }

  get description(): string {
    return this.dir;
  }

  get committed(): string {
    return join(this.dir, "committed");
  }

  async metadata(): Promise<CacheMetadata> {
    if (this.cleared) return emptyCacheMetadata();
    let text: string;
    try {
      text = await readFile(join(this.committed, META_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyCacheMetadata();
      throw wrapError(`reading the cache ${this.dir}`, err);
    }
    const m = parseJsonLabel<CacheMetadata>(text, META_FILE, `cache ${this.dir}`);
    return { ...m, buildpacks: m?.buildpacks ?? [] };
  }

  tarPath(diffId: Digest): string {
    return join(this.committed, `${encodedOf(diffId)}.tar`);
  }

  async hasLayer(diffId: Digest): Promise<boolean> {
    if (this.cleared) return false;
    try {
      await readFile(join(this.committed, META_FILE));
      const names = await readdir(this.committed);
      return names.includes(`${encodedOf(diffId)}.tar`);
    } catch {
      return false;
    }
  }

  async openLayer(diffId: Digest): Promise<Readable> {
    if (!(await this.hasLayer(diffId))) {
      throw new BerthError("BLOB_NOT_FOUND", `the cache ${this.dir} has no layer ${diffId}`);
    }
    return createReadStream(this.tarPath(diffId));
  }

  /** Where export writes new cache tars before `save` (same file system, so they are renamed in). */
  async stagingDir(): Promise<string> {
    const dir = join(this.dir, "staging");
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Replace the cache with these layers and metadata: reused layers are hard-linked from the committed
   * generation, new ones renamed from their temp files, then the new generation replaces the old whole, under
   * a lock on the folder (builds of different names may share one).
   */
  save(metadata: CacheMetadata, layers: readonly CacheLayerFiles[]): Promise<void> {
    return withOwnedLock(join(this.dir, "save"), () => this.#save(metadata, layers), {
      waitMs: Number.POSITIVE_INFINITY,
    });
  }

  async #save(metadata: CacheMetadata, layers: readonly CacheLayerFiles[]): Promise<void> {
    const staging = await this.stagingDir();
    const next = join(this.dir, `next-${uniqueSuffix()}`);
    await mkdir(next, { recursive: true });
    try {
      for (const l of layers) {
        const dest = join(next, `${encodedOf(l.diffId)}.tar`);
        if (l.tarPath) await rename(l.tarPath, dest);
        else {
          try {
            await link(this.tarPath(l.diffId), dest);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          }
        }
      }
      await writeFile(join(next, META_FILE), JSON.stringify(metadata));
      const old = join(this.dir, `old-${uniqueSuffix()}`);
      await rename(this.committed, old).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
      await rename(next, this.committed);
      await rm(old, { recursive: true, force: true });
      await rm(staging, { recursive: true, force: true });
    } catch (err) {
      await rm(next, { recursive: true, force: true });
      throw wrapError(`saving the cache ${this.dir}`, err);
    }
  }
}

let counter = 0;
function uniqueSuffix(): string {
  counter++;
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`;
}

/** A cache image read through any transport (usually a registry); saved by the build orchestrator. */
export class ImageCache implements Cache {
  readonly kind = "image" as const;
  readonly wants = "blob" as const;
  readonly reference: string;
  /** The cache image as it was, unless it does not exist yet or the cache is being cleared. */
  readonly image: Image | undefined;

  constructor(reference: string, image: Image | undefined) {
    this.reference = reference;
    this.image = image;
  }

  get description(): string {
    return this.reference;
  }

  async metadata(): Promise<CacheMetadata> {
    const label = this.image?.config?.config?.Labels?.[META_FILE];
    const m = parseJsonLabel<CacheMetadata>(label, META_FILE, `cache image ${this.reference}`);
    return { ...m, buildpacks: m?.buildpacks ?? [] };
  }

  /** Layers whose blob the registry no longer has (found on restore): not reused, written again by export. */
  readonly #lost = new Set<string>();

  /** The compressed layer of the cache image with this diffID. */
  layer(diffId: Digest): Descriptor | undefined {
    if (!this.image || this.#lost.has(diffId)) return undefined;
    const i = this.image.config?.rootfs.diff_ids.indexOf(diffId) ?? -1;
    return i < 0 ? undefined : this.image.manifest.layers[i];
  }

  async hasLayer(diffId: Digest): Promise<boolean> {
    return this.layer(diffId) !== undefined;
  }

  async openLayer(diffId: Digest): Promise<Readable> {
    const image = this.image;
    const i = image?.config?.rootfs.diff_ids.indexOf(diffId) ?? -1;
    if (!image || i < 0) {
      throw new BerthError("BLOB_NOT_FOUND", `the cache image ${this.reference} has no layer ${diffId}`);
    }
    const lost = (err: unknown) => {
      if (
        err instanceof BerthError &&
        (err.code === "REGISTRY_BLOB_UNKNOWN" || err.code === "BLOB_NOT_FOUND")
      )
        this.#lost.add(diffId);
    };
    try {
      const stream = await image.layers()[i]!.uncompressed();
      stream.on("error", lost);
      return stream;
    } catch (err) {
      lost(err);
      throw err;
    }
  }
}
