/**
 * Where the built image goes: the build's own changes to the final image (an explicit `--platform` stamped,
 * `--label`s), and the write to each destination with the same digest (a local one prewritten while the build
 * ran takes the rest from its sink: prewrite.ts).
 */
import { wrapError } from "../errors.ts";
import { type CopyResult, copy } from "../oci/copy.ts";
import type { Image, Root } from "../oci/image.ts";
import { mutate } from "../oci/mutate.ts";
import type { Platform } from "../oci/platform.ts";
import { reported, type TransportContext } from "../transport/context.ts";
import { writeImage } from "../transport/copy.ts";
import type { ImageArgument } from "../transport/parse.ts";
import type { Prewriter } from "./prewrite.ts";

/** An explicit --platform is the image's platform, whatever its base's config said (as BuildKit). */
export function withPlatform(image: Image, p: Platform): Image {
  const c = image.config;
  if (c && c.os === p.os && c.architecture === p.architecture && (c.variant ?? "") === (p.variant ?? ""))
    return image;
  return mutate(image, { platform: p }, p);
}

/** `--label`s over the image's own labels: a config change only, no history entry (as BuildKit's). */
export function withLabels(image: Image, labels: Readonly<Record<string, string>>): Image {
  return mutate(image, { config: (c) => ({ ...c, Labels: { ...(c.Labels ?? {}), ...labels } }) });
}

/**
 * Write the built image (or a multi-platform build's index, whole) to each destination, with the same digest; a
 * docker-archive, which holds no index, and the destinations `plain` takes (`--load`'s) get `plain`'s image: the
 * image without its attestation, as BuildKit's docker exporter writes it.
 */
export async function writeDestinations(
  index: Root,
  destinations: readonly ImageArgument[],
  ctx: TransportContext,
  prewritten?: Prewriter,
  plain?: { image: Image; takes: (dest: ImageArgument) => boolean },
): Promise<{ destination: string; result: CopyResult }[]> {
  const written: { destination: string; result: CopyResult }[] = [];
  for (const dest of destinations) {
    const root = plain && (dest.transport === "docker-archive" || plain.takes(dest)) ? plain.image : index;
    const sink = await prewritten?.take(dest);
    // a push to a registry shows its progress (the CLI's reporter); a local write is quick
    const result = await reported(
      dest.transport === "docker" ? ctx.progress : undefined,
      () => `Pushed ${dest.text}`,
      (hooks) => {
        const o = { ...hooks, all: root.kind === "index" };
        return sink ? copy(root, sink, o) : writeImage(root, undefined, dest, ctx, o);
      },
    ).catch((err) => {
      throw wrapError(`writing the image to ${dest.text}`, err);
    });
    written.push({ destination: dest.text, result });
  }
  return written;
}
