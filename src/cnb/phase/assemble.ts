/**
 * Put an image together from a config and layers that live in different places (a run image, a previous app
 * image, files export just wrote): the manifest and config are serialised once with a stable key order, and
 * the image's blob source serves each blob from where it lives, so nothing is copied until a sink needs it.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { BerthError } from "../../errors.ts";
import { type BlobSource, verified } from "../../oci/blob.ts";
import type { ImageConfig } from "../../oci/config.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { type Digest, digestBytes } from "../../oci/digest.ts";
import type { Manifest } from "../../oci/manifest.ts";
import { MediaType, toDockerLayerType, toOciLayerType } from "../../oci/mediatype.ts";

/** A layer of an assembled image and where its blob comes from. */
export interface AssembledLayer {
  descriptor: Descriptor;
  diffId: Digest;
  /** Serves the blob: the image it was found in, or a file. */
  from: BlobSource | { file: string };
}

export interface AssembledImage {
  descriptor: Descriptor;
  manifest: Buffer;
  config: Buffer;
  parsedConfig: ImageConfig;
  source: BlobSource;
  layers: AssembledLayer[];
}

/**
 * `config.rootfs.diff_ids` is replaced by the layers' diffIDs; `docker` picks Docker's media types (kept from
 * the run image, so a registry that stores Docker images gets one back), else OCI's.
 */
export function assembleImage(
  config: ImageConfig,
  layers: readonly AssembledLayer[],
  options: { docker: boolean; annotations?: Record<string, string> },
): AssembledImage {
  const cfg: ImageConfig = { ...config, rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) } };
  const configBytes = Buffer.from(JSON.stringify(cfg));
  const configDesc: Descriptor = {
    mediaType: options.docker ? MediaType.DockerConfig : MediaType.OciConfig,
    digest: digestBytes(configBytes),
    size: configBytes.length,
  };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: options.docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: configDesc,
    layers: layers.map((l) => ({
      mediaType: options.docker
        ? toDockerLayerType(l.descriptor.mediaType)
        : toOciLayerType(l.descriptor.mediaType),
      digest: l.descriptor.digest,
      size: l.descriptor.size,
    })),
  };
  if (!options.docker && options.annotations && Object.keys(options.annotations).length > 0) {
    manifest.annotations = options.annotations;
  }
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
  const source: BlobSource = {
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
  };
  return {
    descriptor,
    manifest: manifestBytes,
    config: configBytes,
    parsedConfig: cfg,
    source,
    layers: [...layers],
  };
}
