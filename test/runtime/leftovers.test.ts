/**
 * mayHaveLeftovers: false only where sweepLeftovers would find nothing. Each leftover is made as berth makes it
 * (its temp names, the store's lease and temp folders as OciLayout names them), left by a process that is gone.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { mayHaveLeftovers } from "../../src/runtime/leftovers.ts";
import { sweepLeftovers } from "../../src/runtime/sweep.ts";
import { tempDir } from "../helpers/temp.ts";

/** A process that is gone (pid 2^22+ is beyond pid_max), as `ownerTag` writes it. */
const DEAD = "p4194399t1";

/** A home with a store holding a blob, and the folders a build leaves behind, all empty. */
async function usedHome(): Promise<{ home: string; store: OciLayout }> {
  const home = await tempDir("berth-leftovers-");
  const store = await OciLayout.openOrCreate(join(home, "store"));
  await store.writeBlobBytes(new TextEncoder().encode("{}"), "application/vnd.oci.image.config.v1+json");
  await mkdir(store.tmpDir, { recursive: true });
  for (const dir of ["tmp", "cache/dockerfile/tmp", "run/containers", "run/state", "snapshots/tmp"]) {
    await mkdir(join(home, dir), { recursive: true });
  }
  return { home, store };
}

describe("mayHaveLeftovers", () => {
  it("is false for a used home with nothing left, and for a home never used", async () => {
    const { home } = await usedHome();
    expect(await readdir(join(home, "store"))).toContain(".berth-tmp");
    expect(mayHaveLeftovers(home)).toBe(false);
    expect(await sweepLeftovers(home)).toEqual({ containers: [], temp: 0 });
    expect(mayHaveLeftovers(join(home, "nothing-here"))).toBe(false);
  });

  it("is true wherever the sweep would remove something, and false again after it", async () => {
    const left = (store: OciLayout) => [
      ["the home's temp folders", "tmp", `build-${DEAD}-AbCdEf`],
      ["the Dockerfile cache's temp folders", "cache/dockerfile/tmp", `step-${DEAD}-AbCdEf`],
      ["the snapshots' temp folders", "snapshots/tmp", `stream-${DEAD}-0a0b0c`],
      ["the store's temp files", store.tmpDir, `.blob.${DEAD}.0a0b0c.tmp`],
      ["the store's leases", store.leasesDir, `${DEAD}.0a0b0c.lease`],
      ["index.json's temp files", store.dir, `.index.json.${DEAD}.0a0b0c.tmp`],
    ];
    const { home, store } = await usedHome();
    for (const [what, dir, name] of left(store) as [string, string, string][]) {
      const path = join(resolve(home, dir), name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, "");
      expect(mayHaveLeftovers(home), what).toBe(true);
      expect((await sweepLeftovers(home)).temp, what).toBe(1);
      expect(mayHaveLeftovers(home), what).toBe(false);
    }
  });

  it("is true for a container folder, and when a folder cannot be read", async () => {
    const { home } = await usedHome();
    await mkdir(join(home, "run", "containers", "berth-0a0b0c0d0e0f0a0b"));
    expect(mayHaveLeftovers(home)).toBe(true);
    const other = (await usedHome()).home;
    await writeFile(join(other, "cache", "dockerfile", "tmp", "x"), "");
    expect(mayHaveLeftovers(other)).toBe(true);
    const broken = await tempDir("berth-leftovers-");
    await writeFile(join(broken, "tmp"), "not a folder");
    expect(mayHaveLeftovers(broken)).toBe(true);
  });
});
