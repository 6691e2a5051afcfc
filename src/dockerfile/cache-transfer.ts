/**
 * Moving the step cache between machines in BuildKit's format (cache-format.ts): `--cache-to type=registry` /
 * `type=local` write a cache manifest (an OCI index, or with `image-manifest=true` an image manifest, listing the
 * layers and the `application/vnd.buildkit.cacheconfig.v0` blob) to a registry or an OCI layout; `--cache-from`
 * reads one back, or the inline cache of an image (its config's `moby.buildkit.cache.v0`). Imported layers are
 * fetched only when a step uses them, verified (digest, size and diff ID) on the way into the local cache.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../errors.ts";
import { createCompressor } from "../layer/index.ts";
import { type BlobSource, readDocument, verified } from "../oci/blob.ts";
import { decompress, decompressAs } from "../oci/compression.ts";
import { copy } from "../oci/copy.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { DigestingStream, digestBytes } from "../oci/digest.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import { OciLayout } from "../oci/layout/layout.ts";
import { LayoutSink } from "../oci/layout/sink.ts";
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
import type { ImageSink } from "../oci/sink.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSink, openSource } from "../transport/open.ts";
import { registryArgument } from "../transport/parse.ts";
import { exists, streamToFileAtomic } from "../util/fs.ts";
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
  /** `cache manifest` or `inline cache`. */
  kind: string;
  source: BlobSource;
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
    return { text: from.text, steps, buildkitRecords, kind, source, close };
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
 * Fetch an imported record's layer into `path` (the local cache's blob), verified: its digest and size as it
 * streams, then its diff ID over the uncompressed bytes, before the record may be used.
 */
export async function fetchLayer(
  cache: ImportedCache,
  layer: NonNullable<StepRecord["layer"]>,
  path: string,
  tmpDir: string,
): Promise<void> {
  const desc: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  await mkdir(dirname(path), { recursive: true });
  const part = `${path}.import`;
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
        `${cache.text}: layer ${layer.digest} uncompresses to ${diffId}, not the diff ID ${layer.diffId} its record gives`,
      );
    }
    await rename(part, path);
  } finally {
    await rm(part, { force: true });
  }
}

/** Blobs of an export: the cache config and index in memory, layers from the local cache's files. */
function exportSource(memory: Map<string, Buffer>, files: Map<string, string>): BlobSource {
  return {
    async openBlob(desc: Descriptor): Promise<Readable> {
      const bytes = memory.get(desc.digest);
      if (bytes) return verified(Readable.from([bytes]), desc, `blob ${desc.digest}`);
      const path = files.get(desc.digest);
      if (path) return verified(createReadStream(path), desc, `layer ${desc.digest}`);
      throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} is not part of this cache`);
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
): Promise<NonNullable<StepRecord["layer"]>> {
  const have = layerCompression(layer.mediaType);
  if (to.compression === undefined || have === undefined) return layer;
  if (have === to.compression && !to.forceCompression) return layer;
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

/** Write a cache manifest for `steps` to a registry or an OCI layout, as BuildKit's registry and local exporters. */
export async function exportCache(
  to: Extract<CacheTo, { type: "registry" | "local" }>,
  steps: readonly ExportStep[],
  blobPath: (digest: string) => string,
  ctx: TransportContext,
  tmpDir: string,
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
        c = await inCompression(l, to, blobPath, tmpDir);
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
  let sink: ImageSink;
  if (to.type === "registry") sink = await openSink(registryArgument(to.ref), ctx);
  else {
    const created = !(await exists(to.dest));
    sink = new LayoutSink(await OciLayout.openOrCreate(to.dest), to.tag, created);
  }
  await copy(exportSource(memory, files), root, sink, { all: true, jobs: ctx.jobs || undefined });
  return { root, layers: layers.length };
}
