/**
 * BuildKit's cache format (`application/vnd.buildkit.cacheconfig.v0`, cache/remotecache/v1/spec.go in
 * moby/buildkit) as berth writes and reads it. A cache config lists `layers` (blob digests, each with its parent
 * layer's index and annotations: media type, diff ID, size, creation time) and `records` (a cache key digest, the
 * records it was computed from as `inputs`, and the layer its result is as `layers`). berth writes one record per
 * step, its digest berth's own step key (cache.ts), its input the step before (or a record of the stage's base
 * key); BuildKit keys its records by LLB digests berth does not compute, so each side finds only its own records.
 * What berth needs beyond BuildKit's fields (the config, history entry and time after each step) travels in each
 * record under `io.berth.step.v1`, which BuildKit's decoder ignores. The inline cache (an image config's
 * `moby.buildkit.cache.v0`, as BUILDKIT_INLINE_CACHE writes it) is the records alone, base64 of their JSON array,
 * their layer indexes counting the image's own layers.
 */
import { BerthError } from "../errors.ts";
import { isObject } from "../oci/descriptor.ts";
import { validateDigest } from "../oci/digest.ts";
import type { StepRecord } from "./cache.ts";

export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.buildkit.cacheconfig.v0";
/** The image config field of BuildKit's inline cache. */
export const INLINE_CACHE_FIELD = "moby.buildkit.cache.v0";
/** berth's step record inside a cache record. */
export const BERTH_STEP_FIELD = "io.berth.step.v1";
/** Annotations BuildKit puts on a cache index's layer descriptors. */
export const UNCOMPRESSED_ANNOTATION = "containerd.io/uncompressed";
export const CREATED_ANNOTATION = "buildkit/createdat";

export interface CacheLayer {
  blob: string;
  parent?: number;
  annotations?: { mediaType?: string; diffID?: string; size?: number; createdAt?: string };
}

export interface CacheRecord {
  layers?: { layer: number; createdAt?: string }[];
  digest: string;
  inputs?: { selector?: string; link: number }[][];
  /** berth's step record (BuildKit's decoder ignores the field). */
  [BERTH_STEP_FIELD]?: StepRecord;
}

export interface CacheConfig {
  layers: CacheLayer[];
  records: CacheRecord[];
}

/** One step a build used, for export: its record and where it sits in its stage's chain. */
export interface ExportStep {
  /** The key the record is stored under (cache.ts). */
  lookup: string;
  /** The stage's chained key after the step, and before it (the base's key for a stage's first step). */
  key: string;
  parent: string;
  record: StepRecord;
  /** The digest of the layer below this step's layer in the image, if any. */
  below?: string | undefined;
}

/** Records for these steps, in order (each after the one it follows); `layerOf` gives a layer's index. */
function encodeRecords(steps: readonly ExportStep[], layerOf: (s: ExportStep) => number): CacheRecord[] {
  const records: CacheRecord[] = [];
  const recordOfKey = new Map<string, number>();
  const seen = new Set<string>();
  const root = (digest: string): number => {
    let i = recordOfKey.get(digest);
    if (i === undefined) {
      i = records.push({ digest }) - 1;
      recordOfKey.set(digest, i);
    }
    return i;
  };
  for (const s of steps) {
    if (seen.has(s.lookup)) continue;
    seen.add(s.lookup);
    const rec: CacheRecord = { digest: s.lookup, inputs: [[{ selector: "", link: root(s.parent) }]] };
    if (s.record.layer) rec.layers = [{ layer: layerOf(s), createdAt: s.record.created }];
    rec[BERTH_STEP_FIELD] = s.record;
    const i = records.push(rec) - 1;
    if (!recordOfKey.has(s.key)) recordOfKey.set(s.key, i);
  }
  return records;
}

/** The cache config (registry and local caches) for these steps: their layers, each after the one below it. */
export function encodeCacheConfig(steps: readonly ExportStep[]): CacheConfig {
  const layers: CacheLayer[] = [];
  const layerIndex = new Map<string, number>();
  const records = encodeRecords(steps, (s) => {
    const l = s.record.layer!;
    let li = layerIndex.get(l.digest);
    if (li === undefined) {
      const parent = s.below === undefined ? undefined : layerIndex.get(s.below);
      li =
        layers.push({
          blob: l.digest,
          parent: parent ?? -1,
          annotations: {
            mediaType: l.mediaType,
            diffID: l.diffId,
            size: l.size,
            createdAt: s.record.created,
          },
        }) - 1;
      layerIndex.set(l.digest, li);
    }
    return li;
  });
  return { layers, records };
}

