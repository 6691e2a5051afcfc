/** BuildKit's cache config and inline cache as berth writes and reads them (src/dockerfile/cache-format.ts). */
import { describe, expect, it } from "vitest";
import type { StepRecord } from "../../src/dockerfile/cache.ts";
import {
  BERTH_STEP_FIELD,
  decodeCacheRecords,
  decodeInline,
  type ExportStep,
  encodeCacheConfig,
  encodeInline,
  parseCacheDocument,
} from "../../src/dockerfile/cache-format.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { failure } from "./helpers/failure.ts";

const d = (s: string) => digestBytes(s);
const layer = (s: string) => ({
  digest: d(`blob ${s}`),
  diffId: d(`diff ${s}`),
  size: 10,
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
});
const record = (s: string, withLayer = true): StepRecord => ({
  config: { Env: [`STEP=${s}`] },
  created: "2024-01-01T00:00:00Z",
  history: { created_by: s },
  ...(withLayer ? { layer: layer(s) } : {}),
});

/** A stage of three steps on a base key: a layer, a config-only step, a layer on the first. */
const base = d("base");
const steps: ExportStep[] = [
  { lookup: d("l1"), key: d("k1"), parent: base, record: record("one") },
  { lookup: d("l2"), key: d("k2"), parent: d("k1"), record: record("env", false) },
  { lookup: d("l3"), key: d("k3"), parent: d("k2"), record: record("two"), below: layer("one").digest },
];

describe("encodeCacheConfig", () => {
  it("lists each layer once with its parent and a record per step chained to the one before", () => {
    const c = encodeCacheConfig(steps);
    expect(c.layers).toEqual([
      {
        blob: layer("one").digest,
        parent: -1,
        annotations: {
          mediaType: layer("one").mediaType,
          diffID: layer("one").diffId,
          size: 10,
          createdAt: "2024-01-01T00:00:00Z",
        },
      },
      expect.objectContaining({ blob: layer("two").digest, parent: 0 }),
    ]);
    expect(c.records.map((r) => [r.digest, r.inputs?.[0]?.[0]?.link, r.layers?.[0]?.layer])).toEqual([
      [base, undefined, undefined],
      [d("l1"), 0, 0],
      [d("l2"), 1, undefined],
      [d("l3"), 2, 1],
    ]);
    expect(c.records[3]![BERTH_STEP_FIELD]).toEqual(record("two"));
  });

  it("writes a step used twice once", () => {
    expect(encodeCacheConfig([...steps, steps[0]!]).records).toHaveLength(4);
  });
});

describe("encodeInline and decodeInline", () => {
  it("round-trips the records, their layers counted among the image's", () => {
    const image = [d("os layer"), layer("one").digest, layer("two").digest];
    const value = encodeInline(steps, image);
    const records = decodeInline(value, "image config") as { layers?: { layer: number }[] }[];
    expect(records.map((r) => r.layers?.[0]?.layer)).toEqual([undefined, 1, undefined, 2]);
    const { steps: read, buildkitRecords } = decodeCacheRecords(records, "image config");
    expect([...read.keys()]).toEqual([d("l1"), d("l2"), d("l3")]);
    expect(read.get(d("l2"))).toEqual(record("env", false));
    expect(buildkitRecords).toBe(0);
  });

  it("refuses a step whose layer is not in the image", () => {
    expect(failure(() => encodeInline(steps, [layer("one").digest]))).toEqual({
      code: "INTERNAL",
      message: `layer ${layer("two").digest} is not in the image`,
    });
  });

  it("refuses a value that is not base64 of JSON", () => {
    const hint = "write the cache again with --cache-to, or leave this --cache-from out";
    expect(failure(() => decodeInline(42, "alpine config"))).toEqual({
      code: "MANIFEST_INVALID",
      message: "alpine config: moby.buildkit.cache.v0 is not a base64 string",
      hint,
    });
    expect(failure(() => parseCacheDocument(Buffer.from("{no"), "cache blob")).message).toMatch(
      /^cache blob: not JSON \(.+\)$/,
    );
  });
});

describe("decodeCacheRecords", () => {
  const good = (over: Record<string, unknown>) => ({
    records: [{ digest: d("x"), [BERTH_STEP_FIELD]: { ...record("x"), ...over } }],
  });
  const why = (doc: unknown) => failure(() => decodeCacheRecords(doc, "cache")).message;
  const field = `records[0].${BERTH_STEP_FIELD}`;

  it("counts BuildKit's own records (with layers) and skips them", () => {
    const doc = { records: [{ digest: d("bk"), layers: [{ layer: 0 }] }, { digest: d("root") }] };
    const r = decodeCacheRecords(doc, "cache");
    expect(r.steps.size).toBe(0);
    expect(r.buildkitRecords).toBe(1);
    expect(decodeCacheRecords({}, "cache").steps.size).toBe(0);
  });

  it("refuses records of another shape, naming the field", () => {
    expect(why({ records: {} })).toBe("cache: records must be an array");
    expect(why(["x"])).toBe("cache: records[0] must be an object");
    expect(why({ records: [{ digest: "nope", [BERTH_STEP_FIELD]: record("x") }] })).toBe(
      'cache: records[0].digest "nope" is not a valid digest',
    );
    expect(why(good({ config: [] }))).toBe(`cache: ${field}.config must be an object`);
    expect(why(good({ created: 1 }))).toBe(`cache: ${field}.created must be a string`);
    expect(why(good({ history: "h" }))).toBe(`cache: ${field}.history must be an object`);
    expect(why(good({ author: 5 }))).toBe(`cache: ${field}.author must be a string`);
    expect(why(good({ layer: [] }))).toBe(`cache: ${field}.layer must be an object`);
    expect(why(good({ layer: { ...layer("x"), diffId: "sha256:12" } }))).toBe(
      `cache: ${field}.layer.diffId "sha256:12" is not a valid sha256 digest (needs 64 lowercase hex digits)`,
    );
    expect(why(good({ layer: { ...layer("x"), size: -1 } }))).toBe(
      `cache: ${field}.layer.size must be a byte count`,
    );
    expect(why(good({ layer: { ...layer("x"), mediaType: null } }))).toBe(
      `cache: ${field}.layer.mediaType must be a string`,
    );
  });
});
