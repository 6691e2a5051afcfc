import { Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import { type BlobSource, hasWrittenFiles, verified } from "./blob.ts";
import type { Descriptor } from "./descriptor.ts";
import { type ImageIndex, loadRoot, type Root, selectImage } from "./image.ts";
import { isIndex } from "./mediatype.ts";
import type { Platform } from "./platform.ts";
import { type BlobEvent, hasCommitted, type ImageSink } from "./sink.ts";
import { type Node, walk } from "./walk.ts";

/** Commits tried when a sink reports blobs gone at commit (each retry puts them again first). */
const COMMIT_ATTEMPTS = 3;

export interface CopyOptions {
  /** Copy every image of an index (skopeo's --all). */
  all?: boolean;
  /** With `all`: copy the index itself and none of its images (skopeo's `--multi-arch index-only`). */
  indexOnly?: boolean | undefined;
  /** From an index, copy only this platform's image (default: this machine's, unless `all`). */
  platform?: Platform | undefined;
  /** Blobs transferred at once. */
  jobs?: number | undefined;
  onBlob?: (event: BlobEvent) => void;
  /** Called once the blobs to copy are known (before any is written): for totals and an ETA. */
  onPlan?: (blobs: readonly Descriptor[]) => void;
  signal?: AbortSignal | undefined;
  /**
   * Annotations of the root's descriptor where the destination lists it (an OCI layout's `index.json`: BuildKit's
   * manifest-descriptor and index-descriptor annotations); only when the root is copied as it is.
   */
  rootAnnotations?: Record<string, string> | undefined;
}

export interface CopyResult {
  /** The root written to the destination (an index when copied whole, else an image manifest). */
  root: Descriptor;
  blobs: { written: number; exists: number; mounted: number; bytes: number };
}

/** Open a blob, using a descriptor's embedded `data` when it has one. */
function opener(source: BlobSource, desc: Descriptor): () => Promise<Readable> {
  if (typeof desc.data === "string") {
    const bytes = Buffer.from(desc.data, "base64");
    return async () => verified(Readable.from([bytes]), desc, `blob ${desc.digest}`);
  }
  return () => source.openBlob(desc);
}

/** Run `fn` over `items` with at most `limit` in flight; the first failure stops new work and is thrown. */
async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure;
}

/**
 * The descriptor a copy writes for a root: content fields and platform, without the source's tag; `annotations`
 * (the caller's) when given.
 */
function rootDescriptor(desc: Descriptor, annotations?: Record<string, string>): Descriptor {
  const out: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (desc.platform) out.platform = desc.platform;
  if (desc.artifactType) out.artifactType = desc.artifactType;
  if (annotations && Object.keys(annotations).length) out.annotations = { ...annotations };
  return out;
}

/** Whether a value is an `Image` or `ImageIndex` (rather than a blob source). */
export function isRoot(x: BlobSource | Root): x is Root {
  const kind = (x as Partial<Root>).kind;
  return (kind === "image" || kind === "index") && "descriptor" in x && "source" in x;
}

/**
 * Copy an image or index to a sink: any `Image` (loaded, mutated or assembled) or `ImageIndex`, or the root a
 * descriptor names in a blob source. Bytes are never re-serialised: the destination gets the same manifest
 * digests. From an index, one platform is picked unless `all` is set.
 */
export function copy(image: Root, sink: ImageSink, options?: CopyOptions): Promise<CopyResult>;
export function copy(
  source: BlobSource,
  root: Descriptor,
  sink: ImageSink,
  options?: CopyOptions,
): Promise<CopyResult>;
export function copy(
  a: Root | BlobSource,
  b: Descriptor | ImageSink,
  c?: ImageSink | CopyOptions,
  d?: CopyOptions,
): Promise<CopyResult> {
  if (isRoot(a))
    return copyRoot(a.source, a.descriptor, b as ImageSink, (c as CopyOptions | undefined) ?? {}, a);
  return copyRoot(a, b as Descriptor, c as ImageSink, d ?? {});
}

