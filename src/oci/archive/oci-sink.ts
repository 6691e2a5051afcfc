import { readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { BerthError } from "../../errors.ts";
import { ownedTempDir } from "../../util/fs.ts";
import type { Opener } from "../blob.ts";
import type { Descriptor } from "../descriptor.ts";
import { OciLayout, REF_NAME, validateRefName } from "../layout/layout.ts";
import type { ImageSink, PutBlobOptions } from "../sink.ts";
import { walk } from "../walk.ts";
import { openOciArchive } from "./oci-read.ts";
import { TarWriter } from "./tarwriter.ts";

export interface OciArchiveSinkOptions {
  /** The `org.opencontainers.image.ref.name` the image gets; without one it is stored untagged. */
  ref?: string | undefined;
  /** Where the layout is staged before it is tarred (default: the OS temp folder). */
  tmpDir?: string;
  /**
   * When `path` is already an oci-archive, carry its other images into the new archive (default true);
   * otherwise the archive is replaced, as skopeo does.
   */
  keepExisting?: boolean | undefined;
}

/**
 * Writes an oci-archive: blobs go into an OCI layout staged in a temp folder; `commit` tags the root and
 * tars the layout to `path` atomically. Nothing appears at `path` before `commit`.
 */
export class OciArchiveSink implements ImageSink {
  readonly path: string;
  readonly ref: string | undefined;
  readonly #staging: string;
  readonly #layout: OciLayout;
  readonly #keepExisting: boolean;
  readonly #tmpDir: string;

  private constructor(path: string, options: OciArchiveSinkOptions, staging: string, layout: OciLayout) {
    this.path = path;
    this.ref = options.ref;
    this.#staging = staging;
    this.#layout = layout;
    this.#keepExisting = options.keepExisting ?? true;
    this.#tmpDir = options.tmpDir ?? tmpdir();
  }

  static async create(path: string, options: OciArchiveSinkOptions = {}): Promise<OciArchiveSink> {
    if (options.ref !== undefined) validateRefName(options.ref);
    const base = options.tmpDir ?? tmpdir();
    const staging = await ownedTempDir(base, "berth-oci-archive-");
    try {
      const layout = await OciLayout.openOrCreate(join(staging, "layout"));
      return new OciArchiveSink(path, options, staging, layout);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.#layout.hasBlob(desc);
  }

  async putBlob(desc: Descriptor, open: Opener, _options?: PutBlobOptions): Promise<"written"> {
    await this.#layout.writeBlob(desc, open);
    return "written";
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    await this.#layout.writeBlob(desc, async () => Readable.from([bytes]));
  }

  async commit(root: Descriptor): Promise<void> {
    if (this.#keepExisting) await this.carryExisting(root);
    await this.#layout.tag(
      { mediaType: root.mediaType, digest: root.digest, size: root.size, ...pick(root) },
      this.ref,
    );
    await tarLayout(this.#layout, this.path);
  }

  async close(_failed: boolean): Promise<void> {
    await rm(this.#staging, { recursive: true, force: true });
  }

  /** Copy the other images of an oci-archive already at `path` into the staged layout. */
  private async carryExisting(root: Descriptor): Promise<void> {
    let old: Awaited<ReturnType<typeof openOciArchive>>;
    try {
      old = await openOciArchive(this.path, { tmpDir: this.#tmpDir });
    } catch {
      return; // absent or not an oci-archive: replaced, as skopeo does
    }
    try {
      for (const entry of old.images()) {
        const name = entry.descriptor.annotations?.[REF_NAME];
        if (
          this.ref !== undefined
            ? name === this.ref
            : name === undefined && entry.descriptor.digest === root.digest
        ) {
          continue;
        }
        for (const node of await walk(old, entry.descriptor)) {
          if (await this.#layout.hasBlob(node.descriptor)) continue;
          if (node.kind === "blob") {
            await this.#layout.writeBlob(node.descriptor, () => old.openBlob(node.descriptor));
          } else {
            await this.#layout.writeBlob(node.descriptor, async () => Readable.from([node.bytes]));
          }
        }
        await this.#layout.updateIndex((index) => ({
          index: { ...index, manifests: [...index.manifests, entry.descriptor] },
          result: undefined,
        }));
      }
    } catch (err) {
      throw new BerthError(
        "ARCHIVE_INVALID",
        `keeping the other images of ${this.path}: ${(err as Error).message}`,
        {
          cause: err,
          hint: "the existing archive is damaged; remove it to replace it",
        },
      );
    } finally {
      await old.close();
    }
  }
}

/** Fields of a root descriptor worth keeping in index.json (platform, annotations other than the tag). */
function pick(d: Descriptor): Partial<Descriptor> {
  const out: Partial<Descriptor> = {};
  if (d.platform) out.platform = d.platform;
  if (d.artifactType) out.artifactType = d.artifactType;
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

/**
 * Tar an OCI layout to `path`, atomically and deterministically: `oci-layout`, `index.json`, then the blobs
 * in sorted order (nothing else of the folder, such as lock or temp files).
 */
export async function tarLayout(layout: OciLayout, path: string): Promise<void> {
  const { raw } = await layout.readIndex();
  const writer = await TarWriter.create(path);
  try {
    await writer.addBytes("oci-layout", Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })));
    await writer.addBytes("index.json", raw);
    await writer.addDirectory("blobs");
    const algorithms = (await readdir(join(layout.dir, "blobs"), { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    for (const alg of algorithms) {
      await writer.addDirectory(`blobs/${alg}`);
      const files = (await readdir(join(layout.dir, "blobs", alg), { withFileTypes: true }))
        .filter((d) => d.isFile() && !d.name.startsWith("."))
        .map((d) => d.name)
        .sort();
      for (const hex of files) {
        const desc = { mediaType: "application/octet-stream", digest: `${alg}:${hex}`, size: -1 };
        const blob = join(layout.dir, "blobs", alg, hex);
        const { size } = await stat(blob);
        await writer.addStream(`blobs/${alg}/${hex}`, size, await layout.openBlob({ ...desc, size }));
      }
    }
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
