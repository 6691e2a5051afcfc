/**
 * What the exporter's steps share: the resolved inputs, the layer maker, where images paths and times come
 * from, and the image and cache layers as they are added (in the image's order).
 */
import { BerthError } from "../../../errors.ts";
import type { AssembledLayer } from "../../../oci/assemble.ts";
import type { BlobSource } from "../../../oci/blob.ts";
import type { History } from "../../../oci/config.ts";
import type { Descriptor } from "../../../oci/descriptor.ts";
import type { Image } from "../../../oci/image.ts";
import type { Cache, CacheLayerFiles } from "../../cache/cache.ts";
import type { LayerIndex } from "../../cache/fingerprint.ts";
import type { GroupEntry } from "../../files/group.ts";
import type { CacheMetadata, LayersMetadata } from "../../files/labels.ts";
import type { LauncherInput } from "../../launch/index.ts";
import type { Table } from "../../toml.ts";
import type { LayerMaker } from "./layer.ts";

/** The run image the app goes on. */
export interface RunImageInput {
  image: Image;
  /** What to pull it by, pinned: `registry/repo@sha256:…` (or the store name with digest). */
  reference: string;
  /** The name as configured (run.toml `image`, or `--run-image`). */
  name: string;
  mirrors?: string[];
  /** The run image's own top layer, when `image` is the run image extended by image extensions. */
  topLayer?: string;
}

/** The image being replaced (default: the image being built), for layer reuse. */
export interface PreviousImage {
  image: Image;
  metadata: LayersMetadata;
}

export interface BlobHolder {
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Serves the blob, or undefined when the holder is the destination itself (the copy then skips it). */
  source: BlobSource | undefined;
}

export interface ExportInputs {
  /** Host directory of `<layers>`. */
  layersDir: string;
  /** Host directory of `<app>`. */
  appDir: string;
  group: readonly GroupEntry[];
  runImage: RunImageInput;
  /** The builder's run images (run.toml), recorded as the lifecycle's exporter records them (runImageForExport). */
  runImages?: readonly { image: string; mirrors?: string[] }[];
  previous?: PreviousImage | undefined;
  /** The cache to fill (undefined: no cache). */
  cache?: Cache;
  /** Fingerprint → diffID → blob maps. */
  index: LayerIndex;
  /** Where new blobs and cache tars are written until saved. */
  workDir: string;
  launcher: LauncherInput;
  /** Owner of the layers and app files (CNB_USER_ID / CNB_GROUP_ID of the build image). */
  uid: number;
  gid: number;
  /** RFC 3339; default 1980-01-01T00:00:01Z. */
  created?: string | undefined;
  /** Overrides the buildpacks' default process (`--default-process`). */
  defaultProcess?: string | undefined;
  /** `io.buildpacks.project.metadata`. */
  projectMetadata?: Table;
  platformApi: string;
  /** Other places that may hold a blob the layer index knows (the local store, the destination). */
  blobHolders?: readonly BlobHolder[];
  /** Image paths; defaults /layers and /workspace. */
  layersPath?: string;
  appPath?: string;
  log?: (line: string) => void;
  warn?: (line: string) => void;
  signal?: AbortSignal | undefined;
}

export interface ExportContext {
  readonly i: ExportInputs;
  readonly maker: LayerMaker;
  readonly layersPath: string;
  readonly appPath: string;
  readonly created: string;
  /** Owner and time of every entry of a layer of the layers or app directory. */
  readonly plan: { uid: number; gid: number; mtime: number };
  /** What the plan adds to a fingerprint. */
  readonly planSalt: string;
  /** A scratch folder of this export. */
  readonly tmp: string;
  /** The cache's metadata before this export. */
  readonly cacheMeta: CacheMetadata | undefined;
  /** The app image's layers after the run image's, with their history. */
  readonly layers: AssembledLayer[];
  readonly history: History[];
  /** What the cache gets. */
  readonly cacheFiles: CacheLayerFiles[];
}

/** Add a layer to the image, with its history entry. */
export function addLayer(x: ExportContext, layer: AssembledLayer | undefined, createdBy: string): void {
  if (!layer) throw new BerthError("INTERNAL", `export: layer '${createdBy}' has no blob`);
  x.layers.push(layer);
  x.history.push({ created: x.created, created_by: createdBy });
}
