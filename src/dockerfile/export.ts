/**
 * BuildKit's `local` and `tar` exporters (`-o type=local|tar`): the target stage's filesystem, its layers applied
 * with whiteouts honoured (layer/flatten.ts), written out instead of an image. As the docker CLI and buildx
 * receive a local export: files, modes (setuid too), mtimes, symlinks (their targets as written), hard links and
 * FIFOs kept, device nodes made when berth runs as root (fsutil's DiskWriter mknods them); owned by the user who runs berth (the client's ownership, not the image's); DEST made 0700 if missing
 * (not given the image root's mode or times) and merged into, never cleaned (files already there and not in the export stay). Written through the confined
 * applier (layer/apply.ts): a link already in DEST where the export has an entry is replaced (as docker's
 * client replaces it) and never leads a write out of DEST. The tar keeps the image's
 * owners, as BuildKit's tar exporter does, its entries in the order of BuildKit's walk (each folder's names
 * sorted, depth first), and is written atomically (or streamed to `-`'s stream).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { wrapError } from "../errors.ts";
import { applyLayer } from "../layer/apply.ts";
import { flattenLayers, flattenTrees, type LayerOpener } from "../layer/flatten.ts";
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
 * Export each built image (one per platform) to each of `exports`. With several platforms, as BuildKit's: a tar
 * holds each platform under `linux_amd64/`…, and a local export goes into DEST/linux_amd64… unless
 * `platform-split=false` (all into DEST); `platform-split=true` splits one platform too.
 */
export async function exportFilesystems(
  built: readonly { image: Image; platform: Platform }[],
  exports: readonly FilesystemExport[],
  spool: string,
): Promise<void> {
  const several = built.length > 1;
  const layersOf = (image: Image): LayerOpener[] => image.layers().map((l) => () => l.uncompressed());
  for (const e of exports) {
    try {
      if (e.type === "tar") {
        const trees = built.map((b) => ({
          layers: layersOf(b.image),
          prefix: several ? platformDir(b.platform) : undefined,
        }));
        // in BuildKit's order (fsutil's walk of the filesystem), the contents spooled in the build's folder
        await flattenTrees(trees, e.to, { compression: "none", walkOrder: { spool } });
      } else {
        // DEST (and any folder above it) made 0700 where missing, as the client's filesync target makes it
        // (os.MkdirAll(dest, 0700)); an existing DEST keeps its mode and times. A platform's folder is 0755, as
        // the exporter sends it.
        await mkdir(e.dir, { recursive: true, mode: 0o700 });
        for (const b of built) {
          const split = e.split ?? several;
          if (split) await mkdir(join(e.dir, platformDir(b.platform)), { mode: 0o755 }).catch(exists);
          await exportLocal(layersOf(b.image), split ? join(e.dir, platformDir(b.platform)) : e.dir);
        }
      }
    } catch (err) {
      throw wrapError(`exporting the filesystem (-o ${e.text})`, err);
    }
  }
}

/** An error other than EEXIST, thrown again. */
function exists(err: NodeJS.ErrnoException): void {
  if (err.code !== "EEXIST") throw err;
}

/** The flattened layers applied into `dir` as they are made, without a tar in between on disk. */
async function exportLocal(layers: readonly LayerOpener[], dir: string): Promise<void> {
  const tar = new PassThrough();
  const stop = (err: unknown) => {
    tar.destroy(err as Error);
    throw err;
  };
  // rootless: the files are the exporting user's, as the docker CLI's receiver gives them its own ids; device
  // nodes tried as the receiver's fsutil DiskWriter mknods them (made as root; not permitted otherwise: a note)
  const settled = await Promise.allSettled([
    flattenLayers(layers, tar, { compression: "none" }).catch(stop),
    applyLayer(tar, dir, { rootless: true, devices: true }).catch(stop),
  ]);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
}
