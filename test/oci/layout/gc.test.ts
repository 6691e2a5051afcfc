import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestBytes } from "../../../src/oci/digest.ts";
import { gc } from "../../../src/oci/layout/gc.ts";
import { reachable } from "../../../src/oci/layout/layout.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { errorOf, handLayout, putDocument } from "../../helpers/oci.ts";
import { tempDir } from "../../helpers/temp.ts";

/** A layout with a tagged image, an untagged stray image and a loose blob. */
async function setup() {
  const dir = await tempDir();
  const {
    layout,
    images: [kept, stray],
  } = await handLayout(dir, "kept", "stray");
  const loose = await putDocument(dir, "loose bytes", MediaType.OciLayer);
  await layout.tag(kept.manifest, "v1");
  return { dir, layout, kept, stray, loose };
}

const blobs = async (dir: string) =>
  (await readdir(join(dir, "blobs", "sha256"))).map((h) => `sha256:${h}`).sort();

describe("gc", () => {
  it("removes what no tag reaches, with its size, and keeps the rest", async () => {
    const { dir, layout, kept, stray, loose } = await setup();
    const gone = [stray.manifest, stray.config, stray.layer, loose];
    const result = await gc(layout);
    expect(result).toEqual({
      removed: gone.map((d) => d.digest).sort(),
      bytes: gone.reduce((n, d) => n + d.size, 0),
      leased: 0,
      swept: 0,
    });
    expect(await blobs(dir)).toEqual([kept.manifest, kept.config, kept.layer].map((d) => d.digest).sort());
  });

  it("with dryRun, reports the same and removes nothing", async () => {
    const { dir, layout, loose } = await setup();
    const before = await blobs(dir);
    const result = await gc(layout, { dryRun: true });
    expect(result.removed).toHaveLength(4);
    expect(result.removed).toContain(loose.digest);
    expect(await blobs(dir)).toEqual(before);
  });

  it("keeps what a live lease holds and sweeps the leases of dead berths", async () => {
    const { layout, stray, loose } = await setup();
    const lease = layout.lease();
    await lease.add(loose.digest);
    await writeFile(
      join(layout.leasesDir, "p0t1.000000.lease"),
      `${stray.layer.digest}\n+${stray.layer.digest}\n`,
    );
    const result = await gc(layout);
    expect([result.leased, result.swept]).toEqual([1, 1]);
    expect(result.removed).toEqual([stray.manifest, stray.config, stray.layer].map((d) => d.digest).sort());
    expect(await layout.hasBlob(loose)).toBe(true);
    expect(await readdir(layout.leasesDir)).toEqual([lease.name]);
    await lease.release();
  });
});

describe("reachable", () => {
  it("collects every digest under the roots; a missing manifest fails unless tolerated", async () => {
    const { layout, kept, stray } = await setup();
    expect([...(await reachable(layout, [kept.manifest]))].sort()).toEqual(
      [kept.manifest, kept.config, kept.layer].map((d) => d.digest).sort(),
    );
    const missing = { ...stray.manifest, digest: digestBytes("no manifest") };
    expect((await errorOf(() => reachable(layout, [missing]))).code).toBe("BLOB_NOT_FOUND");
    expect([...(await reachable(layout, [missing], { tolerateMissing: true }))]).toEqual([missing.digest]);
  });
});
