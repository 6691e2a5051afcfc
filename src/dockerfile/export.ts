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
import { join, posix } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { wrapError } from "../errors.ts";
import { applyLayer } from "../layer/apply.ts";
import {
  type ExtraFiles,
  flattenLayers,
  flattenTrees,
  type LayerOpener,
  type WalkedFile,
} from "../layer/flatten.ts";
import type { Image } from "../oci/image.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";

/**
 * Where a filesystem export goes: a folder, a tar file, or a stream (`-o -`: standard output); `prefix`: the
 * exporter's `attestation-prefix`, put before an attestation's file name.
 */
export type FilesystemExport =
  | { type: "local"; dir: string; split: boolean | undefined; prefix?: string | undefined; text: string }
  | { type: "tar"; to: string | Writable; prefix?: string | undefined; text: string };

/**
 * A statement written beside a platform's files, as BuildKit's local and tar exporters write attestations
 * (exporter/local/fs.go `CreateFS`): a 0600 root-owned file in the platform's root, its subjects the platform's
 * regular files.
 */
export interface ExportAttestation {
  /** The file's name (the attestation's path: `provenance.json`). */
  name: string;
  /** Its bytes, given the platform's regular files (each path of a hard-link group too) in walk order. */
  content: (files: readonly WalkedFile[]) => Buffer;
  /** Its mtime, in seconds (SOURCE_DATE_EPOCH, else the time of the export). */
  mtime: number;
}

/** One platform's built image to export, and the attestations its export carries. */
export interface ExportedImage {
  image: Image;
  platform: Platform;
  attestations?: readonly ExportAttestation[] | undefined;
}

/** A platform's folder in a split local export, as BuildKit names it: `linux_arm64_v8`. */
function platformDir(p: Platform): string {
  return formatPlatform(p).replaceAll("/", "_");
}

/**
 * Export each built image (one per platform) to each of `exports`. With `several` (a multi-platform build, one
 * platform too under BUILDKIT_MULTI_PLATFORM: BuildKit's platform map), as BuildKit's: a tar holds each platform
 * under `linux_amd64/`…, and a local export goes into DEST/linux_amd64… unless `platform-split=false` (all into
 * DEST); `platform-split=true` splits one platform too.
 */
export async function exportFilesystems(
  built: readonly ExportedImage[],
  exports: readonly FilesystemExport[],
  spool: string,
  several = built.length > 1,
): Promise<void> {
  const layersOf = (image: Image): LayerOpener[] => image.layers().map((l) => () => l.uncompressed());
  for (const e of exports) {
    try {
      if (e.type === "tar") {
        const trees = built.map((b) => ({
          layers: layersOf(b.image),
          prefix: several ? platformDir(b.platform) : undefined,
        }));
        // in BuildKit's order (fsutil's walk of the filesystem), the contents spooled in the build's folder; the
        // tar always has a folder per platform of several, so no attestation's name says its platform
        const extra = attestationFiles(built, e.prefix, false);
        await flattenTrees(trees, e.to, { compression: "none", walkOrder: { spool, extra } });
      } else {
        // DEST (and any folder above it) made 0700 where missing, as the client's filesync target makes it
        // (os.MkdirAll(dest, 0700)); an existing DEST keeps its mode and times. A platform's folder is 0755, as
        // the exporter sends it.
        await mkdir(e.dir, { recursive: true, mode: 0o700 });
        const split = e.split ?? several;
        const extra = attestationFiles(built, e.prefix, several && !split);
        for (const [n, b] of built.entries()) {
          if (split) await mkdir(join(e.dir, platformDir(b.platform)), { mode: 0o755 }).catch(exists);
          const dir = split ? join(e.dir, platformDir(b.platform)) : e.dir;
          const ordered =
            extra && b.attestations?.length
              ? { spool, extra: (_: number, f: readonly WalkedFile[]) => extra(n, f) }
              : undefined;
          await exportLocal(layersOf(b.image), dir, ordered);
        }
      }
    } catch (err) {
      throw wrapError(`exporting the filesystem (-o ${e.text})`, err);
    }
  }
}

/**
 * The attestation files of each platform's export (none when no platform has any): named `prefix` + the
 * attestation's name, with the platform in it (`provenance.linux_amd64.json`) when several platforms share one
 * folder, as BuildKit's `CreateFS` names them.
 */
function attestationFiles(
  built: readonly ExportedImage[],
  prefix: string | undefined,
  platformInName: boolean,
): ExtraFiles | undefined {
  if (!built.some((b) => b.attestations?.length)) return undefined;
  return (tree, files) => {
    const b = built[tree]!;
    return (b.attestations ?? []).map((a) => {
      let name = (prefix ?? "") + posix.basename(a.name);
      if (platformInName) {
        const ext = posix.extname(name);
        name = `${name.slice(0, name.length - ext.length)}.${platformDir(b.platform)}${ext}`;
      }
      return { path: name, content: a.content(files), mode: 0o600, mtime: a.mtime };
    });
  };
}

/** An error other than EEXIST, thrown again. */
function exists(err: NodeJS.ErrnoException): void {
  if (err.code !== "EEXIST") throw err;
}

/**
 * The flattened layers applied into `dir` as they are made, without a tar in between on disk; with `ordered`,
 * in walk order with its extra files (the contents spooled first).
 */
async function exportLocal(
  layers: readonly LayerOpener[],
  dir: string,
  ordered: { spool: string; extra: ExtraFiles } | undefined,
): Promise<void> {
  const tar = new PassThrough();
  const stop = (err: unknown) => {
    tar.destroy(err as Error);
    throw err;
  };
  // rootless: the files are the exporting user's, as the docker CLI's receiver gives them its own ids; device
  // nodes tried as the receiver's fsutil DiskWriter mknods them (made as root; not permitted otherwise: a note)
  const settled = await Promise.allSettled([
    (ordered
      ? flattenTrees([{ layers }], tar, { compression: "none", walkOrder: ordered })
      : flattenLayers(layers, tar, { compression: "none" })
    ).catch(stop),
    applyLayer(tar, dir, { rootless: true, devices: true }).catch(stop),
  ]);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
}
