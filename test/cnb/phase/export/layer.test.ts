/**
 * `LayerMaker` (src/cnb/phase/export/layer.ts): a layer is tarred only when nothing has it yet — a known
 * fingerprint gives its diffID, the previous image or a blob holder its blob, a directory cache its tar — and a
 * layer whose content moved under the export is refused. Real folders, tars and gzip blobs throughout.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DirectoryCache } from "../../../../src/cnb/cache/cache.ts";
import type { ExportInputs } from "../../../../src/cnb/phase/export/context.ts";
import { type LayerJob, LayerMaker } from "../../../../src/cnb/phase/export/layer.ts";
import { planLayer } from "../../../../src/layer/walk.ts";
import { assemble } from "../../../../src/oci/assemble.ts";
import { exportInputs } from "../../../helpers/cnb-export.ts";
import { tarEntries } from "../../../helpers/image.ts";

/** A job exporting `<app>` as `/workspace`, fingerprinted by its files' stats. */
function appJob(i: ExportInputs, extra: Partial<LayerJob> = {}): LayerJob {
  const sources = [{ source: i.appDir, dest: "/workspace" }];
  return {
    name: "acme/a:app",
    fingerprint: { sources, salt: "s" },
    entries: () => planLayer(sources, { mtime: 0 }),
    image: true,
    cache: false,
    likelyUnchanged: false,
    ...extra,
  };
}

async function setup(extra: Partial<ExportInputs> = {}) {
  const t = await exportInputs(extra);
  await writeFile(join(t.inputs.appDir, "server.js"), "console.log(1)");
  return { ...t, maker: new LayerMaker(t.inputs, t.inputs.workDir) };
}

describe("LayerMaker.make", () => {
  it("a new layer is tarred and compressed once, logged as added and listed as a new blob", async () => {
    const { inputs, maker, lines } = await setup();
    const out = await maker.make(appJob(inputs));
    expect(out).toMatchObject({ reused: false, cacheReused: false, layer: { diffId: out.diffId } });
    expect(maker.stats).toMatchObject({ added: 1, reused: 0, tarsWritten: 1, fingerprintHits: 0 });
    expect(maker.stats.bytesWritten).toBe(out.layer!.descriptor.size);
    expect(maker.newBlobs).toEqual([{ diffId: out.diffId, descriptor: out.layer!.descriptor }]);
    expect(lines).toEqual(["Adding layer 'acme/a:app'"]);
    // The index now knows the fingerprint.
    const again = new LayerMaker(inputs, inputs.workDir);
    expect((await again.make(appJob(inputs), true)).diffId).toBe(out.diffId);
    expect(again.stats.fingerprintHits).toBe(1);
    expect(lines).toHaveLength(1); // quiet
  });

  it("a known diffID whose blob a holder has is neither tarred nor written again", async () => {
    const { inputs, maker } = await setup();
    const first = await maker.make(appJob(inputs));
    const desc = first.layer!.descriptor;
    await inputs.index.rememberBlob(first.diffId, desc);
    const source = { openBlob: async () => Promise.reject(new Error("not read")) };
    const held = new LayerMaker(
      { ...inputs, blobHolders: [{ hasBlob: async (d) => d.digest === desc.digest, source }] },
      inputs.workDir,
    );
    const out = await held.make(appJob(inputs));
    expect(out.layer).toEqual({ descriptor: desc, diffId: first.diffId, from: source });
    expect(held.stats).toMatchObject({ fingerprintHits: 1, tarsWritten: 0, added: 1, bytesWritten: 0 });
    expect(held.newBlobs).toEqual([]);
  });

  it("a layer the previous image has is hashed, not compressed, and reused from it", async () => {
    const { inputs, maker } = await setup();
    const first = await maker.make(appJob(inputs));
    const prev = assemble({ os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } }, [
      first.layer!,
    ]);
    const { inputs: next, lines } = await exportInputs({
      appDir: inputs.appDir,
      previous: { image: prev, metadata: {} },
    });
    const m = new LayerMaker(next, next.workDir);
    const out = await m.make(appJob(next, { likelyUnchanged: true }));
    expect(out.diffId).toBe(first.diffId);
    expect(out.reused).toBe(true);
    expect(out.layer?.descriptor).toEqual(first.layer!.descriptor);
    expect(m.stats).toMatchObject({ hashedOnly: 1, tarsWritten: 0, reused: 1, added: 0 });
    expect(lines).toEqual(["Reusing layer 'acme/a:app'"]);
    expect(m.previousLayer(first.diffId)?.descriptor).toEqual(first.layer!.descriptor);
    expect(m.previousLayer(`sha256:${"0".repeat(64)}`)).toBeUndefined();
  });

  it("a directory cache gets the uncompressed tar once; a layer it has is reused, not tarred", async () => {
    const { inputs, dir } = await setup();
    const cache = new DirectoryCache(join(dir, "cache"));
    const cached = { ...inputs, cache };
    const m = new LayerMaker(cached, inputs.workDir);
    const out = await m.make(appJob(cached, { image: false, cache: true }));
    expect(out.layer).toBeUndefined();
    expect(out.cacheFiles?.diffId).toBe(out.diffId);
    expect(await tarEntries(await readFile(out.cacheFiles!.tarPath!))).toMatchObject({
      "/workspace/server.js": "console.log(1)",
    });
    expect(m.stats).toMatchObject({ cacheAdded: 1, cacheReused: 0, tarsWritten: 1 });
    await cache.save({ buildpacks: [] }, [out.cacheFiles!]);
    const again = new LayerMaker(cached, inputs.workDir);
    const second = await again.make(appJob(cached, { image: false, cache: true }));
    expect(second).toMatchObject({ cacheReused: true, cacheFiles: { diffId: out.diffId } });
    expect(second.cacheFiles?.tarPath).toBeUndefined();
    expect(again.stats).toMatchObject({ cacheReused: 1, tarsWritten: 0 });
  });

  it("content that differs from the diffID its fingerprint gave is refused, naming the layer and both diffIDs", async () => {
    const { inputs, maker } = await setup();
    const job = appJob(inputs, { fingerprint: { key: "fixed" } });
    const stale = `sha256:${"1".repeat(64)}` as const;
    await inputs.index.remember("fixed", stale);
    const err = await maker.make(job).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CNB_EXPORT_FAILED" });
    expect((err as Error).message).toMatch(
      new RegExp(
        `^exporting layer 'acme/a:app': layer 'acme/a:app' changed while it was exported \\(${stale} then sha256:[0-9a-f]{64}\\)$`,
      ),
    );
  });
});
