/** A build's step records: looked up, produced once, their layers moved into the blobs (src/dockerfile/step-records.ts). */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { StepCache } from "../../src/dockerfile/cache.ts";
import { ImportedCaches } from "../../src/dockerfile/cache-io.ts";
import { LayerEntries } from "../../src/dockerfile/stage-index.ts";
import { historyOf, StepRecords } from "../../src/dockerfile/step-records.ts";
import { tempDir } from "../helpers/temp.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

async function records() {
  const dir = await tempDir();
  const cache = new StepCache(join(dir, "home"));
  const shared = { producing: new Map(), layerEntries: new LayerEntries(cache.entriesDir) };
  const r = new StepRecords(cache, new ImportedCaches(cache), shared, () => "2001-01-01T00:00:00Z");
  return { dir, cache, r, shared };
}

describe("StepRecords", () => {
  it("produces a step once under its lookup: its layer moved into the blobs, its record written, its history as given", async () => {
    const { dir, cache, r } = await records();
    await mkdir(join(dir, "tmp"));
    const path = join(dir, "tmp", "layer");
    await writeFile(path, "x");
    let produced = 0;
    const produce = async () => {
      produced++;
      const layer = {
        path,
        digest: DIGEST,
        diffId: DIGEST,
        size: 1,
        mediaType: "application/vnd.oci.image.layer.v1.tar",
      };
      return { config: { Env: ["A=1"] }, layer };
    };
    const o = { createdBy: "COPY x /", comment: "c" };
    const [one, two] = await Promise.all([
      r.produceOnce("sha256:k", o, produce),
      r.produceOnce("sha256:k", o, produce),
    ]);
    expect(produced).toBe(1);
    expect(two).toBe(one);
    expect(one).toMatchObject({
      created: "2001-01-01T00:00:00Z",
      history: { created_by: "COPY x /", comment: "c" },
    });
    expect(existsSync(path)).toBe(false);
    expect(existsSync(cache.blobPath(DIGEST))).toBe(true);
    expect(await r.find("sha256:k", true)).toEqual(one);
    // written by this process: a local destination links it in
    expect(r.layers(one)).toEqual([
      expect.objectContaining({
        path: cache.blobPath(DIGEST),
        digest: DIGEST,
        written: true,
        source: undefined,
      }),
    ]);
    expect(r.layers({ config: {}, created: "x" })).toEqual([]);
  });

  it("a record kept under another lookup is found there; none is found without an import", async () => {
    const { r } = await records();
    expect(await r.find("sha256:none", false)).toBeUndefined();
    await r.put("sha256:other", { config: {}, created: "x", via: "sha256:k" });
    expect(await r.find("sha256:other", false)).toEqual({ config: {}, created: "x", via: "sha256:k" });
  });

  it("historyOf: created_by, with the comment only when given", () => {
    expect(historyOf({ createdBy: "RUN x" })).toEqual({ created_by: "RUN x" });
    expect(historyOf({ createdBy: "a", comment: "b" })).toEqual({ created_by: "a", comment: "b" });
  });
});
