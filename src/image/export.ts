import type { Writable } from "node:stream";
import { wrapError } from "../errors.ts";
import { flattenLayers } from "../layer/index.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import type { Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSource } from "../transport/open.ts";
import type { ImageArgument } from "../transport/parse.ts";

/**
 * crane export: the image's layers applied, whiteouts honoured, as one filesystem tar written atomically to a
 * file, or streamed to a Writable.
 */
export async function exportFilesystem(
  image: ImageArgument,
  output: string | Writable,
  ctx: TransportContext,
  platform?: Platform,
): Promise<{ entries: number; size: number }> {
  const opened = await openSource(image, ctx);
  try {
    const img = await selectImage(await loadRoot(opened.source, opened.root), platform);
    const layers = img.layers().map((l) => () => l.uncompressed());
    const result = await flattenLayers(layers, output, { compression: "none" });
    return { entries: result.entries, size: result.size };
  } catch (err) {
    throw wrapError(`exporting ${image.text}`, err);
  } finally {
    await opened.close();
  }
}
