import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../../errors.ts";
import { type FileRange, MAX_DOCUMENT_SIZE, verified } from "../blob.ts";
import { parseConfig } from "../config.ts";
import type { Descriptor } from "../descriptor.ts";
import { type Digest, DigestingStream, digestBytes } from "../digest.ts";
import { type Manifest, parseIndex, parseManifest, serialize } from "../manifest.ts";
import { isIndex, isManifest, MediaType, ociLayerType, sniffCompression } from "../mediatype.ts";
import { normalizeReference } from "../reference.ts";
import { blobPath, digestOfBlobPath } from "./blobpath.ts";
import { type DockerManifestEntry, parseDockerManifest } from "./docker-manifest.ts";
import {
  type ArchiveImage,
  type ArchiveSource,
  dockerNormalize,
  type OpenArchiveOptions,
  resolveImage,
} from "./source.ts";
import { type TarEntry, TarIndex } from "./tarindex.ts";

type Blob = { kind: "entry"; entry: TarEntry } | { kind: "bytes"; bytes: Buffer };

/**
 * Open a `docker save` archive (legacy per-layer folders, Docker 25+ with an OCI layout inside, or a
 * containerd-store export; plain, gzip or zstd). Images whose manifest the archive holds (Docker 25+) are
 * served with their original manifest bytes; the others get a synthesized OCI manifest.
 */
export async function openDockerArchive(
  path: string,
  options: OpenArchiveOptions = {},
): Promise<ArchiveSource> {
  const tar = await TarIndex.open(path, options);
  try {
    return await DockerArchiveSource.load(tar);
  } catch (err) {
    await tar.close();
    throw err;
  }
}

class DockerArchiveSource implements ArchiveSource {
  readonly format = "docker-archive" as const;
  readonly #tar: TarIndex;
  readonly #blobs = new Map<Digest, Blob>();
  #images: ArchiveImage[] = [];

  private constructor(tar: TarIndex) {
    this.#tar = tar;
  }

  get path(): string {
    return this.#tar.path;
  }

  static async load(tar: TarIndex): Promise<DockerArchiveSource> {
    const src = new DockerArchiveSource(tar);
    if (!tar.has("manifest.json")) {
      const hint = tar.has("index.json") ? " (it looks like an oci-archive)" : "";
      throw new BerthError(
        "ARCHIVE_INVALID",
        `archive ${tar.path} is not a docker archive: it has no manifest.json${hint}`,
        {
          details: { archive: tar.path },
        },
      );
    }
    const entries = parseDockerManifest(await tar.readEntry("manifest.json", MAX_DOCUMENT_SIZE), tar.path);
    const embedded = await src.embeddedManifests();
    for (const [i, e] of entries.entries()) {
      src.#images.push(await src.loadEntry(e, i, embedded));
    }
    return src;
  }

  images(): ArchiveImage[] {
    return this.#images.map((i) => ({ descriptor: { ...i.descriptor }, tags: [...i.tags] }));
  }

