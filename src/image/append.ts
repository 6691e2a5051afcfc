import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../errors.ts";
import { type BuildLayerResult, buildLayer } from "../layer/index.ts";
import type { History } from "../oci/config.ts";
import type { CopyResult } from "../oci/copy.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import type { Compression } from "../oci/mediatype.ts";
import { type AddedLayer, EPOCH, type Mutation, mutate } from "../oci/mutate.ts";
import { hostPlatform, type Platform } from "../oci/platform.ts";
import { type TransportContext, tmpDirOf } from "../transport/context.ts";
import { writeImage } from "../transport/copy.ts";
import { openSource } from "../transport/open.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { ownedTempDir } from "../util/fs.ts";

export interface LayerDir {
  /** Host directory whose contents form the layer. */
  source: string;
  /** Where they land in the image (default `/`). */
  dest: string;
}

export interface AppendOptions {
  compression?: Compression;
  level?: number | undefined;
  uid?: number;
  gid?: number;
  exclude?: string[];
  /** SOURCE_DATE_EPOCH: file mtimes and the image's created time. */
  sourceDateEpoch?: number | undefined;
  platform?: Platform;
}

export function epochToRfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

/** Run `fn` with the base image (or none for `scratch`) and write what it returns to `target`. */
export async function editImage(
  base: ImageArgument,
  target: ImageArgument,
  ctx: TransportContext,
  platform: Platform | undefined,
  fn: (image: Image | undefined, tmp: string) => Promise<Mutation>,
): Promise<CopyResult> {
  const opened = base.transport === "scratch" ? undefined : await openSource(base, ctx);
  const tmp = await ownedTempDir(tmpDirOf(ctx), "edit-");
  try {
    const image = opened
      ? await selectImage(await loadRoot(opened.source, opened.root), platform)
      : undefined;
    const result = mutate(image, await fn(image, tmp), platform ?? hostPlatform());
    return await writeImage(result, undefined, target, ctx);
  } catch (err) {
    throw wrapError(`writing ${target.text}`, err);
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await opened?.close();
  }
}

/** A layer `buildLayer` wrote at `path`, to add with its history entry. */
export function addedLayer(path: string, built: BuildLayerResult, history: History): AddedLayer {
  return {
    path,
    mediaType: built.mediaType,
    digest: built.digest,
    size: built.size,
    diffId: built.diffId,
    written: true,
    history,
  };
}

/** crane append / umoci insert: one new reproducible layer per directory, on top of `base`. */
export function appendLayers(
  base: ImageArgument,
  dirs: LayerDir[],
  target: ImageArgument,
  ctx: TransportContext,
  options: AppendOptions = {},
): Promise<CopyResult> {
  if (dirs.length === 0) throw new BerthError("USAGE", "append needs at least one directory");
  const created = options.sourceDateEpoch === undefined ? undefined : epochToRfc3339(options.sourceDateEpoch);
  return editImage(base, target, ctx, options.platform, async (image, tmp) => {
    const layers: AddedLayer[] = [];
    for (const [i, dir] of dirs.entries()) {
      const path = join(tmp, `layer-${i}`);
      const built = await buildLayer([{ source: dir.source, dest: dir.dest }], path, {
        compression: options.compression ?? "gzip",
        level: options.level,
        mtime: options.sourceDateEpoch ?? 0,
        uid: options.uid ?? 0,
        gid: options.gid ?? 0,
        exclude: options.exclude,
      }).catch((err) => {
        throw wrapError(`building a layer from ${dir.source}`, err);
      });
      layers.push(
        addedLayer(path, built, {
          created_by: `berth append ${dir.dest === "/" ? "" : `--dest ${dir.dest} `}(${built.entries} entries)`,
          comment: `berth ${dir.dest}`,
        }),
      );
    }
    return { layers, created: created ?? image?.config?.created ?? EPOCH };
  });
}
