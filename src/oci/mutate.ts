import { BerthError } from "../errors.ts";
import { type AssembledLayer, assemble } from "./assemble.ts";
import type { BlobSource } from "./blob.ts";
import type { ContainerConfig, History, ImageConfig } from "./config.ts";
import type { Digest } from "./digest.ts";
import type { Image } from "./image.ts";
import { isDocker, layerCompression } from "./mediatype.ts";
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
  /**
   * Serves the blob instead of the file, which may not be at `path` yet: a layer of an imported build cache,
   * fetched there only when a reader or a sink needs its bytes (a registry sink may mount it instead).
   */
  source?: BlobSource | undefined;
}

export interface Mutation {
  /** Layers to add on top, base first. */
  layers?: AddedLayer[];
  /** Change the execution parameters; receives a copy. */
  config?: (config: ContainerConfig) => ContainerConfig;
  platform?: Platform | undefined;
  /** RFC 3339 creation time for the config and the added history entries; default: the base's. */
  created?: string;
  /** History entries for config-only changes (`empty_layer: true`). */
  history?: History[];
  /** The image's `author`. */
  author?: string | undefined;
  /** Top-level config fields to set (BuildKit's inline cache, `moby.buildkit.cache.v0`). */
  fields?: Record<string, unknown>;
  /** The manifest's annotations, over the base's (an OCI manifest: `oci`). */
  annotations?: Record<string, string> | undefined;
  /**
   * OCI media types even over a Docker base (the manifest that holds annotations: BuildKit's exporter turns to
   * them for annotations too).
   */
  oci?: boolean | undefined;
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
 * Derive a new image from `base` (undefined: scratch): `assemble` over the base's layers and the added ones.
 * Content that stays is referenced, not copied; the new config and manifest are serialised once, with keys in
 * a stable order, so the same inputs give the same digests. The manifest keeps the base's family (OCI or
 * Docker) unless a new layer needs OCI (zstd).
 */
export function mutate(base: Image | undefined, m: Mutation, hostPlatform?: Platform): Image {
  if (base && !base.config) {
    throw new BerthError(
      "MEDIA_TYPE_UNSUPPORTED",
      `${base.digest} is not an image (its config is ${base.manifest.config.mediaType})`,
    );
  }
  // Only the config's own fields are set below (history is a new array, `config` the callback's own copy):
  // a shallow copy is enough, as `assemble` copies the whole config it is given (one deep copy, not two).
  const config: ImageConfig = base?.config ? { ...base.config } : scratchConfig(m.platform ?? hostPlatform);
  const added = m.layers ?? [];
  const created = m.created ?? config.created ?? EPOCH;
  config.created = created;
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

  const docker =
    base && !m.oci && !m.annotations
      ? isDocker(base.mediaType) && added.every((l) => layerCompression(l.mediaType) !== "zstd")
      : false;
  const baseLayers: AssembledLayer[] = base
    ? base.manifest.layers.map((d, i) => ({
        descriptor: d,
        diffId: base.config!.rootfs.diff_ids[i]!,
        from: base.source,
      }))
    : [];
  const addedLayers: AssembledLayer[] = added.map((l) => ({
    descriptor: { mediaType: l.mediaType, digest: l.digest, size: l.size },
    diffId: l.diffId,
    from: l.source ?? { file: l.path, ...(l.written ? { written: true } : {}) },
  }));
  const annotations =
    base?.manifest.annotations || m.annotations
      ? { ...base?.manifest.annotations, ...m.annotations }
      : undefined;
  return assemble(config, [...baseLayers, ...addedLayers], {
    docker,
    ...(!docker && annotations ? { annotations } : {}),
  });
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
