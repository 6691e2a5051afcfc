import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import { type BlobSource, verified, type WrittenBlobSource } from "./blob.ts";
import type { ContainerConfig, History, ImageConfig } from "./config.ts";
import type { Descriptor } from "./descriptor.ts";
import { type Digest, digestBytes } from "./digest.ts";
import type { Image } from "./image.ts";
import type { Manifest } from "./manifest.ts";
import { isDocker, layerCompression, MediaType, toDockerLayerType, toOciLayerType } from "./mediatype.ts";
import type { Platform } from "./platform.ts";

/** A layer made on this machine, waiting in a file. */
export interface AddedLayer {
  /** File holding the blob as it will be stored. */
  path: string;
  mediaType: string;
  digest: Digest;
  size: number;
  diffId: Digest;
  history?: History;
  /**
   * The file was written by this process, its digest and size computed over the bytes as they were written
   * (`buildLayer`): a sink on this machine may link it in rather than copy and hash it again.
   */
  written?: boolean;
}

export interface Mutation {
  /** Layers to add on top, base first. */
  layers?: AddedLayer[];
  /** Change the execution parameters; receives a copy. */
  config?: (config: ContainerConfig) => ContainerConfig;
  platform?: Platform;
  /** RFC 3339 creation time for the config and the added history entries; default: the base's. */
  created?: string;
  /** History entries for config-only changes (`empty_layer: true`). */
  history?: History[];
  /** The image's `author`. */
  author?: string;
  /** Top-level config fields to set (BuildKit's inline cache, `moby.buildkit.cache.v0`). */
  fields?: Record<string, unknown>;
}

/** A new image: its root descriptor and a blob source that serves its new blobs and the base's old ones. */
export interface MutatedImage {
  descriptor: Descriptor;
  manifest: Buffer;
  config: Buffer;
  source: BlobSource;
}

export const EPOCH = "1970-01-01T00:00:00Z";

function scratchConfig(platform: Platform | undefined): ImageConfig {
  const cfg: ImageConfig = {
    created: EPOCH,
    architecture: platform?.architecture ?? "amd64",
    os: platform?.os ?? "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
  if (platform?.variant) cfg.variant = platform.variant;
  return cfg;
}

/**
 * Derive a new image from `base` (undefined: scratch). Content that stays is referenced, not copied; the new
 * config and manifest are serialised once, with keys in a stable order, so the same inputs give the same
 * digests. The manifest keeps the base's family (OCI or Docker) unless a new layer needs OCI (zstd).
 */
export function mutate(base: Image | undefined, m: Mutation, hostPlatform?: Platform): MutatedImage {
  if (base && !base.config) {
    throw new BerthError(
      "MEDIA_TYPE_UNSUPPORTED",
      `${base.digest} is not an image (its config is ${base.manifest.config.mediaType})`,
    );
  }
  const config: ImageConfig = base?.config
    ? structuredClone(base.config)
    : scratchConfig(m.platform ?? hostPlatform);
  const added = m.layers ?? [];
  const created = m.created ?? config.created ?? EPOCH;
  config.created = created;
  config.rootfs = { type: "layers", diff_ids: [...config.rootfs.diff_ids, ...added.map((l) => l.diffId)] };
  const history = config.history ? [...config.history] : [];
  for (const l of added) history.push({ created, ...l.history });
  for (const h of m.history ?? []) history.push({ created, ...h, empty_layer: true });
  config.history = history;
  if (m.config) config.config = m.config(structuredClone(config.config ?? {}));
  if (m.author !== undefined) config.author = m.author;
  for (const [k, v] of Object.entries(m.fields ?? {})) config[k] = v;
  if (m.platform) {
    config.os = m.platform.os;
    config.architecture = m.platform.architecture;
    if (m.platform.variant) config.variant = m.platform.variant;
    else delete config.variant;
  }

  const docker = base
    ? isDocker(base.mediaType) && added.every((l) => layerCompression(l.mediaType) !== "zstd")
    : false;
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = {
    mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig,
    digest: digestBytes(configBytes),
    size: configBytes.length,
  };
  const baseLayers = base?.manifest.layers ?? [];
  const layers: Descriptor[] = [
    ...baseLayers.map((l) => ({
      ...l,
      mediaType: docker ? toDockerLayerType(l.mediaType) : toOciLayerType(l.mediaType),
    })),
    ...added.map((l) => ({
      mediaType: docker ? toDockerLayerType(l.mediaType) : l.mediaType,
      digest: l.digest,
      size: l.size,
    })),
  ];
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: configDesc,
    layers,
  };
  if (!docker && base?.manifest.annotations) manifest.annotations = base.manifest.annotations;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType!,
    digest: digestBytes(manifestBytes),
    size: manifestBytes.length,
  };
  const files = new Map(added.map((l) => [l.digest, l.path]));
  const written = new Map(added.filter((l) => l.written).map((l) => [l.digest, l]));
  const memory = new Map<string, Buffer>([
    [configDesc.digest, configBytes],
    [descriptor.digest, manifestBytes],
  ]);
  const source: WrittenBlobSource = {
    writtenFile(desc: Descriptor): string | undefined {
      const l = written.get(desc.digest);
      return l !== undefined && l.size === desc.size ? l.path : undefined;
    },
    async openBlob(desc: Descriptor): Promise<Readable> {
      const bytes = memory.get(desc.digest);
      if (bytes) {
        return verified(Readable.from([bytes]), desc, `blob ${desc.digest}`);
      }
      const path = files.get(desc.digest);
      if (path) return verified(createReadStream(path), desc, `layer ${desc.digest}`);
      if (base) return base.source.openBlob(desc);
      throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is not part of this image`);
    },
  };
  return { descriptor, manifest: manifestBytes, config: configBytes, source };
}

/** Set or replace `KEY=VALUE` entries in an Env list, keeping order. */
export function setEnv(env: readonly string[] | undefined, changes: readonly string[]): string[] {
  const out = [...(env ?? [])];
  for (const change of changes) {
    const key = change.slice(0, change.indexOf("="));
    const i = out.findIndex((e) => e.slice(0, e.indexOf("=")) === key);
    if (i >= 0) out[i] = change;
    else out.push(change);
  }
  return out;
}
