import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { withLock } from "../../../src/oci/layout/lock.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("withLock", () => {
  it("runs one holder at a time and returns what it returns", async () => {
    const path = join(await tempDir(), "index.json");
    const log: string[] = [];
    const holder = (name: string) =>
      withLock(path, async () => {
        log.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 30));
        log.push(`${name} out`);
        return name;
      });
    expect(await Promise.all([holder("a"), holder("b")])).toEqual(["a", "b"]);
    // Either may go first; neither enters while the other is in.
    expect(log.map((l) => l.split(" ")[1])).toEqual(["in", "out", "in", "out"]);
    expect(log[0]!.split(" ")[0]).toBe(log[1]!.split(" ")[0]);
  });

  it("passes the holder's error through and frees the lock", async () => {
    const dir = await tempDir();
    const path = join(dir, "index.json");
    const boom = new Error("boom");
    await expect(withLock(path, async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(await readdir(dir)).toEqual([]);
    expect(await withLock(path, async () => 1)).toBe(1);
  });

  // STORE_LOCKED (a lock held past the wait) is not tested here: withLock waits 60 s, too long for a unit test.
});
