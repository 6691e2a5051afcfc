/** Reading the images CNB works with: open by argument, labels as JSON, applying chosen layers to a folder. */
import { BerthError, wrapError } from "../errors.ts";
import { applyLayer } from "../layer/index.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import type { Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../transport/parse.ts";
import { parseJson } from "../util/json.ts";

export interface OpenedImage {
  image: Image;
  /** The argument as given. */
  text: string;
  close(): Promise<void>;
}

export async function openImage(
  arg: ImageArgument | string,
  ctx: TransportContext,
  platform?: Platform,
): Promise<OpenedImage> {
  const parsed = typeof arg === "string" ? parseImageArgument(arg) : arg;
  const opened = await openSource(parsed, ctx);
  try {
    const image = await selectImage(await loadRoot(opened.source, opened.root), platform);
    return { image, text: parsed.text, close: () => opened.close() };
  } catch (err) {
    await opened.close();
    throw wrapError(`reading image ${parsed.text}`, err);
  }
}

export function labelsOf(image: Image): Record<string, string> {
  return image.config?.config?.Labels ?? {};
}

/** A label holding JSON, parsed; undefined when absent. */
export function labelJson<T>(image: Image, key: string, what: string): T | undefined {
  const raw = labelsOf(image)[key];
  if (raw === undefined || raw === "") return undefined;
  return parseJson(raw, `${what}: label ${key}`, "CONFIG_INVALID") as T;
}

/** Apply the image's layers with the given indexes, in order, to `root`. */
export async function applyImageLayers(
  image: Image,
  indexes: readonly number[],
  root: string,
): Promise<void> {
  const layers = image.layers();
  for (const i of [...new Set(indexes)].sort((a, b) => a - b)) {
    const layer = layers[i];
    if (!layer) throw new BerthError("INTERNAL", `image ${image.digest} has no layer ${i}`);
    try {
      await applyLayer(await layer.uncompressed(), root);
    } catch (err) {
      throw wrapError(`extracting layer ${i} (${layer.descriptor.digest}) of ${image.digest}`, err);
    }
  }
}

export function layerIndexOfDiffId(image: Image, diffId: string): number {
  const i = image.config?.rootfs.diff_ids.indexOf(diffId) ?? -1;
  if (i < 0) {
    throw new BerthError("CNB_CONFIG_INVALID", `image ${image.digest} has no layer with diffID ${diffId}`);
  }
  return i;
}
