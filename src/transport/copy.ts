import { availableParallelism } from "node:os";
import { BerthError, wrapError } from "../errors.ts";
import { type BlobSource, isRemote } from "../oci/blob.ts";
import type { ManifestFormat } from "../oci/convert.ts";
import { type CopyOptions, type CopyResult, copy, isRoot } from "../oci/copy.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { type ImageIndex, loadRoot, type Root, selectImage } from "../oci/image.ts";
import { isDocker, isIndex } from "../oci/mediatype.ts";
import type { BlobEvent } from "../oci/sink.ts";
import { progressCounter } from "../util/progress.ts";
import { chain } from "../util/stream.ts";
import { type TransportContext, tmpDirOf } from "./context.ts";
import { openSink, openSource } from "./open.ts";
import type { ImageArgument } from "./parse.ts";

/** What a copy between image arguments takes besides the blob copy's options. */
export interface CopyImageOptions extends CopyOptions {
  /** The destination's manifest type: an image of the other type is converted (`convertImage`). */
  format?: ManifestFormat | undefined;
  /** With `all`: the index alone, none of its images (skopeo's `--multi-arch index-only`). */
  indexOnly?: boolean | undefined;
  /** Refuse any change to a digest (skopeo's `--preserve-digests`): a docker-archive destination is one. */
  preserveDigests?: boolean | undefined;
  /** More tags of a docker-archive destination (skopeo's `--additional-tag`). */
  additionalTags?: string[] | undefined;
}

/** A context for each side of a copy (skopeo's `--src-*` and `--dest-*` flags). */
export interface CopySides {
  source: TransportContext;
  destination: TransportContext;
}

/** Copy an image from one image argument to another, in any transport. */
export async function copyImage(
  src: ImageArgument,
  dst: ImageArgument,
  ctx: TransportContext | CopySides,
  options: CopyImageOptions = {},
): Promise<CopyResult> {
  const sides = "source" in ctx ? ctx : { source: ctx, destination: ctx };
  const opened = await openSource(src, sides.source).catch((err) => {
    throw wrapError(`reading ${src.text}`, err);
  });
  try {
    const to = sides.destination;
    const [source, root] = await formatted(opened.source, opened.root, dst, options);
    return await writeImage(source, root, opened.tag, dst, to, options).catch((err) => {
      throw wrapError(`copying ${src.text} to ${dst.text}`, err);
    });
  } finally {
    await opened.close();
  }
}

/**
 * The blobs and root to write for `--format` and `--preserve-digests`: an image in the other format converted
 * (from an index, the platform's image), refusals before anything is written.
 */
export async function formatted(
  source: BlobSource,
  root: Descriptor,
  dst: ImageArgument,
  options: CopyImageOptions,
): Promise<[BlobSource, Descriptor]> {
  if (options.preserveDigests && dst.transport === "docker-archive") {
    throw new BerthError(
      "USAGE",
      `--preserve-digests: ${dst.text} is a docker-archive, which keeps no manifest, so the digest would change`,
      { hint: "copy to oci:, oci-archive: or docker:// to keep digests" },
    );
  }
  const format = options.format;
  if (!format || dst.transport === "docker-archive") return [source, root];
  const refuse = () =>
    new BerthError(
      "USAGE",
      `--format ${format} changes the manifest's digest, and --preserve-digests forbids it`,
    );
  // loaded only by a copy that may convert (a build's write to its destinations never does)
  const { convertImage, rewriteIndex } = await import("../oci/convert.ts");
  if (isIndex(root.mediaType) && options.all) {
    // every image converted, also an index's of the format already (an OCI index may list Docker manifests);
    // index-only: the index converted, its images (not copied) named as they are, as skopeo's
    const index = (await loadRoot(source, root)) as ImageIndex;
    const made = await rewriteIndex(
      index,
      format,
      async (image) => {
        const c = options.indexOnly ? undefined : convertImage(image, format);
        return c ?? { source: image.source, descriptor: image.descriptor };
      },
      options.indexOnly,
    );
    if (made && options.preserveDigests) throw refuse();
    return made ? [made.source, made.descriptor] : [source, root];
  }
  // a docker-archive's images are Docker's, whatever manifest berth serves them with: skopeo reads them so
  const dockerConfig = format === "oci" && fromDockerArchive(source);
  if (isDocker(root.mediaType) === (format === "v2s2") && !dockerConfig) return [source, root];
  if (options.preserveDigests) throw refuse();
  const loaded = await loadRoot(source, root);
  const image = await selectImage(loaded, options.platform);
  const converted = convertImage(image, format, dockerConfig);
  return converted ? [converted.source, converted.descriptor] : [image.source, image.descriptor];
}

/** Whether `source` is a docker-archive (whose configs skopeo reads as Docker's). */
function fromDockerArchive(source: BlobSource): boolean {
  return "format" in source && source.format === "docker-archive";
}

