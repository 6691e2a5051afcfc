import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../errors.ts";
import {
  type ArchiveSource,
  openDockerArchive,
  openOciArchive,
  TarIndex,
  writeDockerArchive,
} from "../oci/archive/index.ts";
import { type CopyOptions, copy } from "../oci/copy.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import type { Platform } from "../oci/platform.ts";
import { parseReference } from "../oci/reference.ts";
import { Store } from "../oci/store.ts";
import { tempName } from "../util/fs.ts";
import { type TransportContext, tmpDirOf } from "./context.ts";
import { reporting } from "./copy.ts";
import { openSource } from "./open.ts";
import type { ImageArgument } from "./parse.ts";

/** Open an archive as docker-archive when it has a manifest.json (docker save, any version), else as oci-archive. */
export async function openAnyArchive(path: string, ctx: TransportContext): Promise<ArchiveSource> {
  const options = { tmpDir: tmpDirOf(ctx) };
  const tar = await TarIndex.open(path, options);
  const docker = tar.has("manifest.json");
  const oci = tar.has("oci-layout");
  await tar.close();
  if (docker) return openDockerArchive(path, options);
  if (oci) return openOciArchive(path, options);
  throw new BerthError(
    "ARCHIVE_INVALID",
    `${path} is neither a docker-archive (no manifest.json) nor an oci-archive (no oci-layout)`,
  );
}

export interface LoadedImage {
  name: string | undefined;
  digest: string;
}

/** `docker load`: every image of an archive into the local store, under each of its tags. */
export async function loadArchive(
  path: string,
  ctx: TransportContext,
  progress: Pick<CopyOptions, "onBlob" | "onPlan"> = {},
): Promise<LoadedImage[]> {
  const archive = await openAnyArchive(path, ctx);
  const store = await Store.open(ctx.home);
  const loaded: LoadedImage[] = [];
  try {
    for (const { descriptor, tags } of archive.images()) {
      const names = tags.filter((t) => {
        try {
          parseReference(t);
          return true;
        } catch {
          return false;
        }
      });
      const [first, ...rest] = names;
      await copy(archive, descriptor, store.sink(first), { all: true, ...progress });
      for (const name of rest) await store.tag(descriptor, name);
      if (names.length === 0) loaded.push({ name: undefined, digest: descriptor.digest });
      for (const name of names) loaded.push({ name: Store.normalize(name), digest: descriptor.digest });
    }
  } finally {
    await archive.close();
  }
  return loaded;
}

/**
 * `docker save`: the images as one docker-archive at `path`, or streamed to a Writable (`-o -`: written to a
 * temp file under BERTH_HOME first, the archive format needing positional writes, then copied out).
 */
export async function saveArchive(
  images: ImageArgument[],
  path: string | Writable,
  ctx: TransportContext,
  platform?: Platform,
  progress: Pick<CopyOptions, "onBlob" | "onPlan"> = {},
): Promise<void> {
  if (typeof path !== "string") {
    const tmp = tempName(tmpDirOf(ctx), "save");
    try {
      await saveArchive(images, tmp, ctx, platform, progress);
      await pipeline(createReadStream(tmp), path);
    } finally {
      await rm(tmp, { force: true });
    }
    return;
  }
  const opened = [];
  try {
    const entries = [];
    for (const arg of images) {
      const src = await openSource(arg, ctx);
      opened.push(src);
      const source = progress.onBlob ? reporting(src.source, progress.onBlob) : src.source;
      const image = await selectImage(await loadRoot(source, src.root), platform);
      entries.push({ image, tags: src.tag ? [src.tag] : [] });
    }
    progress.onPlan?.(entries.flatMap((e) => e.image.manifest.layers));
    await writeDockerArchive(path, entries, { tmpDir: tmpDirOf(ctx) });
  } finally {
    for (const o of opened) await o.close();
  }
}
