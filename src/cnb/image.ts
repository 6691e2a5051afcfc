/** Reading the images CNB works with: open by argument, labels as JSON, applying chosen layers to a folder. */
import { BerthError, isBerthError, wrapError } from "../errors.ts";
import type { BlobSource } from "../oci/blob.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import { formatPlatform, hostPlatform, type Platform } from "../oci/platform.ts";
import { formatReference, parseReference } from "../oci/reference.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument, registryArgument } from "../transport/parse.ts";
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

/**
 * `openImage` of a builder (or a run or lifecycle image) for `platform` (default this machine's): an image that
 * has nothing for it is refused in one sentence (`noImageFor`); other errors are the caller's to word.
 */
export async function openImageFor(
  what: string,
  arg: ImageArgument | string,
  ctx: TransportContext,
  platform: Platform | undefined,
): Promise<OpenedImage> {
  return openImage(arg, ctx, platform).catch((err: unknown) => {
    throw isBerthError(err, "PLATFORM_NOT_FOUND")
      ? noImageFor(what, typeof arg === "string" ? arg : arg.text, platform, err)
      : err;
  });
}

/**
 * A PLATFORM_NOT_FOUND while opening the `what` NAME for `platform` (default this machine's), as one sentence
 * naming it, the platform and the ones it has (the error's `details.has`, oci/image.ts).
 */
export function noImageFor(
  what: string,
  name: string,
  platform: Platform | undefined,
  err: BerthError,
): BerthError {
  const want = formatPlatform(platform ?? hostPlatform());
  return new BerthError(
    "PLATFORM_NOT_FOUND",
    `the ${what} ${name} has no image for ${want} (it has ${String(err.details.has ?? "none")})`,
    { cause: err, hint: `give --platform one of its platforms, or a ${what} made for ${want}` },
  );
}

/** An image opened for a phase, with what to call it and how to pin it. */
export interface ResolvedImage {
  image: Image;
  source: BlobSource;
  argument: ImageArgument;
  /** The argument pinned to the image's digest (`registry/repo@sha256:…`, store `name@sha256:…`). */
  pinned: string;
  close(): Promise<void>;
}

/**
 * Open an image argument; a bare name is looked up in the local store first and then, with `registry`
 * fallback (run images as run.toml names them), in its registry.
 */
export async function resolveImage(
  text: string,
  ctx: TransportContext,
  o: { platform?: Platform | undefined; registryFallback?: boolean; preferRegistry?: boolean } = {},
): Promise<ResolvedImage | undefined> {
  const arg = parseImageArgument(text);
  const tries: ImageArgument[] = [arg];
  if (arg.transport === "store" && (o.registryFallback || o.preferRegistry)) {
    const remote = registryArgument(arg.ref);
    if (o.preferRegistry) tries.unshift(remote);
    else tries.push(remote);
  }
  let lastErr: unknown;
  for (const a of tries) {
    let opened: Awaited<ReturnType<typeof openSource>> | undefined;
    try {
      opened = await openSource(a, ctx);
      const image = await selectImage(await loadRoot(opened.source, opened.root), o.platform);
      return { image, source: opened.source, argument: a, pinned: pin(a, image), close: opened.close };
    } catch (err) {
      await opened?.close();
      if (isMissing(err)) {
        lastErr = err;
        continue;
      }
      throw wrapError(`reading ${a.text}`, err);
    }
  }
  void lastErr;
  return undefined;
}

function isMissing(err: unknown): boolean {
  return (
    err instanceof BerthError &&
    ["IMAGE_NOT_FOUND", "REGISTRY_MANIFEST_UNKNOWN", "REGISTRY_NAME_UNKNOWN", "LAYOUT_INVALID"].includes(
      err.code,
    )
  );
}

function pin(arg: ImageArgument, image: Image): string {
  if (arg.transport === "docker" || arg.transport === "store") {
    const ref = parseReference(arg.ref);
    return formatReference({ registry: ref.registry, repository: ref.repository, digest: image.digest });
  }
  return `${arg.text.split(":").slice(0, 2).join(":")}@${image.digest}`;
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
      const { applyLayer } = await import("../layer/apply.ts");
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
