/**
 * The export phase (Platform API §exporter; lc:phase/exporter.go): the app image is the run image's layers,
 * then one layer per launch layer (buildpacks in group order, layers by name), the launch SBOM layer, the app
 * layers (slices, then the rest), the launcher, the launch config and the process-type links, with the
 * lifecycle's labels and launch configuration; and the cache gets the cache layers.
 *
 * The steps are in `export/`: `buildpacks.ts` (the buildpacks' and SBOM layers), `app.ts` (slices),
 * `launcher.ts` (launcher, config, process types), `config.ts` (the image config and labels); each layer is
 * found or made by `layer.ts` without wasted work.
 *
 * Every layer tar is written as the lifecycle's layer writer writes it (absolute entry names, no trailing `/`
 * on directories; USTAR headers, no user or group names), so that the same files give the same diffID.
 */
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { wrapError } from "../../errors.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import type { Digest } from "../../oci/digest.ts";
import type { Image } from "../../oci/image.ts";
import type { CacheLayerFiles } from "../cache/cache.ts";
import type { BuildMetadataLabel, CacheMetadata, LayersMetadata } from "../files/labels.ts";
import { readMetadata } from "../files/metadata.ts";
import { appLayers } from "./export/app.ts";
import { buildpackLayers, sbomLayers } from "./export/buildpacks.ts";
import { buildMetadataLabel, imageOf, runImageRecords } from "./export/config.ts";
import type { ExportContext, ExportInputs } from "./export/context.ts";
import { defaultProcessOf, launcherLayers } from "./export/launcher.ts";
import { DEFAULT_CREATED, type ExportStats, LayerMaker, LIFECYCLE_EPOCH } from "./export/layer.ts";

export type { LauncherInput } from "../launch/index.ts";
export { runImageForExport } from "./export/config.ts";
export type { BlobHolder, ExportInputs, PreviousImage, RunImageInput } from "./export/context.ts";
export { DEFAULT_CREATED, type ExportStats, LIFECYCLE_EPOCH } from "./export/layer.ts";

export interface ExportResult {
  image: Image;
  metadata: LayersMetadata;
  buildMetadata: BuildMetadataLabel;
  defaultProcess: string | undefined;
  /** What the cache should hold after this build (nothing when there is no cache). */
  cache: { metadata: CacheMetadata; layers: CacheLayerFiles[] } | undefined;
  /** New blobs (diffID → descriptor), to remember once the image is saved. */
  newBlobs: { diffId: Digest; descriptor: Descriptor }[];
  stats: ExportStats;
}

/** The exporter: built from resolved inputs, `export()` returns the image and the cache contents. */
export class Exporter {
  readonly inputs: ExportInputs;

  constructor(inputs: ExportInputs) {
    this.inputs = inputs;
  }

  async export(): Promise<ExportResult> {
    const x = await this.#context();
    const md = await readMetadata(x.i.layersDir).catch((err) => {
      throw wrapError("reading the build metadata", err);
    });
    const buildpacks = await buildpackLayers(x);
    const sbom = await sbomLayers(x);
    const app = await appLayers(x, md.slices);
    const launch = await launcherLayers(x, md.processes);
    const metadata: LayersMetadata = {
      ...(sbom.launch ? { sbom: sbom.launch } : {}),
      app,
      ...launch,
      buildpacks: buildpacks.records,
      ...runImageRecords(x, md),
    };
    const defaultProcess = defaultProcessOf(x, md);
    const buildMetadata = buildMetadataLabel(x, md);
    const image = imageOf(x, md, { metadata, build: buildMetadata }, defaultProcess);
    const cache: ExportResult["cache"] = x.i.cache && {
      metadata: {
        ...(sbom.cache ? { sbom: sbom.cache } : {}),
        buildpacks: buildpacks.cacheRecords.filter((b) => Object.keys(b.layers).length > 0),
      },
      layers: x.cacheFiles,
    };
    return {
      image,
      metadata,
      buildMetadata,
      defaultProcess,
      cache,
      newBlobs: x.maker.newBlobs,
      stats: x.maker.stats,
    };
  }

  async #context(): Promise<ExportContext> {
    const i = this.inputs;
    const tmp = await mkdtemp(join(i.workDir, "export-"));
    return {
      i,
      maker: new LayerMaker(i, tmp),
      layersPath: i.layersPath ?? "/layers",
      appPath: i.appPath ?? "/workspace",
      created: i.created ?? DEFAULT_CREATED,
      plan: { uid: i.uid, gid: i.gid, mtime: LIFECYCLE_EPOCH },
      planSalt: `${i.uid}:${i.gid}:${LIFECYCLE_EPOCH}`,
      tmp,
      cacheMeta: i.cache ? await i.cache.metadata() : undefined,
      layers: [],
      history: [],
      cacheFiles: [],
    };
  }
}
