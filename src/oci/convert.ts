/**
 * An image manifest in the other format (skopeo's `copy --format oci|v2s2`): the same config and layer blobs,
 * their media types mapped, written as containers/image writes it (Go's field order: an OCI descriptor is
 * mediaType, digest, size; a Docker one mediaType, size, digest), so that the digest is skopeo's.
 */
import { Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import type { BlobSource } from "./blob.ts";
import type { Descriptor } from "./descriptor.ts";
import { digestBytes } from "./digest.ts";
import type { Image } from "./image.ts";
import { isDocker, layerCompression, MediaType, toDockerLayerType, toOciLayerType } from "./mediatype.ts";

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

/** The manifest bytes of `image` in `format`. */
function convertedManifest(image: Image, format: ManifestFormat): Buffer {
  const { config, layers } = image.manifest;
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
      config: f.entry(config, f.config),
      layers: layers.map((l) => f.entry(l, f.layer(l.mediaType))),
    }),
  );
}

/** `image` in `format`, or undefined when it is in it already. */
export function convertImage(image: Image, format: ManifestFormat): ConvertedImage | undefined {
  if (isDocker(image.mediaType) === (format === "v2s2")) return undefined;
  const manifest = convertedManifest(image, format);
  const descriptor: Descriptor = {
    mediaType: FORMATS[format].manifest,
    digest: digestBytes(manifest),
    size: manifest.length,
  };
  const base = image.source;
  const source: BlobSource = {
    openBlob: async (desc) => {
      if (desc.digest !== descriptor.digest) return base.openBlob(desc);
      return Readable.from([manifest]);
    },
    originOf: (desc) => (desc.digest === descriptor.digest ? undefined : (base.originOf?.(desc) ?? base)),
  };
  return { descriptor, manifest, source };
}
