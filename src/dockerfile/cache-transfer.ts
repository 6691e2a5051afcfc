/**
 * Moving the step cache between machines in BuildKit's format (cache-format.ts): `--cache-to type=registry` /
 * `type=local` write a cache manifest (an OCI index, or with `image-manifest=true` an image manifest, listing the
 * layers and the `application/vnd.buildkit.cacheconfig.v0` blob) to a registry or an OCI layout; `--cache-from`
 * reads one back, or the inline cache of an image (its config's `moby.buildkit.cache.v0`). Imported layers are
 * fetched only when something needs their bytes (`lazyLayer`: a step that runs on them, the image or a cache
 * written where the blob is not already, as BuildKit's lazy refs), verified (digest, size and diff ID) on the way
 * into the local cache; a registry destination on the cache's registry mounts them instead.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../errors.ts";
import { createCompressor } from "../layer/index.ts";
import { type BlobSource, readDocument, verified, type WrittenBlobSource } from "../oci/blob.ts";
import { decompress, decompressAs } from "../oci/compression.ts";
import { copy } from "../oci/copy.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { DigestingStream, digestBytes } from "../oci/digest.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import { OciLayout } from "../oci/layout/layout.ts";
import {
  isIndex,
  isManifest,
  layerCompression,
  MediaType,
  ociLayerType,
  toDockerLayerType,
  toOciLayerType,
} from "../oci/mediatype.ts";
import type { Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSink, openSource } from "../transport/open.ts";
import { type ImageArgument, registryArgument } from "../transport/parse.ts";
import { streamToFileAtomic } from "../util/fs.ts";
import type { StepRecord } from "./cache.ts";
import {
  CACHE_CONFIG_MEDIA_TYPE,
  CREATED_ANNOTATION,
  decodeCacheRecords,
  decodeInline,
  type ExportStep,
  encodeCacheConfig,
  INLINE_CACHE_FIELD,
  parseCacheDocument,
  UNCOMPRESSED_ANNOTATION,
} from "./cache-format.ts";
import type { CacheExportOptions, CacheFrom, CacheTo } from "./cache-spec.ts";

export interface ImportedCache {
  /** The --cache-from value. */
  text: string;
  /** berth's step records by key. */
  steps: Map<string, StepRecord>;
  /** Records without berth's step (BuildKit's). */
  buildkitRecords: number;
  /** The digests of the layers its records name. */
  layers: ReadonlySet<string>;
  /** `cache manifest` or `inline cache`. */
  kind: string;
  source: BlobSource;
  /**
   * Where a sink may take the cache's blobs without fetching them: a registry cache's repository (a registry on
   * the same host mounts them). None for a local cache: its layers are read through the fetch, verified whole.
   */
  origin?: BlobSource | undefined;
  close(): Promise<void>;
}

