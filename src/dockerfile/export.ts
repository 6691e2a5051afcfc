/**
 * BuildKit's `local` and `tar` exporters (`-o type=local|tar`): the target stage's filesystem, its layers applied
 * with whiteouts honoured (layer/flatten.ts), written out instead of an image. As the docker CLI and buildx
 * receive a local export: files, modes (setuid too), mtimes, symlinks (their targets as written) and hard links
 * kept; owned by the user who runs berth (the client's ownership, not the image's); DEST made if missing and
 * merged into, never cleaned (files already there and not in the export stay). Written through the confined
 * applier (layer/apply.ts): a link already in DEST never leads a write out of it. The tar keeps the image's
 * owners, as BuildKit's tar exporter does, and is written atomically (or streamed to `-`'s stream).
 */
import { join } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { wrapError } from "../errors.ts";
import { applyLayer } from "../layer/apply.ts";
import { flattenLayers, type LayerOpener } from "../layer/flatten.ts";
import type { Image } from "../oci/image.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";

/** Where a filesystem export goes: a folder, a tar file, or a stream (`-o -`: standard output). */
export type FilesystemExport =
  | { type: "local"; dir: string; split: boolean | undefined; text: string }
  | { type: "tar"; to: string | Writable; text: string };

/** A platform's folder in a split local export, as BuildKit names it: `linux_arm64_v8`. */
function platformDir(p: Platform): string {
  return formatPlatform(p).replaceAll("/", "_");
}

/**
 * Export `image` (built for `platform`) to each of `exports`; a local export goes into DEST/`platformDir` when
 * it asks (`platform-split=true`), or by default when the build has `several` platforms.
 */
export async function exportFilesystems(
  image: Image,
  exports: readonly FilesystemExport[],
  platform: Platform,
  several: boolean,
): Promise<void> {
  const layers: LayerOpener[] = image.layers().map((l) => () => l.uncompressed());
  for (const e of exports) {
    try {
      if (e.type === "tar") await flattenLayers(layers, e.to, { compression: "none" });
      else await exportLocal(layers, (e.split ?? several) ? join(e.dir, platformDir(platform)) : e.dir);
    } catch (err) {
      throw wrapError(`exporting the filesystem (-o ${e.text})`, err);
    }
  }
}

/** The flattened layers applied into `dir` as they are made, without a tar in between on disk. */
async function exportLocal(layers: readonly LayerOpener[], dir: string): Promise<void> {
  const tar = new PassThrough();
  const stop = (err: unknown) => {
    tar.destroy(err as Error);
    throw err;
  };
  // rootless: the files are the exporting user's, as the docker CLI's receiver gives them its own ids
  const settled = await Promise.allSettled([
    flattenLayers(layers, tar, { compression: "none" }).catch(stop),
    applyLayer(tar, dir, { rootless: true }).catch(stop),
  ]);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
}
