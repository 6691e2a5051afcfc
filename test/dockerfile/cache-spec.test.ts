/** `--cache-to`/`--cache-from` values (BuildKit's CSV) and the cache document berth writes in BuildKit's format. */
import { describe, expect, it } from "vitest";
import type { StepRecord } from "../../src/dockerfile/cache.ts";
import {
  BERTH_STEP_FIELD,
  decodeCacheRecords,
  decodeInline,
  type ExportStep,
  encodeCacheConfig,
  encodeInline,
} from "../../src/dockerfile/cache-format.ts";
import { parseCacheFrom, parseCacheTo } from "../../src/dockerfile/cache-spec.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe("parseCacheTo / parseCacheFrom", () => {
  it("takes BuildKit's attributes with BuildKit's defaults", () => {
    expect(parseCacheTo("type=registry,ref=127.0.0.1:5000/app:cache")).toMatchObject({
      type: "registry",
      ref: "127.0.0.1:5000/app:cache",
      mode: "min",
      ociMediaTypes: true,
      imageManifest: false,
      ignoreError: false,
      forceCompression: false,
    });
    expect(
      parseCacheTo(
        "type=registry,ref=r/a:c,mode=max,oci-mediatypes=true,image-manifest=true,compression=zstd,compression-level=9,ignore-error=true",
      ),
    ).toMatchObject({
      mode: "max",
      imageManifest: true,
      compression: "zstd",
      compressionLevel: 9,
      ignoreError: true,
    });
    expect(parseCacheTo("type=registry,ref=r/a:c,compression=uncompressed")).toMatchObject({
      compression: "none",
    });
    expect(parseCacheTo("type=local,dest=/tmp/c")).toMatchObject({
      type: "local",
      dest: "/tmp/c",
      tag: "latest",
    });
    expect(parseCacheTo('type=local,"dest=/tmp/a,b",tag=v1')).toMatchObject({ dest: "/tmp/a,b", tag: "v1" });
    expect(parseCacheTo("type=inline")).toEqual({ type: "inline", text: "type=inline" });
    // buildx's shorthand: a bare reference is a registry cache.
    expect(parseCacheFrom("r/app:cache")).toEqual({
      type: "registry",
      ref: "r/app:cache",
      text: "r/app:cache",
    });
    expect(parseCacheFrom(`type=local,src=/c,digest=${d("a")}`)).toMatchObject({ src: "/c", digest: d("a") });
  });

  it("names the attribute at fault", () => {
    expect(() => parseCacheTo("type=registry,ref=r/a:c,mode=max,mode=min")).toThrow(/mode= is given twice/);
    expect(() => parseCacheTo("ref=r/a:c")).toThrow(/no type=/);
    expect(() => parseCacheTo("type=registry,ref")).toThrow(/"ref" is not key=value/);
    expect(() => parseCacheTo("type=inline,mode=max")).toThrow(/unknown attribute mode=/);
    expect(() => parseCacheTo("type=registry,ref=r/a:c,image-manifest=true,oci-mediatypes=false")).toThrow(
      /image-manifest=true needs oci-mediatypes=true/,
    );
    expect(() => parseCacheTo("type=registry,ref=r/a:c,compression-level=3")).toThrow(
      /compression-level= needs compression=gzip or compression=zstd/,
    );
    expect(() => parseCacheFrom("type=registry,ref=r/a:c,mode=max")).toThrow(/unknown attribute mode=/);
    expect(() => parseCacheFrom("type=local,src=/c,digest=sha256:nothex")).toThrow(/digest/);
    expect(() => parseCacheFrom("type=s3,bucket=b")).toThrow(/type=s3 is not supported/);
  });
});

const record = (layer: string | undefined, created = "2026-01-01T00:00:00Z"): StepRecord => ({
  config: { Env: ["A=1"] },
  created,
  history: { created_by: "RUN x" },
  ...(layer
    ? {
        layer: {
          digest: d(layer),
          diffId: d(layer.toUpperCase() === layer ? "f" : "e"),
          size: 10,
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        },
      }
    : {}),
});

describe("the cache document", () => {
  const steps: ExportStep[] = [
    { lookup: d("1"), key: d("1"), parent: d("0"), record: record("a"), below: d("9") },
    { lookup: d("2"), key: d("2"), parent: d("1"), record: record(undefined) },
    { lookup: d("3"), key: d("3"), parent: d("2"), record: record("b"), below: d("a") },
  ];

  it("is BuildKit's cacheconfig: layers chained by parent, records linked to the record before", () => {
    const cfg = encodeCacheConfig(steps);
    expect(cfg.layers.map((l) => [l.blob, l.parent])).toEqual([
      [d("a"), -1],
      [d("b"), 0],
    ]);
    const byDigest = new Map(cfg.records.map((r, i) => [r.digest, { r, i }]));
    expect(byDigest.get(d("0"))?.r.inputs).toBeUndefined();
    expect(byDigest.get(d("1"))?.r.inputs).toEqual([[{ selector: "", link: byDigest.get(d("0"))!.i }]]);
    expect(byDigest.get(d("3"))?.r.inputs).toEqual([[{ selector: "", link: byDigest.get(d("2"))!.i }]]);
    expect(byDigest.get(d("3"))?.r.layers).toEqual([{ layer: 1, createdAt: "2026-01-01T00:00:00Z" }]);
    const back = decodeCacheRecords(JSON.parse(JSON.stringify(cfg)), "test");
    expect([...back.steps.keys()]).toEqual([d("1"), d("2"), d("3")]);
    expect(back.steps.get(d("3"))).toEqual(steps[2]!.record);
    expect(back.buildkitRecords).toBe(0);
  });

  it("inline: the records alone, base64, layer indexes counting the image's layers", () => {
    const value = encodeInline(steps, [d("9"), d("a"), d("b")]);
    const doc = decodeInline(value, "test") as { digest: string; layers?: { layer: number }[] }[];
    expect(Array.isArray(doc)).toBe(true);
    expect(doc.find((r) => r.digest === d("1"))?.layers?.[0]?.layer).toBe(1);
    expect(doc.find((r) => r.digest === d("3"))?.layers?.[0]?.layer).toBe(2);
    expect(decodeCacheRecords(doc, "test").steps.size).toBe(3);
  });

  it("counts BuildKit's records and refuses a berth record of the wrong shape", () => {
    const buildkit = [{ digest: d("c"), layers: [{ layer: 0 }] }, { digest: d("d") }];
    expect(decodeCacheRecords(buildkit, "test")).toEqual({ steps: new Map(), buildkitRecords: 1 });
    const bad = [{ digest: d("c"), [BERTH_STEP_FIELD]: { config: {}, created: 1 } }];
    expect(() => decodeCacheRecords(bad, "the cache x")).toThrow(
      /the cache x: records\[0\]\.io\.berth\.step\.v1\.created/,
    );
    const badLayer = [
      {
        digest: d("c"),
        [BERTH_STEP_FIELD]: {
          config: {},
          created: "t",
          layer: { digest: "sha256:../x", diffId: d("e"), size: 1, mediaType: "m" },
        },
      },
    ];
    expect(() => decodeCacheRecords(badLayer, "test")).toThrow(/layer\.digest/);
  });
});
