/**
 * An image manifest in the other format (skopeo's `copy --format oci|v2s2`): the same layer blobs, their media
 * types mapped, written as containers/image writes it (Go's field order: an OCI descriptor is mediaType, digest,
 * size; a Docker one mediaType, size, digest), so that the digest is skopeo's. To OCI, a Docker config is
 * rewritten as skopeo rewrites it (`go-config.ts`); to Docker's, the config's bytes are kept, as skopeo keeps them.
 */
import { Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import type { BlobSource } from "./blob.ts";
import type { Descriptor } from "./descriptor.ts";
import { digestBytes } from "./digest.ts";
import { ociConfigAsGo } from "./go-config.ts";
import { type Image, type ImageIndex, loadImage } from "./image.ts";
import {
  isDocker,
  isIndex,
  layerCompression,
  MediaType,
  toDockerLayerType,
  toOciLayerType,
} from "./mediatype.ts";
import { hostPlatform, type Platform } from "./platform.ts";

export type ManifestFormat = "oci" | "v2s2";

export interface ConvertedImage {
  descriptor: Descriptor;
  manifest: Buffer;
  /** Serves the new manifest, and every other blob from the image's own source. */
  source: BlobSource;
}

function ociDescriptor(d: Descriptor, mediaType: string): Record<string, unknown> {
  return {
    mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls?.length ? { urls: d.urls } : {}),
    ...(d.annotations && Object.keys(d.annotations).length ? { annotations: d.annotations } : {}),
  };
}

function dockerDescriptor(d: Descriptor, mediaType: string): Record<string, unknown> {
  return { mediaType, size: d.size, digest: d.digest, ...(d.urls?.length ? { urls: d.urls } : {}) };
}

/** What each format's manifest is made of. */
const FORMATS = {
  oci: {
    manifest: MediaType.OciManifest,
    config: MediaType.OciConfig,
    layer: toOciLayerType,
    entry: ociDescriptor,
  },
  v2s2: {
    manifest: MediaType.DockerManifest,
    config: MediaType.DockerConfig,
    layer: toDockerLayerType,
    entry: dockerDescriptor,
  },
} as const;

/** The manifest bytes of `image` in `format`, with `config` (a rewritten one) for the image's. */
function convertedManifest(image: Image, format: ManifestFormat, config: Descriptor | undefined): Buffer {
  const { layers } = image.manifest;
  const zstd = layers.find((l) => layerCompression(l.mediaType) === "zstd");
  if (format === "v2s2" && zstd) {
    throw new BerthError(
      "USAGE",
      `--format v2s2: layer ${zstd.digest} is zstd, which Docker's format has not`,
      {
        hint: "add --dest-compress-format gzip",
      },
    );
  }
  const f = FORMATS[format];
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: f.manifest,
      config: f.entry(config ?? image.manifest.config, f.config),
      layers: layers.map((l) => f.entry(l, f.layer(l.mediaType))),
    }),
  );
}

/**
 * `image` in `format`, or undefined when it is in it already. `dockerConfig`: the image's config is Docker's
 * though its manifest is OCI's (a docker-archive's image, which skopeo reads as Docker's), so that to OCI the
 * config is rewritten all the same.
 */
export function convertImage(
  image: Image,
  format: ManifestFormat,
  dockerConfig = false,
): ConvertedImage | undefined {
  const docker = isDocker(image.mediaType);
  if (docker === (format === "v2s2") && !(format === "oci" && dockerConfig)) return undefined;
  const made = new Map<string, Buffer>();
  let config: Descriptor | undefined;
  if (format === "oci" && image.rawConfig) {
    const bytes = ociConfigAsGo(image.rawConfig, `config ${image.manifest.config.digest}`);
    config = { mediaType: MediaType.OciConfig, digest: digestBytes(bytes), size: bytes.length };
    made.set(config.digest, bytes);
  }
  const manifest = convertedManifest(image, format, config);
  const descriptor: Descriptor = {
    mediaType: FORMATS[format].manifest,
    digest: digestBytes(manifest),
    size: manifest.length,
  };
  made.set(descriptor.digest, manifest);
  const base = image.source;
  const source: BlobSource = {
    openBlob: async (desc) => {
      const bytes = made.get(desc.digest);
      return bytes ? Readable.from([bytes]) : base.openBlob(desc);
    },
    originOf: (desc) => (made.has(desc.digest) ? undefined : (base.originOf?.(desc) ?? base)),
  };
  return { descriptor, manifest, source };
}