/** Open a --cache-from source and read its records; throws when it cannot be read (the build warns and goes on). */
export async function importCache(
  from: CacheFrom,
  ctx: TransportContext,
  platform: Platform,
): Promise<ImportedCache> {
  let source: BlobSource;
  let root: Descriptor;
  let close: () => Promise<void> = async () => undefined;
  if (from.type === "registry") {
    const opened = await openSource(registryArgument(from.ref), ctx);
    source = opened.source;
    root = opened.root;
    close = opened.close;
  } else {
    const layout = await OciLayout.open(from.src);
    source = layout;
    root = await layout.resolve(from.digest ?? from.tag);
  }
  try {
    const what = `the cache ${from.text}`;
    const { doc, kind } = await readCacheRoot(source, root, platform, what);
    const { steps, buildkitRecords } = decodeCacheRecords(doc, what);
    const origin = from.type === "registry" ? source : undefined;
    const layers = new Set<string>();
    for (const r of steps.values()) if (r.layer) layers.add(r.layer.digest);
    return { text: from.text, steps, buildkitRecords, layers, kind, source, origin, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function readCacheRoot(
  source: BlobSource,
  root: Descriptor,
  platform: Platform,
  what: string,
): Promise<{ doc: unknown; kind: string }> {
  const cacheConfig = async (d: Descriptor) => ({
    doc: parseCacheDocument(await readDocument(source, d, `${what}: cache config`), what),
    kind: "cache manifest",
  });
  if (isIndex(root.mediaType)) {
    const raw = await readDocument(source, root, `${what}: index`);
    const index = parseCacheDocument(raw, what) as { manifests?: Descriptor[] };
    const cfg = index.manifests?.find((m) => m?.mediaType === CACHE_CONFIG_MEDIA_TYPE);
    if (cfg) return cacheConfig(cfg);
  } else if (isManifest(root.mediaType)) {
    const raw = await readDocument(source, root, `${what}: manifest`);
    const manifest = parseCacheDocument(raw, what) as { config?: Descriptor };
    if (manifest.config?.mediaType === CACHE_CONFIG_MEDIA_TYPE) return cacheConfig(manifest.config);
  }
  // An image: its inline cache.
  const image = await selectImage(await loadRoot(source, root), platform);
  const value = image.config?.[INLINE_CACHE_FIELD];
  if (value === undefined) {
    throw new BerthError(
      "MANIFEST_INVALID",
      `${what}: ${image.digest} is an image without an inline cache (no ${INLINE_CACHE_FIELD} in its config) and not a cache manifest`,
      {
        hint: "write it with --cache-to type=inline (berth) or --build-arg BUILDKIT_INLINE_CACHE=1 (BuildKit)",
      },
    );
  }
  return { doc: decodeInline(value, what), kind: "inline cache" };
}

/**
 * A layer of an imported cache, fetched only when its bytes are read; once this process has fetched and
 * verified it, its file is one a local destination may link in (`writtenFile`).
 */
export interface LazyLayer extends WrittenBlobSource {
  /** The layer's file in the local cache: fetched (once) and verified first when it is not there. */
  local(): Promise<string>;
}

/**
 * An imported record's layer as a blob source that fetches it into `path` (the local cache's blob) on the first
 * read, once however many readers ask, verified as `fetchLayer` does. `caches` are the imported caches whose
 * records name the layer, the one the record was found in first: one that no longer serves it (pruned) or not
 * as recorded gives way to the next, as BuildKit resolves a lazy ref against every remote that provides the
 * record. When none serves it the read fails naming the caches and the blob, as BuildKit fails ("blob not
 * found") on a lazy ref whose blob is gone. The first cache with a registry repository is the layer's origin,
 * so that a registry sink on the cache's registry mounts the blob and its bytes are never fetched.
 */
export function lazyLayer(
  caches: readonly ImportedCache[],
  layer: NonNullable<StepRecord["layer"]>,
  path: string,
  tmpDir: () => Promise<string>,
): LazyLayer {
  let fetching: Promise<string> | undefined;
  let fetched = false;
  const local = () => {
    fetching ??= (async () => {
      if ((await sizeOf(path)) === layer.size) return path;
      const failures: Error[] = [];
      for (const cache of caches) {
        try {
          await fetchLayer(cache, layer, path, await tmpDir());
          fetched = true;
          return path;
        } catch (err) {
          failures.push(err as Error);
        }
      }
      throw unfetchable(caches, layer, failures);
    })();
    return fetching;
  };
  const origin = caches.find((c) => c.origin)?.origin;
  return {
    local,
    async openBlob(desc: Descriptor): Promise<Readable> {
      return verified(createReadStream(await local()), desc, `layer ${desc.digest}`);
    },
    originOf(desc: Descriptor): BlobSource | undefined {
      return origin && (origin.originOf?.(desc) ?? origin);
    },
    writtenFile(desc: Descriptor): string | undefined {
      return fetched && desc.digest === layer.digest && desc.size === layer.size ? path : undefined;
    },
  };
}

/** A layer none of the caches naming it serves as recorded: each cache and what it answered. */
function unfetchable(
  caches: readonly ImportedCache[],
  layer: NonNullable<StepRecord["layer"]>,
  failures: readonly Error[],
): BerthError {
  const first = failures[0];
  const why =
    failures.length === 1
      ? first?.message
      : failures.map((e, i) => `${caches[i]?.text}: ${e.message}`).join("; ");
  return new BerthError(
    first instanceof BerthError ? first.code : "BLOB_NOT_FOUND",
    `${caches.map((c) => `--cache-from ${c.text}`).join(", ")}: cannot fetch the cached layer ${layer.digest} (${why})`,
    {
      cause: first,
      hint: "the cache names a layer its store no longer serves as recorded: write the cache again (--cache-to), or build with --no-cache",
    },
  );
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/**
 * Fetch an imported record's layer into `path` (the local cache's blob), verified: its digest and size as it
 * streams, then its diff ID over the uncompressed bytes, before the record may be used.
 */
async function fetchLayer(
  cache: ImportedCache,
  layer: NonNullable<StepRecord["layer"]>,
  path: string,
  tmpDir: string,
): Promise<void> {
  const desc: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  await mkdir(dirname(path), { recursive: true });
  // its own name: builds sharing the local cache (platforms.ts) may fetch the same layer at once
  const part = `${path}.import-${randomBytes(6).toString("hex")}`;
  await streamToFileAtomic(
    verified(await cache.source.openBlob(desc), desc, `layer ${desc.digest}`),
    part,
    tmpDir,
  );
  try {
    const h = createHash("sha256");
    await pipeline(await decompress(createReadStream(part)), async (chunks: AsyncIterable<Buffer>) => {
      for await (const c of chunks) h.update(c);
    });
    const diffId = `sha256:${h.digest("hex")}`;
    if (diffId !== layer.diffId) {
      throw new BerthError(
        "DIGEST_MISMATCH",
        `layer ${layer.digest} uncompresses to ${diffId}, not the diff ID ${layer.diffId} its record gives`,
      );
    }
    await rename(part, path);
  } finally {
    await rm(part, { force: true });
  }
}

/**
 * Blobs of an export: the cache config and index in memory, layers from the local cache's files, or from the
 * imported cache they were found in when they were never fetched (`lazy`: a registry sink mounts those).
 */
function exportSource(
  memory: Map<string, Buffer>,
  files: Map<string, string>,
  lazy: ReadonlyMap<string, LazyLayer>,
): BlobSource {
  return {
    async openBlob(desc: Descriptor): Promise<Readable> {
      const bytes = memory.get(desc.digest);
      if (bytes) return verified(Readable.from([bytes]), desc, `blob ${desc.digest}`);
      const fetchable = lazy.get(desc.digest);
      if (fetchable) return fetchable.openBlob(desc);
      const path = files.get(desc.digest);
      if (path) return verified(createReadStream(path), desc, `layer ${desc.digest}`);
      throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is not part of this cache`);
    },
    originOf(desc: Descriptor): BlobSource | undefined {
      return lazy.get(desc.digest)?.originOf?.(desc);
    },
  };
}

/**
 * A layer in the compression the cache asks for: as built when it already is (and recompression is not forced),
 * else decompressed and compressed again into the local cache's blobs (content-addressed, so a second export finds
 * it), the record's layer descriptor following (same diff ID).
 */
async function inCompression(
  layer: NonNullable<StepRecord["layer"]>,
  to: CacheExportOptions,
  blobPath: (digest: string) => string,
  tmpDir: string,
  lazy: ReadonlyMap<string, LazyLayer>,
): Promise<NonNullable<StepRecord["layer"]>> {
  const have = layerCompression(layer.mediaType);
  if (to.compression === undefined || have === undefined) return layer;
  if (have === to.compression && !to.forceCompression) return layer;
  await lazy.get(layer.digest)?.local();
  const part = join(tmpDir, `recompress-${randomBytes(6).toString("hex")}`);
  const digesting = new DigestingStream();
  try {
    await pipeline(
      decompressAs(createReadStream(blobPath(layer.digest)), have),
      createCompressor({
        compression: to.compression,
        level: to.compressionLevel,
      }),
      digesting,
      createWriteStream(part),
    );
    const path = blobPath(digesting.digest);
    await mkdir(dirname(path), { recursive: true });
    await rename(part, path);
  } finally {
    await rm(part, { force: true });
  }
  return {
    digest: digesting.digest,
    diffId: layer.diffId,
    size: digesting.size,
    mediaType: ociLayerType(to.compression),
  };
}

/**
 * Write a cache manifest for `steps` to a registry or an OCI layout, as BuildKit's registry and local exporters;
 * layers from the local cache's blobs, or from `lazy` (found in an imported cache and never fetched).
 */
export async function exportCache(
  to: Extract<CacheTo, { type: "registry" | "local" }>,
  steps: readonly ExportStep[],
  blobPath: (digest: string) => string,
  ctx: TransportContext,
  tmpDir: string,
  lazy: ReadonlyMap<string, LazyLayer> = new Map(),
): Promise<{ root: Descriptor; layers: number }> {
  if (to.compression !== undefined) {
    const converted = new Map<string, NonNullable<StepRecord["layer"]>>();
    const out: ExportStep[] = [];
    for (const s of steps) {
      const l = s.record.layer;
      if (!l) {
        out.push(s);
        continue;
      }
      let c = converted.get(l.digest);
      if (!c) {
        c = await inCompression(l, to, blobPath, tmpDir, lazy);
        converted.set(l.digest, c);
      }
      const below = s.below === undefined ? undefined : (converted.get(s.below)?.digest ?? s.below);
      out.push({ ...s, record: { ...s.record, layer: c }, below });
    }
    steps = out;
  }
  const config = Buffer.from(JSON.stringify(encodeCacheConfig(steps)));
  const configDesc: Descriptor = {
    mediaType: CACHE_CONFIG_MEDIA_TYPE,
    digest: digestBytes(config),
    size: config.length,
  };
  const files = new Map<string, string>();
  const layers: Descriptor[] = [];
  for (const s of steps) {
    const l = s.record.layer;
    if (!l || files.has(l.digest)) continue;
    files.set(l.digest, blobPath(l.digest));
    layers.push({
      mediaType: to.ociMediaTypes ? toOciLayerType(l.mediaType) : toDockerLayerType(l.mediaType),
      digest: l.digest,
      size: l.size,
      annotations: { [UNCOMPRESSED_ANNOTATION]: l.diffId, [CREATED_ANNOTATION]: s.record.created },
    });
  }
  const doc = to.imageManifest
    ? { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers }
    : {
        schemaVersion: 2,
        mediaType: to.ociMediaTypes ? MediaType.OciIndex : MediaType.DockerManifestList,
        manifests: [...layers, configDesc],
      };
  const bytes = Buffer.from(JSON.stringify(doc));
  const root: Descriptor = { mediaType: doc.mediaType, digest: digestBytes(bytes), size: bytes.length };
  const memory = new Map([
    [configDesc.digest, config],
    [root.digest, bytes],
  ]);
  // a layout opened as any `oci:` destination is: what killed writers left in it swept first
  const dest: ImageArgument =
    to.type === "registry"
      ? registryArgument(to.ref)
      : { transport: "oci", path: to.dest, ref: to.tag, text: `oci:${to.dest}:${to.tag}` };
  const sink = await openSink(dest, ctx);
  await copy(exportSource(memory, files, lazy), root, sink, { all: true, jobs: ctx.jobs || undefined });
  return { root, layers: layers.length };
}
