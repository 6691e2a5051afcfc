/**
 * Where the built image goes: the build's own changes to the final image (an explicit `--platform` stamped,
 * `--label`s), and the write to each destination with the same digest (a local one prewritten while the build
 * ran takes the rest from its sink: prewrite.ts), each a vertex of the build's progress (progress.ts).
 */
import { wrapError } from "../errors.ts";
import { type CopyResult, copy } from "../oci/copy.ts";
import type { Image, Root } from "../oci/image.ts";
import { mutate } from "../oci/mutate.ts";
import type { Platform } from "../oci/platform.ts";
import type { BlobEvent } from "../oci/sink.ts";
import { reported, type TransportContext } from "../transport/context.ts";
import { writeImage } from "../transport/copy.ts";
import type { ImageArgument } from "../transport/parse.ts";
import type { Prewriter } from "./prewrite.ts";
import { destinationProgress, type StepEvent } from "./progress.ts";

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
 * `--annotation`s of the manifest over the image's own (none: only the media types), in an OCI manifest, as
 * BuildKit's exporter writes an image given any annotation; no config change.
 */
export function withAnnotations(image: Image, annotations: Readonly<Record<string, string>>): Image {
  const given = Object.keys(annotations).length > 0;
  return mutate(image, { oci: true, ...(given ? { annotations: { ...annotations } } : {}) });
}

/** The annotations of the root's descriptor where a destination lists it: the image's, or the index's. */
export interface DescriptorAnnotations {
  image?: Record<string, string> | undefined;
  index?: Record<string, string> | undefined;
}

/**
 * Write the built image (or a multi-platform build's index, whole) to each destination, with the same digest.
 * `prewritten`: the local destinations the build wrote its layers to already; `onStep`: each destination a
 * vertex, its blobs statuses; `plain`: the image without its attestation, which a docker-archive (it holds no
 * index) and the destinations `plain.takes` (`--load`'s) get, as BuildKit's docker exporter writes it;
 * `descriptors`: the root descriptor's annotations in an OCI layout's `index.json` (the store's too).
 */
export async function writeDestinations(
  index: Root,
  destinations: readonly ImageArgument[],
  ctx: TransportContext,
  o: {
    prewritten?: Prewriter | undefined;
    onStep?: ((event: StepEvent) => void) | undefined;
    plain?: { image: Image; takes: (dest: ImageArgument) => boolean } | undefined;
    descriptors?: DescriptorAnnotations | undefined;
  } = {},
): Promise<{ destination: string; result: CopyResult }[]> {
  const written: { destination: string; result: CopyResult }[] = [];
  for (const dest of destinations) {
    const root =
      o.plain && (dest.transport === "docker-archive" || o.plain.takes(dest)) ? o.plain.image : index;
    const sink = await o.prewritten?.take(dest);
    const push = dest.transport === "docker";
    const vertex = o.onStep && destinationProgress(o.onStep, dest.text, root.digest, push);
    // a push to a registry shows its progress (the CLI's reporter); a local write is quick
    const result = await reported(
      push ? ctx.progress : undefined,
      () => `Pushed ${dest.text}`,
      (hooks) => {
        const blobs = [hooks.onBlob, vertex?.onBlob].filter((f) => f !== undefined);
        const onBlob = (e: BlobEvent) => {
          for (const f of blobs) f(e);
        };
        const rootAnnotations = root.kind === "index" ? o.descriptors?.index : o.descriptors?.image;
        const copyOptions = {
          ...hooks,
          ...(blobs.length ? { onBlob } : {}),
          all: root.kind === "index",
          rootAnnotations,
        };
        return sink ? copy(root, sink, copyOptions) : writeImage(root, undefined, dest, ctx, copyOptions);
      },
    ).catch((err) => {
      const wrapped = wrapError(`writing the image to ${dest.text}`, err);
      vertex?.end(wrapped);
      throw wrapped;
    });
    vertex?.end();
    written.push({ destination: dest.text, result });
  }
  return written;
}
