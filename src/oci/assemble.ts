/**
 * Put an image together from a config and layers that live in different places (a base image, a previous app
 * image, files this process just wrote): the manifest and config are serialised once with a stable key order,
 * and the image's blob source serves each blob from where it lives, so nothing is copied until a sink needs it.
 * The result is an `Image` like any loaded one (go-containerregistry's `mutate.Append` returns a `v1.Image`);
 * `assembleIndex` does the same for an index of images (a multi-platform build's).
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { BerthError } from "../errors.ts";
import { type BlobSource, hasWrittenFiles, verified, type WrittenBlobSource } from "./blob.ts";
import type { ImageConfig } from "./config.ts";
import type { Descriptor } from "./descriptor.ts";
import { type Digest, digestBytes, verifyBytes } from "./digest.ts";
import { Image, ImageIndex } from "./image.ts";
import type { Index, Manifest } from "./manifest.ts";
import { MediaType, toDockerLayerType, toOciLayerType } from "./mediatype.ts";
import { normalizePlatform, type Platform } from "./platform.ts";

/** A layer of an assembled image and where its blob comes from. */
export interface AssembledLayer {
  /** As the manifest lists it (its media type turned to the manifest's family). */
  descriptor: Descriptor;
  diffId: Digest;
  /**
   * Serves the blob: the source it was found in, or a local file (`written`: this process wrote and hashed it,
   * so a sink on this machine may link it in instead of reading it again).
   */
  from: BlobSource | { file: string; written?: boolean };
}

export interface AssembleOptions {
  /** Docker's media types (a registry that stores Docker images gets one back); default OCI's. */
  docker?: boolean;
  /** The manifest's annotations (OCI manifests only). */
  annotations?: Record<string, string>;
}

/**
 * Layers with only their descriptors' content fields (media type, digest, size; no annotations or URLs), as
 * the CNB exporter lists them in the images it builds.
 */
export function contentLayers(layers: readonly AssembledLayer[]): AssembledLayer[] {
  return layers.map((l) => ({
    ...l,
    descriptor: { mediaType: l.descriptor.mediaType, digest: l.descriptor.digest, size: l.descriptor.size },
  }));
}

/**
 * An image of `config` (its `rootfs.diff_ids` replaced by the layers') and `layers`, base first. Each layer's
 * descriptor is listed as given, with its media type turned to the manifest's family.
 */
