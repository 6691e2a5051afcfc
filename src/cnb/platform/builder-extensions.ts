/**
 * Image extensions in builders, as pack writes and the lifecycle reads them: builder.toml's `[[extensions]]`
 * (uri, id, version) become one layer each at `/cnb/extensions/<id with / as _>/<version>/` (pack's
 * `toDistTar` modes), `[[order-extensions]]` goes into `/cnb/order.toml`, and the labels
 * `io.buildpacks.extension.layers`, `io.buildpacks.buildpack.order-extensions` and the `extensions` list of
 * `io.buildpacks.builder.metadata` name them. `extractBuilder` reads them back from the builder's `/cnb`.
 */
import { join } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import type { AddedLayer } from "../../oci/mutate.ts";
import { bpKey, type Order } from "../buildpack/descriptor.ts";
import { loadExtension, scanExtensionsDir } from "../buildpack/extension.ts";
import type { LoadedBuildpack, ModuleLayers } from "../buildpack/load.ts";
import { BuildpackStore } from "../buildpack/store.ts";
import { labelJson } from "../image.ts";
import type { PhaseLogger } from "../log.ts";
import {
  type BuilderInfo,
  type BuilderMetadata,
  buildpackLayer,
  type ModuleInfo,
  moduleInfo,
  moduleLayerInfo,
  resolveOrder,
} from "./builder.ts";
import { type BuilderConfig, configDir } from "./builder-config.ts";

export const EXTENSION_LAYERS_LABEL = "io.buildpacks.extension.layers";

export interface BuilderExtensions {
  loaded: LoadedBuildpack[];
  store: BuildpackStore;
  /** `[[order-extensions]]` with versions filled in. */
  orderExtensions: Order;
}

/** Load builder.toml's `[[extensions]]` and resolve its `[[order-extensions]]` against them. */
export async function loadBuilderExtensions(
  config: BuilderConfig,
  tmp: string,
  logger: PhaseLogger,
): Promise<BuilderExtensions> {
  const loaded: LoadedBuildpack[] = [];
  for (const [i, m] of config.extensions.entries()) {
    const where = `builder config ${config.file}: extensions[${i}] (${m.uri ?? m.image})`;
    if (m.image) {
      throw new BerthError("CNB_CONFIG_INVALID", `${where}: extension images are not supported`, {
        hint: "give the extension's folder or archive as uri",
      });
    }
    let ext: LoadedBuildpack;
    try {
      ext = await loadExtension(m.uri!, { relativeTo: configDir(config), tmp });
    } catch (err) {
      throw wrapError(where, err);
    }
    const { id, version } = ext.descriptor.buildpack;
    if (m.id && (m.id !== id || (m.version && m.version !== version))) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `${where}: holds extension ${bpKey(id, version)}, not ${bpKey(m.id, m.version)}`,
      );
    }
    for (const w of ext.descriptor.warnings ?? []) logger.warn(w);
    loaded.push(ext);
  }
  const store = new BuildpackStore(loaded);
  let orderExtensions: Order;
  try {
    orderExtensions = resolveOrder(config.orderExtensions, store).map((g) => ({
      group: g.group.map((r) => ({ ...r, extension: true })),
    }));
  } catch (err) {
    throw wrapError(`builder config ${config.file}: order-extensions`, err);
  }
  return { loaded, store, orderExtensions };
}

/** Add one layer per extension (sorted by id@version, as pack); returns `io.buildpacks.extension.layers`. */
export async function addExtensionLayers(
  base: Image,
  exts: BuilderExtensions,
  layerTmp: string,
  add: (l: Omit<AddedLayer, "history">, createdBy: string) => void,
  logger: PhaseLogger,
): Promise<ModuleLayers | undefined> {
  const existing = labelJson<ModuleLayers>(base, EXTENSION_LAYERS_LABEL, "build image");
  const all = exts.store.all();
  if (all.length === 0) return existing;
  const out: ModuleLayers = structuredClone(existing ?? {});
  const key = (b: LoadedBuildpack) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version);
  const sorted = [...all].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  for (const [i, ext] of sorted.entries()) {
    const d = ext.descriptor;
    const l = await buildpackLayer(ext, join(layerTmp, `ext-${i}.tar`));
    add(l, `berth builder create: extension ${key(ext)}`);
    out[d.buildpack.id] ??= {};
    out[d.buildpack.id]![d.buildpack.version] = moduleLayerInfo(d, l.diffId);
    logger.debug(`Adding extension ${key(ext)} (diffID=${l.diffId})`);
  }
  return out;
}

/** The `extensions` of `io.buildpacks.builder.metadata` (pack: null when there are none). */
export function extensionInfos(
  prev: BuilderMetadata | undefined,
  exts: BuilderExtensions,
): ModuleInfo[] | null {
  const infos = [...(prev?.extensions ?? [])];
  for (const e of exts.loaded) {
    const mi = moduleInfo(e.descriptor);
    if (!infos.some((x) => x.id === mi.id && x.version === mi.version)) infos.push(mi);
  }
  return infos.length ? infos : null;
}

/** Indexes of the builder's layers that hold extensions. */
export function extensionLayerIndexes(info: BuilderInfo): number[] {
  const layers = labelJson<ModuleLayers>(info.image, EXTENSION_LAYERS_LABEL, `builder ${info.name}`) ?? {};
  const diffIds = info.image.config?.rootfs.diff_ids ?? [];
  const out: number[] = [];
  for (const versions of Object.values(layers)) {
    for (const v of Object.values(versions)) {
      const i = diffIds.indexOf(v.layerDiffID);
      if (i < 0) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `builder ${info.name}: no layer has diffID ${v.layerDiffID} named in ${EXTENSION_LAYERS_LABEL}`,
        );
      }
      out.push(i);
    }
  }
  return out;
}

/** The extensions of an extracted builder: `/cnb/extensions` and the order (order.toml's, else the label's). */
export async function extractedExtensions(
  info: BuilderInfo,
  cnbDir: string,
  fromOrderToml: Order | undefined,
): Promise<{ extensionsDir: string; extensions: BuildpackStore; orderExtensions: Order }> {
  const extensionsDir = join(cnbDir, "extensions");
  const extensions = new BuildpackStore(await scanExtensionsDir(extensionsDir, `builder ${info.name}`));
  let order = fromOrderToml;
  if (!order?.length) {
    order = extensions.all().length ? resolveOrder(info.orderExtensionsLabel, extensions) : [];
  }
  return {
    extensionsDir,
    extensions,
    orderExtensions: order.map((g) => ({ group: g.group.map((r) => ({ ...r, extension: true })) })),
  };
}
