import type { Readable } from "node:stream";
import { BerthError } from "../../errors.ts";
import { parseJson } from "../../util/json.ts";
import { type FileRange, MAX_DOCUMENT_SIZE, verified } from "../blob.ts";
import { type Descriptor, isObject } from "../descriptor.ts";
import { REF_NAME } from "../layout/layout.ts";
import { parseIndex } from "../manifest.ts";
import { blobPath } from "./blobpath.ts";
import { type ArchiveImage, type ArchiveSource, type OpenArchiveOptions, resolveImage } from "./source.ts";
import { TarIndex } from "./tarindex.ts";

/**
 * Open an oci-archive: a tar (plain, gzip or zstd) of an OCI image layout. Blobs are read in place from
 * the tar; images are resolved by `org.opencontainers.image.ref.name`, like a layout.
 */
export async function openOciArchive(path: string, options: OpenArchiveOptions = {}): Promise<ArchiveSource> {
  const tar = await TarIndex.open(path, options);
  try {
    return await OciArchiveSource.load(tar);
  } catch (err) {
    await tar.close();
    throw err;
  }
}

class OciArchiveSource implements ArchiveSource {
  readonly format = "oci-archive" as const;
  readonly #tar: TarIndex;
  readonly #images: ArchiveImage[];

  private constructor(tar: TarIndex, images: ArchiveImage[]) {
    this.#tar = tar;
    this.#images = images;
  }

  get path(): string {
    return this.#tar.path;
  }

  static async load(tar: TarIndex): Promise<OciArchiveSource> {
    const bad = (why: string) =>
      new BerthError("ARCHIVE_INVALID", `archive ${tar.path} is not an oci-archive: ${why}`, {
        details: { archive: tar.path },
      });
    if (!tar.has("oci-layout")) {
      throw bad(
        `it has no oci-layout file${tar.has("manifest.json") ? " (it looks like a docker-archive)" : ""}`,
      );
    }
    const header = parseJson(
      await tar.readEntry("oci-layout", 64 * 1024),
      `archive ${tar.path}: oci-layout`,
      "ARCHIVE_INVALID",
    );
    if (!isObject(header) || header.imageLayoutVersion !== "1.0.0") {
      throw bad('its oci-layout file must have imageLayoutVersion "1.0.0"');
    }
    if (!tar.has("index.json")) throw bad("it has no index.json");
    let index: ReturnType<typeof parseIndex>;
    try {
      index = parseIndex(
        await tar.readEntry("index.json", MAX_DOCUMENT_SIZE),
        `index.json in archive ${tar.path}`,
      );
    } catch (err) {
      throw new BerthError("ARCHIVE_INVALID", (err as Error).message, {
        cause: err,
        details: { archive: tar.path },
      });
    }
    const images = index.manifests.map((d) => {
      const name = d.annotations?.[REF_NAME];
      return { descriptor: d, tags: name === undefined ? [] : [name] };
    });
    return new OciArchiveSource(tar, images);
  }

  images(): ArchiveImage[] {
    return this.#images.map((i) => ({ descriptor: structuredClone(i.descriptor), tags: [...i.tags] }));
  }

  async resolve(ref?: string): Promise<Descriptor> {
    return structuredClone(resolveImage(this.path, this.#images, ref, (n) => n));
  }

  async blobRange(desc: Descriptor): Promise<FileRange | undefined> {
    const e = this.#tar.lookup(blobPath(desc.digest));
    return e ? { path: this.#tar.file, start: e.offset, size: e.size } : undefined;
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const e = this.#tar.lookup(blobPath(desc.digest));
    if (!e) {
      throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is missing from archive ${this.path}`, {
        details: { archive: this.path, digest: desc.digest },
      });
    }
    return verified(this.#tar.openRange(e), desc, `blob ${desc.digest} in archive ${this.path}`);
  }

  async close(): Promise<void> {
    await this.#tar.close();
  }
}
