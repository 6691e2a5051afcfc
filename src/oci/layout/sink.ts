import { rm } from "node:fs/promises";
import { hasBlobRange, hasWrittenFiles, type Opener } from "../blob.ts";
import type { Descriptor } from "../descriptor.ts";
import type { CommittedSink, PutBlobOptions } from "../sink.ts";
import { isEntered, type OciLayout } from "./layout.ts";
import type { Lease } from "./lease.ts";

/**
 * Writes a copy into an OCI layout. Every blob the copy checks for, writes or skips as present is first
 * recorded in the copy's lease, so `gc` and other copies' cleanups leave it alone; blobs land atomically and
 * verified; the tag is set only at `commit`, after checking under the index lock that everything the image
 * reaches is present; after a failure, the blobs this copy created that nothing references and no other
 * live lease holds are removed again. The lease ends at `close`; a copy killed before it is cleaned up after
 * by the next sweep of the layout, from the blobs its lease says it created (`+` lines, lease.ts).
 */
export class LayoutSink implements CommittedSink {
  readonly layout: OciLayout;
  readonly name: string | undefined;
  /** Remove the layout folder entirely when the copy fails (it did not exist before). */
  readonly created: boolean;
  readonly #written: string[] = [];
  readonly #lease: Lease;

  constructor(layout: OciLayout, name: string | undefined, created = false) {
    this.layout = layout;
    this.name = name;
    this.created = created;
    this.#lease = layout.lease();
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    await this.#lease.add(desc.digest);
    return this.layout.hasBlob(desc);
  }

  async putBlob(desc: Descriptor, open: Opener, options: PutBlobOptions = {}): Promise<"written"> {
    await this.#lease.add(desc.digest);
    // a blob found here was there before (or another writer's): this copy did not create it
    if (await this.layout.hasBlob(desc)) return "written";
    await this.#lease.creating(desc.digest);
    const from = options.from;
    const file = options.writtenFile ?? (hasWrittenFiles(from) ? from.writtenFile(desc) : undefined);
    if (file !== undefined) {
      const linked = await this.layout.linkBlob(desc, file);
      if (linked !== "unsupported") {
        if (linked === "linked") this.#written.push(desc.digest);
        return "written";
      }
    }
    const range = hasBlobRange(options.from) ? await options.from.blobRange(desc) : undefined;
    const wrote = range
      ? await this.layout.writeBlobFromRange(desc, range, options.onProgress)
      : await this.layout.writeBlob(desc, open, options.onProgress);
    if (wrote) this.#written.push(desc.digest);
    return "written";
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    await this.#lease.add(desc.digest);
    if (await this.layout.hasBlob(desc)) return;
    await this.#lease.creating(desc.digest);
    await this.layout.writeBlobBytes(bytes, desc.mediaType);
    this.#written.push(desc.digest);
  }

  /**
   * Whether the name already points at `root` (the entry as `commit` would write it) and every blob it
   * reaches is here: read without the lock and without a lease, as a tag's blobs are kept by `gc` anyway.
   */
  async holds(root: Descriptor): Promise<boolean> {
    const { index } = await this.layout.readIndex();
    return isEntered(index, root, this.name) && (await this.layout.missingUnder(root)).length === 0;
  }

  async commit(root: Descriptor, options: { indexAlone?: boolean | undefined } = {}): Promise<void> {
    await this.layout.commitTag(root, this.name, options.indexAlone);
  }

  async close(failed: boolean): Promise<void> {
    try {
      if (!failed) return;
      if (this.created) {
        await rm(this.layout.dir, { recursive: true, force: true });
        return;
      }
      if (this.#written.length > 0) await this.layout.removeUnused(this.#written, this.#lease.name);
    } finally {
      await this.#lease.release();
    }
  }
}