  async resolve(ref?: string): Promise<Descriptor> {
    return { ...resolveImage(this.path, this.#images, ref, dockerNormalize) };
  }

  async blobRange(desc: Descriptor): Promise<FileRange | undefined> {
    const blob = this.#blobs.get(desc.digest);
    const entry = blob
      ? blob.kind === "entry"
        ? blob.entry
        : undefined
      : safeBlobEntry(this.#tar, desc.digest);
    return entry ? { path: this.#tar.file, start: entry.offset, size: entry.size } : undefined;
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const what = `blob ${desc.digest} in archive ${this.path}`;
    let blob = this.#blobs.get(desc.digest);
    if (!blob) {
      const e = safeBlobEntry(this.#tar, desc.digest);
      if (e) blob = { kind: "entry", entry: e };
    }
    if (!blob) {
      throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is not in archive ${this.path}`, {
        details: { archive: this.path, digest: desc.digest },
      });
    }
    const raw = blob.kind === "bytes" ? Readable.from([blob.bytes]) : this.#tar.openRange(blob.entry);
    return verified(raw, desc, what);
  }

  async close(): Promise<void> {
    await this.#tar.close();
  }

  /** Manifests of the OCI layout inside the archive (Docker 25+, containerd), skipping what is missing. */
  private async embeddedManifests(): Promise<{ desc: Descriptor; manifest: Manifest; bytes: Buffer }[]> {
    const tar = this.#tar;
    if (!tar.has("index.json")) return [];
    const out: { desc: Descriptor; manifest: Manifest; bytes: Buffer }[] = [];
    const seen = new Set<string>();
    const read = async (desc: Descriptor): Promise<Buffer | undefined> => {
      const e = safeBlobEntry(tar, desc.digest);
      if (!e || e.size !== desc.size || e.size > MAX_DOCUMENT_SIZE) return undefined;
      const bytes = await tar.readEntry(e.name, MAX_DOCUMENT_SIZE);
      return digestBytes(bytes) === desc.digest ? bytes : undefined;
    };
    const visit = async (desc: Descriptor, depth: number): Promise<void> => {
      if (depth > 8 || seen.has(desc.digest)) return;
      seen.add(desc.digest);
      const bytes = await read(desc);
      if (!bytes) return;
      try {
        if (isIndex(desc.mediaType)) {
          for (const child of parseIndex(bytes, "index", desc.mediaType).manifests)
            await visit(child, depth + 1);
        } else if (isManifest(desc.mediaType)) {
          out.push({ desc, manifest: parseManifest(bytes, "manifest", desc.mediaType), bytes });
        }
      } catch {
        // Not ours to judge: manifest.json is what defines the archive's images.
      }
    };
    try {
      const index = parseIndex(await tar.readEntry("index.json", MAX_DOCUMENT_SIZE), "index.json");
      for (const d of index.manifests) await visit(d, 0);
    } catch {
      return out;
    }
    return out;
  }

  private async loadEntry(
    e: DockerManifestEntry,
    n: number,
    embedded: { desc: Descriptor; manifest: Manifest; bytes: Buffer }[],
  ): Promise<ArchiveImage> {
    const tar = this.#tar;
    const field = `manifest.json[${n}]`;
    const tags = e.RepoTags.map((t, j) => {
      try {
        return normalizeReference(t);
      } catch (err) {
        throw new BerthError(
          "ARCHIVE_INVALID",
          `archive ${this.path}: ${field}.RepoTags[${j}] ${JSON.stringify(t)} is not a valid image reference`,
          { cause: err, details: { archive: this.path } },
        );
      }
    });
    const configEntry = this.entryFor(e.Config, `${field}.Config`);
    const configBytes = await tar.readEntry(configEntry.name, MAX_DOCUMENT_SIZE, "config");
    const configDigest = digestBytes(configBytes);
    const named = digestOfBlobPath(configEntry.name);
    if (named && named !== configDigest) {
      throw new BerthError(
        "DIGEST_MISMATCH",
        `archive ${this.path}: config ${configEntry.name} has digest ${configDigest}, not the ${named} its name says`,
        { details: { archive: this.path, expected: named, actual: configDigest } },
      );
    }
    const config = parseConfig(configBytes, `config ${JSON.stringify(e.Config)} in archive ${this.path}`);
    if (config.rootfs.diff_ids.length !== e.Layers.length) {
      throw new BerthError(
        "ARCHIVE_INVALID",
        `archive ${this.path}: ${field}.Layers lists ${e.Layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`,
        { details: { archive: this.path } },
      );
    }
    const layerEntries = e.Layers.map((l, i) => this.entryFor(l, `${field}.Layers[${i}]`));

    // Docker 25+ and containerd: the archive holds the original manifest of these same blobs.
    const original = embedded.find(
      (m) =>
        m.manifest.config.digest === configDigest &&
        m.manifest.layers.length === layerEntries.length &&
        m.manifest.layers.every((l, i) => safeBlobEntry(tar, l.digest) === layerEntries[i]),
    );
    if (original) {
      return {
        descriptor: {
          mediaType: original.desc.mediaType,
          digest: original.desc.digest,
          size: original.desc.size,
        },
        tags,
      };
    }

    const configDesc: Descriptor = {
      mediaType: MediaType.OciConfig,
      digest: configDigest,
      size: configBytes.length,
    };
    this.#blobs.set(configDigest, { kind: "bytes", bytes: configBytes });
    const layers: Descriptor[] = [];
    for (const [i, entry] of layerEntries.entries()) {
      const compression = sniffCompression(await tar.head(entry, 4));
      let digest = digestOfBlobPath(entry.name);
      if (!digest && compression === "none") digest = config.rootfs.diff_ids[i]!;
      if (!digest) {
        const d = new DigestingStream();
        d.resume();
        await pipeline(tar.openRange(entry), d);
        digest = d.digest;
      }
      layers.push({ mediaType: ociLayerType(compression), digest, size: entry.size });
      if (!this.#blobs.has(digest)) this.#blobs.set(digest, { kind: "entry", entry });
    }
    const manifestBytes = serialize({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers,
    });
    const digest = digestBytes(manifestBytes);
    this.#blobs.set(digest, { kind: "bytes", bytes: manifestBytes });
    return { descriptor: { mediaType: MediaType.OciManifest, digest, size: manifestBytes.length }, tags };
  }

  private entryFor(name: string, field: string): TarEntry {
    const e = this.#tar.lookup(name);
    if (!e) {
      throw new BerthError(
        "ARCHIVE_INVALID",
        `archive ${this.path}: ${field} names ${JSON.stringify(name)}, which is not a file in the archive`,
        { details: { archive: this.path, entry: name } },
      );
    }
    return e;
  }
}

function safeBlobEntry(tar: TarIndex, digest: Digest): TarEntry | undefined {
  try {
    return tar.lookup(blobPath(digest));
  } catch {
    return undefined;
  }
}
