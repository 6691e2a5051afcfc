/**
 * `berth buildpack package`: a buildpackage as pack writes one (spec: distribution.md; pack:
 * pkg/buildpack/builder.go). An image with no base, one layer per buildpack at
 * `/cnb/buildpacks/<id with / as _>/<version>/` (the same layers a builder gets), the labels
 * `io.buildpacks.buildpackage.metadata` (the main buildpack's module info and stacks) and
 * `io.buildpacks.buildpack.layers`; written to any transport, or as a `.cnb` file (an OCI layout in a tar).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import type { CopyResult } from "../../oci/copy.ts";
import { type AddedLayer, EPOCH, mutate } from "../../oci/mutate.ts";
import { hostPlatform, normalizePlatform, type Platform } from "../../oci/platform.ts";
import { type TransportContext, tmpDirOf } from "../../transport/context.ts";
import { writeImage } from "../../transport/copy.ts";
import type { ImageArgument } from "../../transport/parse.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { type BuildpackDescriptor, bpKey, type Target } from "../buildpack/descriptor.ts";
import {
  BUILDPACK_LAYERS_LABEL,
  BUILDPACKAGE_METADATA_LABEL,
  type LoadedBuildpack,
  loadBuildpackImage,
  loadBuildpacks,
  type ModuleLayers,
} from "../buildpack/load.ts";
import type { PackageConfig } from "../files/package.ts";
import { buildpackLayer, moduleInfo, moduleLayerInfo } from "../platform/builder.ts";

export interface PackageOptions {
  ctx: TransportContext;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface PackageResult extends CopyResult {
  /** The main buildpack. */
  id: string;
  version: string;
  /** Every buildpack in the package, `id@version`, sorted. */
  buildpacks: string[];
  platform: Platform;
}

/** The platform of the package: its first target, else `[platform] os`, else this machine's. */
function packagePlatform(config: PackageConfig, main: BuildpackDescriptor): Platform {
  const t: Target | undefined = config.targets[0] ?? main.targets[0];
  const host = hostPlatform();
  if (t) {
    return normalizePlatform({
      os: t.os || config.platformOs || "linux",
      architecture: t.arch || host.architecture,
      ...(t.variant ? { variant: t.variant } : {}),
    });
  }
  return { ...host, os: config.platformOs ?? host.os };
}

/** pack's stacks for the package metadata: the main buildpack's, or `*` for targets-only buildpacks. */
function packageStacks(d: BuildpackDescriptor): { id: string; mixins?: string[] }[] {
  if (d.stacks.length) {
    return d.stacks.map((s) => ({ id: s.id, ...(s.mixins?.length ? { mixins: s.mixins } : {}) }));
  }
  return [{ id: "*" }];
}

export async function packageBuildpack(
  config: PackageConfig,
  target: ImageArgument,
  o: PackageOptions,
): Promise<PackageResult> {
  const progress = o.onProgress ?? (() => {});
  const tmp = await ownedTempDir(tmpDirOf(o.ctx), "package-");
  try {
    const load = { relativeTo: config.dir, ctx: o.ctx, tmp };
    let mainLoaded: LoadedBuildpack[];
    try {
      mainLoaded = await loadBuildpacks(config.buildpack.uri, load);
    } catch (err) {
      throw wrapError(`package config ${config.file}: buildpack ${config.buildpack.uri}`, err);
    }
    const main = mainLoaded[0];
    if (!main) {
      throw new BerthError(
        "CNB_BUILDPACK_NOT_FOUND",
        `package config ${config.file}: no buildpack at ${config.buildpack.uri}`,
      );
    }
    const all = new Map<string, LoadedBuildpack>();
    const add = (b: LoadedBuildpack) => {
      const key = bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version);
      if (!all.has(key)) all.set(key, b);
    };
    for (const b of mainLoaded) add(b);
    for (const [i, dep] of config.dependencies.entries()) {
      const what = dep.uri ?? dep.image!;
      try {
        const got = dep.image
          ? await loadBuildpackImage(dep.image, load)
          : await loadBuildpacks(dep.uri!, load);
        for (const b of got) add(b);
        progress(
          `dependency ${what}: ${got.map((b) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version)).join(", ")}`,
        );
      } catch (err) {
        throw wrapError(`package config ${config.file}: dependencies[${i}] (${what})`, err);
      }
    }
    checkComposite(main.descriptor, all, config.file);

    const layers: AddedLayer[] = [];
    const labelLayers: ModuleLayers = {};
    const keys = [...all.keys()].sort();
    for (const [i, key] of keys.entries()) {
      const bp = all.get(key)!;
      const d = bp.descriptor;
      const layer = await buildpackLayer(bp, join(tmp, `layer-${i}.tar.gz`)).catch((err) => {
        throw wrapError(`packaging buildpack ${key} from ${bp.source}`, err);
      });
      progress(`buildpack ${key}: layer ${layer.diffId}`);
      layers.push({ ...layer, history: { created_by: `berth buildpack package: ${key}` } });
      labelLayers[d.buildpack.id] ??= {};
      labelLayers[d.buildpack.id]![d.buildpack.version] = moduleLayerInfo(d, layer.diffId);
    }
    const metadata = { ...moduleInfo(main.descriptor), stacks: packageStacks(main.descriptor) };
    const platform = packagePlatform(config, main.descriptor);
    const image = mutate(
      undefined,
      {
        layers,
        platform,
        created: EPOCH,
        config: () => ({
          Labels: {
            [BUILDPACKAGE_METADATA_LABEL]: JSON.stringify(metadata),
            [BUILDPACK_LAYERS_LABEL]: JSON.stringify(labelLayers),
          },
        }),
      },
      platform,
    );
    const written = await writeImage(image, undefined, target, o.ctx).catch((err) => {
      throw wrapError(`writing the buildpackage ${target.text}`, err);
    });
    return {
      ...written,
      id: main.descriptor.buildpack.id,
      version: main.descriptor.buildpack.version,
      buildpacks: keys,
      platform,
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A composite's order must name only buildpacks the package holds (as pack checks). */
function checkComposite(d: BuildpackDescriptor, all: Map<string, LoadedBuildpack>, file: string): void {
  for (const group of d.order) {
    for (const ref of group.group) {
      const found = [...all.values()].some(
        (b) =>
          b.descriptor.buildpack.id === ref.id &&
          (!ref.version || b.descriptor.buildpack.version === ref.version),
      );
      if (!found) {
        throw new BerthError(
          "CNB_BUILDPACK_NOT_FOUND",
          `package config ${file}: composite buildpack ${bpKey(d.buildpack.id, d.buildpack.version)} needs ${bpKey(ref.id, ref.version)}, which is not among its dependencies`,
          { hint: "add it under [[dependencies]] (uri = a folder or .cnb file, or image = a buildpackage)" },
        );
      }
    }
  }
}