/** Put one blob of `source` into `sink`, unless the sink holds it ("exists"): how it got there. */
export async function putBlobOf(
  source: BlobSource,
  descriptor: Descriptor,
  sink: ImageSink,
  options: Pick<CopyOptions, "onBlob" | "signal"> = {},
): Promise<"exists" | "written" | "mounted"> {
  options.signal?.throwIfAborted();
  if (await sink.hasBlob(descriptor)) {
    options.onBlob?.({ type: "done", descriptor, how: "exists" });
    return "exists";
  }
  options.onBlob?.({ type: "start", descriptor });
  const how = await sink.putBlob(descriptor, opener(source, descriptor), {
    from: source.originOf?.(descriptor) ?? source,
    writtenFile: hasWrittenFiles(source) ? source.writtenFile(descriptor) : undefined,
    onProgress: (bytes) => options.onBlob?.({ type: "progress", descriptor, bytes }),
    signal: options.signal,
  });
  options.onBlob?.({ type: "done", descriptor, how });
  return how;
}

/** The root alone when it is an index (its images are not read), else everything `walk` finds. */
async function indexAlone(source: BlobSource, root: Descriptor): Promise<Node[]> {
  if (!isIndex(root.mediaType)) return walk(source, root);
  const index = (await loadRoot(source, root)) as ImageIndex;
  return [{ kind: "index", descriptor: root, bytes: index.rawManifest, children: index.index.manifests }];
}

async function copyRoot(
  source: BlobSource,
  root: Descriptor,
  sink: ImageSink,
  options: CopyOptions,
  /** The root, when the caller has it loaded already. */
  loadedRoot?: Root,
): Promise<CopyResult> {
  const stats = { written: 0, exists: 0, mounted: 0, bytes: 0 };
  let failed = true;
  try {
    let top = root;
    if (!options.all) {
      const loaded =
        loadedRoot ??
        (await loadRoot(source, root).catch((err) => {
          if (err instanceof BerthError && err.code === "MEDIA_TYPE_UNSUPPORTED") return undefined;
          throw err;
        }));
      if (loaded?.kind === "index") top = (await selectImage(loaded, options.platform)).descriptor;
      else if (loaded && options.platform) await selectImage(loaded, options.platform);
    }
    const nodes = options.all && options.indexOnly ? await indexAlone(source, top) : await walk(source, top);
    const blobs = nodes.filter((n) => n.kind === "blob");
    options.onPlan?.(blobs.map((n) => n.descriptor));
    const written = top === root ? rootDescriptor(root, options.rootAnnotations) : rootDescriptor(top);
    if (hasCommitted(sink) && (await sink.holds(written))) {
      for (const { descriptor } of blobs) options.onBlob?.({ type: "done", descriptor, how: "exists" });
      stats.exists = blobs.length;
      failed = false;
      return { root: written, blobs: stats };
    }
    const putBlobs = async (blobs: Node[]) =>
      eachLimit(blobs, options.jobs ?? 4, async ({ descriptor }) => {
        const how = await putBlobOf(source, descriptor, sink, options);
        if (how === "exists") stats.exists++;
        else if (how === "mounted") stats.mounted++;
        else {
          stats.written++;
          stats.bytes += descriptor.size;
        }
      });
    const putManifests = async () => {
      for (const node of nodes) {
        if (node.kind !== "blob") await sink.putManifest(node.descriptor, node.bytes);
      }
    };
    await putBlobs(blobs);
    await putManifests();
    // A sink's commit may find blobs gone that it had (a local store's gc or another copy's cleanup racing
    // this copy's lease): it names them, they are put again (now under the lease) and the commit repeated.
    for (let attempt = 1; ; attempt++) {
      try {
        await sink.commit(written, {
          indexAlone: options.all && options.indexOnly && isIndex(written.mediaType),
        });
        break;
      } catch (err) {
        const missing =
          err instanceof BerthError && err.code === "BLOB_NOT_FOUND" ? err.details.missing : undefined;
        if (!Array.isArray(missing) || attempt >= COMMIT_ATTEMPTS) throw err;
        const gone = new Set(missing);
        await putBlobs(nodes.filter((n) => n.kind === "blob" && gone.has(n.descriptor.digest)));
        await putManifests();
      }
    }
    failed = false;
    return { root: written, blobs: stats };
  } finally {
    await sink.close(failed);
  }
}