/** An image or index as written: the root's descriptor and a source serving it and its blobs. */
export interface Rewritten {
  source: BlobSource;
  descriptor: Descriptor;
}

/** A platform in Go's field order (containers/image's OCI and Docker platform structs agree). */
function platformFields(p: Platform, docker: boolean): Record<string, unknown> {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p["os.version"] ? { "os.version": p["os.version"] } : {}),
    ...(p["os.features"]?.length ? { "os.features": p["os.features"] } : {}),
    ...(p.variant ? { variant: p.variant } : {}),
    ...(docker && p.features?.length ? { features: p.features } : {}),
  };
}

/**
 * The index bytes of `children` in `format`: an OCI image index or a Docker manifest list, whose every entry
 * has a platform: this machine's OS and architecture where the child names none, as containers/image's
 * `ToSchema2List` fills in Go's runtime.GOOS/GOARCH.
 */
function indexBytes(index: ImageIndex, children: Descriptor[], format: ManifestFormat): Buffer {
  if (format === "v2s2") {
    const host = hostPlatform();
    const manifests = children.map((c) => ({
      ...dockerDescriptor(c, c.mediaType),
      platform: platformFields(c.platform ?? { architecture: host.architecture, os: host.os }, true),
    }));
    return Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests }),
    );
  }
  const manifests = children.map((c) => ({
    ...ociDescriptor(c, c.mediaType),
    ...(c.platform ? { platform: platformFields(c.platform, false) } : {}),
  }));
  const annotations = isDocker(index.mediaType) ? undefined : index.index.annotations;
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests,
      ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
    }),
  );
}

/**
 * Every image of `index` rewritten by `each` (converted, recompressed) and the index written again with their
 * new digests and sizes, in `format` (default: the index's own), as skopeo's `copy --all` does; the platforms
 * are kept. Undefined when nothing changes. A nested index is refused, as skopeo 1.9.3 refuses it, unless
 * `keepNested` (`--multi-arch index-only`, which rewrites no child): then it is named as it is.
 */
export async function rewriteIndex(
  index: ImageIndex,
  format: ManifestFormat | undefined,
  each: (image: Image) => Promise<Rewritten>,
  keepNested = false,
): Promise<Rewritten | undefined> {
  const target = format ?? (isDocker(index.mediaType) ? "v2s2" : "oci");
  const children: Descriptor[] = [];
  const owners = new Map<string, BlobSource>();
  for (const m of index.index.manifests) {
    if (isIndex(m.mediaType)) {
      if (keepNested) {
        children.push(m);
        continue;
      }
      throw new BerthError(
        "USAGE",
        `index ${index.digest} lists another index (${m.digest}), whose images berth does not rewrite, as skopeo 1.9.3 does not`,
        { hint: "copy it without --format and --dest-compress-format, or the nested index on its own" },
      );
    }
    const made = await each(await loadImage(index.source, m));
    const image = await loadImage(made.source, made.descriptor);
    for (const d of [made.descriptor, image.manifest.config, ...image.manifest.layers])
      owners.set(d.digest, made.source);
    children.push({
      ...m,
      mediaType: made.descriptor.mediaType,
      digest: made.descriptor.digest,
      size: made.descriptor.size,
    });
  }
  const same = children.every((c, i) => c.digest === index.index.manifests[i]!.digest);
  if (same && isDocker(index.mediaType) === (target === "v2s2")) return undefined;
  const bytes = indexBytes(index, children, target);
  const descriptor: Descriptor = {
    mediaType: target === "v2s2" ? MediaType.DockerManifestList : MediaType.OciIndex,
    digest: digestBytes(bytes),
    size: bytes.length,
  };
  const base = index.source;
  const source: BlobSource = {
    openBlob: async (desc) => {
      if (desc.digest === descriptor.digest) return Readable.from([bytes]);
      return (owners.get(desc.digest) ?? base).openBlob(desc);
    },
    originOf: (desc) => {
      if (desc.digest === descriptor.digest) return undefined;
      const owner = owners.get(desc.digest) ?? base;
      return owner.originOf ? owner.originOf(desc) : owner;
    },
  };
  return { source, descriptor };
}
