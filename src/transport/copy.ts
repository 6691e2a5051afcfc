import { BerthError, wrapError } from "../errors.ts";
import { writeDockerArchive } from "../oci/archive/index.ts";
import { type CopyOptions, type CopyResult, copy } from "../oci/copy.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import { type TransportContext, tmpDirOf } from "./context.ts";
import { type OpenedSource, openSink, openSource } from "./open.ts";
import type { ImageArgument } from "./parse.ts";

/** Copy an image from one image argument to another, in any transport. */
export async function copyImage(
  src: ImageArgument,
  dst: ImageArgument,
  ctx: TransportContext,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const opened = await openSource(src, ctx).catch((err) => {
    throw wrapError(`reading ${src.text}`, err);
  });
  try {
    if (dst.transport === "docker-archive") {
      return await saveDockerArchive(opened, dst, ctx, options).catch((err) => {
        throw wrapError(`copying ${src.text} to ${dst.text}`, err);
      });
    }
    const sink = await openSink(dst, ctx);
    return await copy(opened.source, opened.root, sink, { jobs: ctx.jobs ?? 4, ...options }).catch((err) => {
      throw wrapError(`copying ${src.text} to ${dst.text}`, err);
    });
  } finally {
    await opened.close();
  }
}

/**
 * A docker-archive holds one platform's image with Docker's layout (no manifests of its own), so it is written
 * whole rather than blob by blob; the config bytes, and so the image ID, are kept.
 */
async function saveDockerArchive(
  opened: OpenedSource,
  dst: { path: string; ref: string | undefined },
  ctx: TransportContext,
  options: CopyOptions,
): Promise<CopyResult> {
  if (options.all) {
    throw new BerthError(
      "USAGE",
      "a docker-archive holds one image per tag, not a multi-platform index; copy one platform with --platform",
    );
  }
  const image = await selectImage(await loadRoot(opened.source, opened.root), options.platform);
  const tag = dst.ref ?? opened.name;
  await writeDockerArchive(dst.path, [{ image, tags: tag ? [tag] : [] }], {
    tmpDir: tmpDirOf(ctx),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const bytes = image.manifest.layers.reduce((n, l) => n + l.size, image.manifest.config.size);
  return {
    root: image.descriptor,
    blobs: { written: image.manifest.layers.length + 1, exists: 0, mounted: 0, bytes },
  };
}