export function assemble(
  config: ImageConfig,
  layers: readonly AssembledLayer[],
  options: AssembleOptions = {},
): Image {
  const docker = options.docker ?? false;
  const cfg: ImageConfig = structuredClone({
    ...config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  });
  const configBytes = Buffer.from(JSON.stringify(cfg));
  const configDesc: Descriptor = {
    mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig,
    digest: digestBytes(configBytes),
    size: configBytes.length,
  };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: configDesc,
    layers: layers.map((l) => ({
      ...l.descriptor,
      mediaType: docker ? toDockerLayerType(l.descriptor.mediaType) : toOciLayerType(l.descriptor.mediaType),
    })),
  };
  if (!docker && options.annotations) manifest.annotations = options.annotations;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType!,
    digest: digestBytes(manifestBytes),
    size: manifestBytes.length,
  };
  const memory = new Map<string, Buffer>([
    [configDesc.digest, configBytes],
    [descriptor.digest, manifestBytes],
  ]);
  const where = new Map<string, AssembledLayer>();
  for (const l of layers) where.set(l.descriptor.digest, l);
  const source: WrittenBlobSource & Required<Pick<BlobSource, "readBlob">> = {
    async readBlob(desc: Descriptor): Promise<Buffer> {
      const bytes = memory.get(desc.digest);
      return bytes ? served(bytes, desc, `blob ${desc.digest}`) : buffer(await source.openBlob(desc));
    },
    async openBlob(desc: Descriptor): Promise<Readable> {
      const bytes = memory.get(desc.digest);
      if (bytes) return verified(Readable.from([bytes]), desc, `blob ${desc.digest}`);
      const l = where.get(desc.digest);
      if (!l) throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is not part of this image`);
      if ("file" in l.from) return verified(createReadStream(l.from.file), desc, `layer ${desc.digest}`);
      return l.from.openBlob({ ...l.descriptor });
    },
    originOf(desc: Descriptor): BlobSource | undefined {
      const l = where.get(desc.digest);
      if (!l || "file" in l.from) return undefined;
      return l.from.originOf?.(desc) ?? l.from;
    },
    writtenFile(desc: Descriptor): string | undefined {
      const l = where.get(desc.digest);
      if (!l) return undefined;
      // a layer served by a source: that source's file, if it wrote one (an imported layer it fetched)
      if (!("file" in l.from)) return hasWrittenFiles(l.from) ? l.from.writtenFile(desc) : undefined;
      if (!l.from.written) return undefined;
      return l.descriptor.size === desc.size ? l.from.file : undefined;
    },
  };
  return new Image(descriptor, manifestBytes, manifest, configBytes, cfg, source);
}

/**
 * A document this module serialised (a manifest, a config, an index), read whole (`readDocument`): checked
 * against the descriptor asked for as a stream of it would be, a copy. A no-change rebuild reads each cached
 * step's image so; through `Readable.from` and a verifying stream that cost ~1 ms of its ~95.
 */
function served(bytes: Buffer, desc: Descriptor, what: string): Buffer {
  verifyBytes(bytes, desc.digest, desc.size, what);
  return Buffer.from(bytes);
}

/**
 * An index entry listed with a platform and annotations of its own (an attestation manifest's; an image's
 * manifest-descriptor annotations). No platform: the image's own; no annotations, or none in them: none.
 */
export interface IndexEntry {
  image: Image;
  platform?: Platform | undefined;
  annotations?: Record<string, string> | undefined;
}

/**
 * An OCI image index of `images` (or entries), each listed with its platform (the image's own config's, normalised as
 * containerd does: arm64 without variant v8), in the order given. The index's source serves each child's
 * blobs from that child's source; nothing is copied until a sink needs it.
 */
export function assembleIndex(
  entries: readonly (Image | IndexEntry)[],
  annotations?: Record<string, string>,
): ImageIndex {
  const owner = new Map<string, Image>();
  const manifests: Descriptor[] = entries.map((entry) => {
    const image = "image" in entry ? entry.image : entry;
    for (const d of [image.descriptor, image.manifest.config, ...image.manifest.layers]) {
      if (!owner.has(d.digest)) owner.set(d.digest, image);
    }
    const platform = ("image" in entry ? entry.platform : undefined) ?? image.platform();
    const desc: Descriptor = {
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.descriptor.size,
    };
    if ("image" in entry && entry.annotations && Object.keys(entry.annotations).length)
      desc.annotations = entry.annotations;
    if (platform) desc.platform = normalizePlatform(platform);
    return desc;
  });
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  if (annotations && Object.keys(annotations).length) index.annotations = annotations;
  const bytes = Buffer.from(JSON.stringify(index));
  const descriptor: Descriptor = {
    mediaType: MediaType.OciIndex,
    digest: digestBytes(bytes),
    size: bytes.length,
  };
  const source: WrittenBlobSource & Required<Pick<BlobSource, "readBlob">> = {
    async readBlob(desc: Descriptor): Promise<Buffer> {
      if (desc.digest === descriptor.digest) return served(bytes, desc, "index");
      return buffer(await source.openBlob(desc));
    },
    async openBlob(desc: Descriptor): Promise<Readable> {
      if (desc.digest === descriptor.digest) return verified(Readable.from([bytes]), desc, "index");
      const image = owner.get(desc.digest);
      if (!image) throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is not part of this index`);
      return image.source.openBlob(desc);
    },
    originOf(desc: Descriptor): BlobSource | undefined {
      const s = owner.get(desc.digest)?.source;
      return s?.originOf?.(desc) ?? s;
    },
    writtenFile(desc: Descriptor): string | undefined {
      const s = owner.get(desc.digest)?.source;
      return hasWrittenFiles(s) ? s.writtenFile(desc) : undefined;
    },
  };
  return new ImageIndex(descriptor, bytes, index, source);
}