/**
 * The inline cache of an image: BuildKit writes only the records (a JSON array, base64 in the image config), their
 * layer indexes counting the image's own layers.
 */
export function encodeInline(steps: readonly ExportStep[], imageLayers: readonly string[]): string {
  const records = encodeRecords(steps, (s) => {
    const i = imageLayers.indexOf(s.record.layer!.digest);
    if (i < 0) throw new BerthError("INTERNAL", `layer ${s.record.layer!.digest} is not in the image`);
    return i;
  });
  return Buffer.from(JSON.stringify(records)).toString("base64");
}

const bad = (what: string, why: string) =>
  new BerthError("MANIFEST_INVALID", `${what}: ${why}`, {
    hint: "write the cache again with --cache-to, or leave this --cache-from out",
  });

/**
 * Read a cache config (an object with `records`) or an inline cache (the records alone): berth's step records by
 * key, each checked for the fields a build uses (a record of another shape is refused, not half-used), and how
 * many records carried none (BuildKit's, keyed by LLB digests).
 */
export function decodeCacheRecords(
  doc: unknown,
  what: string,
): { steps: Map<string, StepRecord>; buildkitRecords: number } {
  const records = Array.isArray(doc) ? doc : isObject(doc) ? doc.records : undefined;
  if (records !== undefined && !Array.isArray(records)) throw bad(what, "records must be an array");
  const steps = new Map<string, StepRecord>();
  let foreign = 0;
  for (const [n, rec] of (records ?? []).entries()) {
    if (!isObject(rec)) throw bad(what, `records[${n}] must be an object`);
    const r = rec[BERTH_STEP_FIELD];
    if (r === undefined) {
      if (Array.isArray(rec.layers) && rec.layers.length) foreign++;
      continue;
    }
    const field = `records[${n}].${BERTH_STEP_FIELD}`;
    try {
      validateDigest(rec.digest, `records[${n}].digest`);
    } catch (err) {
      throw bad(what, (err as Error).message);
    }
    if (!isObject(r)) throw bad(what, `${field} must be an object`);
    if (!isObject(r.config)) throw bad(what, `${field}.config must be an object`);
    if (typeof r.created !== "string") throw bad(what, `${field}.created must be a string`);
    if (r.history !== undefined && !isObject(r.history))
      throw bad(what, `${field}.history must be an object`);
    if (r.author !== undefined && typeof r.author !== "string")
      throw bad(what, `${field}.author must be a string`);
    if (r.via !== undefined) {
      try {
        validateDigest(r.via, `${field}.via`);
      } catch (err) {
        throw bad(what, (err as Error).message);
      }
    }
    if (r.layer !== undefined) {
      const l = r.layer;
      if (!isObject(l)) throw bad(what, `${field}.layer must be an object`);
      try {
        validateDigest(l.digest, `${field}.layer.digest`);
        validateDigest(l.diffId, `${field}.layer.diffId`);
      } catch (err) {
        throw bad(what, (err as Error).message);
      }
      if (typeof l.size !== "number" || !Number.isSafeInteger(l.size) || l.size < 0)
        throw bad(what, `${field}.layer.size must be a byte count`);
      if (typeof l.mediaType !== "string") throw bad(what, `${field}.layer.mediaType must be a string`);
    }
    steps.set(rec.digest as string, r as unknown as StepRecord);
  }
  return { steps, buildkitRecords: foreign };
}

/** Parse a cache config blob or an inline cache value (base64 of the records' JSON). */
export function parseCacheDocument(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw bad(what, `not JSON (${(err as Error).message})`);
  }
}

export function decodeInline(value: unknown, what: string): unknown {
  if (typeof value !== "string") throw bad(what, `${INLINE_CACHE_FIELD} is not a base64 string`);
  return parseCacheDocument(Buffer.from(value, "base64"), what);
}
