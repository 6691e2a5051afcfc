import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fsck } from "../../../src/oci/layout/fsck.ts";
import { blobPath } from "../../helpers/layout.ts";
import { handLayout } from "../../helpers/oci.ts";
import { tempDir } from "../../helpers/temp.ts";

async function setup() {
  const dir = await tempDir();
  const {
    layout,
    images: [a, b],
  } = await handLayout(dir, "a", "b");
  await layout.tag(a.manifest, "a");
  await layout.tag(b.manifest);
  return { dir, layout, a, b };
}

describe("fsck", () => {
  it("counts images, blobs and bytes of a sound layout, each blob once", async () => {
    const { layout, a, b } = await setup();
    await layout.tag(a.manifest, "a-again");
    const all = [a, b].flatMap((i) => [i.manifest, i.config, i.layer]);
    expect(await fsck(layout)).toEqual({
      images: 3,
      blobs: 6,
      bytes: all.reduce((n, d) => n + d.size, 0),
      problems: [],
    });
  });

  it("reports a corrupt and a missing blob under the entry that reaches it", async () => {
    const { dir, layout, a, b } = await setup();
    await writeFile(blobPath(dir, a.layer.digest), "flipped");
    await layout.removeBlob(b.config.digest);
    const result = await fsck(layout);
    expect(result.problems.map((p) => [p.entry, p.digest, p.code])).toEqual([
      ["a", a.layer.digest, "SIZE_MISMATCH"],
      [b.manifest.digest, b.config.digest, "BLOB_NOT_FOUND"],
    ]);
    expect(result.problems[1]!.message).toBe(`blob ${b.config.digest} is missing from the layout ${dir}`);
  });

  it("reports a missing manifest once, without walking under it", async () => {
    const { layout, a } = await setup();
    await layout.removeBlob(a.manifest.digest);
    const result = await fsck(layout);
    expect(result.problems).toEqual([
      {
        entry: "a",
        digest: a.manifest.digest,
        code: "BLOB_NOT_FOUND",
        message: expect.stringContaining(a.manifest.digest),
      },
    ]);
    expect(result.blobs).toBe(3);
  });

  it("reports an index.json it cannot read as a problem naming the digest at fault, not a crash", async () => {
    const { dir, layout } = await setup();
    const bad = `md5:${"0".repeat(32)}`;
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "a/b", digest: bad, size: 1 }] }),
    );
    const result = await fsck(layout);
    expect(result).toMatchObject({ images: 0, blobs: 0, bytes: 0 });
    expect(result.problems).toEqual([
      { entry: "index.json", code: "LAYOUT_INVALID", digest: bad, message: expect.stringContaining("md5") },
    ]);
  });
});