/**
 * Write an image or index to a destination argument: any `Image` or `ImageIndex`, or the root a descriptor
 * names in a blob source. `name` is the tag a docker-archive gets when the destination names none.
 */
export function writeImage(
  image: Root,
  name: string | undefined,
  dst: ImageArgument,
  ctx: TransportContext,
  options?: CopyImageOptions,
): Promise<CopyResult>;
export function writeImage(
  source: BlobSource,
  root: Descriptor,
  name: string | undefined,
  dst: ImageArgument,
  ctx: TransportContext,
  options?: CopyImageOptions,
): Promise<CopyResult>;
export function writeImage(
  ...args:
    | [Root, string | undefined, ImageArgument, TransportContext, (CopyImageOptions | undefined)?]
    | [
        BlobSource,
        Descriptor,
        string | undefined,
        ImageArgument,
        TransportContext,
        (CopyImageOptions | undefined)?,
      ]
): Promise<CopyResult> {
  if (isRoot(args[0])) {
    const [image, name, dst, ctx, options] = args as [
      Root,
      string | undefined,
      ImageArgument,
      TransportContext,
      CopyImageOptions?,
    ];
    return writeRoot(image.source, image.descriptor, name, dst, ctx, options ?? {});
  }
  const [source, root, name, dst, ctx, options] = args as [
    BlobSource,
    Descriptor,
    string | undefined,
    ImageArgument,
    TransportContext,
    CopyImageOptions?,
  ];
  return writeRoot(source, root, name, dst, ctx, options ?? {});
}

async function writeRoot(
  source: BlobSource,
  root: Descriptor,
  name: string | undefined,
  dst: ImageArgument,
  ctx: TransportContext,
  options: CopyImageOptions,
): Promise<CopyResult> {
  if (dst.transport === "docker-archive")
    return saveDockerArchive(source, root, dst.ref ?? name, dst.path, ctx, options);
  return copy(source, root, await openSink(dst, ctx), {
    jobs: ctx.jobs ?? defaultJobs(source, dst),
    ...options,
  });
}

/**
 * Blobs transferred at once when the caller sets no limit. Into a registry, 4: the registry hashes and stores
 * each upload, and four at once keep it busy (1 GiB, 8 layers to a local docker-registry: 2.6–2.8 s, against
 * 3.2–4.8 s with 2). From a registry to this machine, this process hashes and writes every byte, so streams
 * beyond the cores only contend: the same image pulled on 2 cores took 1.4 s and 110 MiB with 2 at once,
 * 1.7–1.9 s and 135 MiB with 4 (smaller socket reads, more work per byte). That holds where the registry
 * answers at memory speed (on this machine's loopback); across a network, latency and not the CPU limits each
 * stream, and four at once stay the default.
 */
function defaultJobs(source: BlobSource, dst: ImageArgument): number {
  if (dst.transport !== "docker" && isRemote(source) && source.loopback)
    return Math.min(4, Math.max(2, availableParallelism()));
  return 4;
}

/**
 * A source whose `openBlob` streams report their bytes (as a copy's blobs do): a docker-archive is written
 * layer by layer, not through a copy, and `save` shows the same progress.
 */
export function reporting(source: BlobSource, onBlob: (event: BlobEvent) => void): BlobSource {
  const openBlob = async (descriptor: Descriptor) => {
    onBlob({ type: "start", descriptor });
    const stream = await source.openBlob(descriptor);
    const counter = progressCounter((bytes) => onBlob({ type: "progress", descriptor, bytes }));
    counter.once("end", () => onBlob({ type: "done", descriptor, how: "written" }));
    return chain(stream, counter);
  };
  return new Proxy(source, {
    get(target, prop) {
      if (prop === "openBlob") return openBlob;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * A docker-archive holds one platform's image with Docker's layout (no manifests of its own), so it is written
 * whole rather than blob by blob; the config bytes, and so the image ID, are kept.
 */
async function saveDockerArchive(
  source: BlobSource,
  root: Descriptor,
  tag: string | undefined,
  path: string,
  ctx: TransportContext,
  options: CopyImageOptions,
): Promise<CopyResult> {
  if (options.all) {
    throw new BerthError(
      "USAGE",
      "a docker-archive holds one image per tag, not a multi-platform index; copy one platform with --platform",
    );
  }
  const from = options.onBlob ? reporting(source, options.onBlob) : source;
  const image = await selectImage(await loadRoot(from, root), options.platform);
  options.onPlan?.(image.manifest.layers);
  const { writeDockerArchive } = await import("../oci/archive/index.ts");
  const tags = [...(tag ? [tag] : []), ...(options.additionalTags ?? [])];
  await writeDockerArchive(path, [{ image, tags }], {
    tmpDir: tmpDirOf(ctx),
    signal: options.signal,
  });
  const bytes = image.manifest.layers.reduce((n, l) => n + l.size, image.manifest.config.size);
  return {
    root: image.descriptor,
    blobs: { written: image.manifest.layers.length + 1, exists: 0, mounted: 0, bytes },
  };
}
