import { wrapError } from "../errors.ts";
import { type CopyOptions, type CopyResult, copy } from "../oci/copy.ts";
import type { TransportContext } from "./context.ts";
import { openSink, openSource } from "./open.ts";
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
    const sink = await openSink(dst, ctx);
    return await copy(opened.source, opened.root, sink, { jobs: ctx.jobs ?? 4, ...options }).catch((err) => {
      throw wrapError(`copying ${src.text} to ${dst.text}`, err);
    });
  } finally {
    await opened.close();
  }
}
