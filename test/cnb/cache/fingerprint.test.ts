/** cache/fingerprint.ts: the stat fingerprint of a layer's files and the index from it to diffIDs and blobs. */
import { mkdir, readdir, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { LayerIndex, statFingerprint } from "../../../src/cnb/cache/fingerprint.ts";
import type { Digest } from "../../../src/oci/digest.ts";
import { tempDir } from "../../helpers/temp.ts";

const D1 = `sha256:${"1".repeat(64)}` as Digest;
const D2 = `sha256:${"2".repeat(64)}` as Digest;

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-fp-");
});

describe("statFingerprint", () => {
  it("is stable while nothing changes and changes with content, mtime, a new file, a link target, salt or dest", async () => {
    const src = join(dir, "layer");
    await mkdir(join(src, "sub"), { recursive: true });
    await writeFile(join(src, "sub", "a"), "a");
    await symlink("a", join(src, "sub", "l"));
    const fp = () => statFingerprint([{ source: src, dest: "/layers/bp/l" }], "uid=1000");
    const first = await fp();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await fp()).toBe(first);
    expect(await statFingerprint([{ source: src, dest: "/layers/bp/other" }], "uid=1000")).not.toBe(first);
    expect(await statFingerprint([{ source: src, dest: "/layers/bp/l" }], "uid=0")).not.toBe(first);

    const seen = new Set([first]);
    const changes: [string, () => Promise<void>][] = [
      ["mtime", () => utimes(join(src, "sub", "a"), 1000, 1000)],
      ["content", () => writeFile(join(src, "sub", "a"), "bb")],
      ["new file", () => writeFile(join(src, "sub", "b"), "")],
      [
        "link target",
        async () => {
          const { rm } = await import("node:fs/promises");
          await rm(join(src, "sub", "l"));
          await symlink("b", join(src, "sub", "l"));
        },
      ],
    ];
    for (const [what, change] of changes) {
      await change();
      const now = await fp();
      expect(seen.has(now), what).toBe(false);
      seen.add(now);
    }
  });

  it("counts a missing source as absent, not as an error", async () => {
    const gone = [{ source: join(dir, "none"), dest: "/x" }];
    expect(await statFingerprint(gone, "")).toBe(await statFingerprint(gone, ""));
    await writeFile(join(dir, "none"), "");
    expect(await statFingerprint(gone, "")).not.toBe(
      await statFingerprint([{ source: join(dir, "other"), dest: "/x" }], ""),
    );
  });
});

describe("LayerIndex", () => {
  it("remembers a fingerprint's diffID and a diffID's blob, across instances", async () => {
    const a = new LayerIndex(dir);
    expect(await a.lookup("fp")).toBeUndefined();
    expect(await a.blob(D1)).toBeUndefined();
    await a.remember("fp", D1);
    await a.rememberBlob(D1, {
      digest: D2,
      size: 12,
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    });
    const b = new LayerIndex(dir);
    expect(await b.lookup("fp")).toBe(D1);
    expect(await b.lookup("other")).toBeUndefined();
    expect(await b.blob(D1)).toEqual({
      digest: D2,
      size: 12,
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    });
  });

  it("treats a damaged entry as unknown", async () => {
    const idx = new LayerIndex(dir);
    await idx.remember("fp", D1);
    await idx.rememberBlob(D1, { digest: D2, size: 1, mediaType: "m" });
    const [shard] = await readdir(join(dir, "fingerprints"));
    const [name] = await readdir(join(dir, "fingerprints", shard!));
    await writeFile(join(dir, "fingerprints", shard!, name!), "sha256:short\n");
    expect(await idx.lookup("fp")).toBeUndefined();
    await writeFile(
      join(dir, "blobs", `${"1".repeat(64)}.json`),
      '{"digest":"sha256:x","size":"1","mediaType":"m"}',
    );
    expect(await idx.blob(D1)).toBeUndefined();
    await writeFile(join(dir, "blobs", `${"1".repeat(64)}.json`), "{");
    expect(await idx.blob(D1)).toBeUndefined();
  });
});
