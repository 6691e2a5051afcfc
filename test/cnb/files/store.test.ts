/** files/store.ts: a buildpack's store.toml `[metadata]`, read confined and written as the lifecycle writes it. */
import { symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeStore, readStore } from "../../../src/cnb/files/store.ts";
import { ConfinedTree } from "../../../src/util/confined.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("store.toml", () => {
  it("is undefined without a file, {} without [metadata], the table otherwise", async () => {
    const dir = await tempDir("berth-cnb-store-");
    const tree = new ConfinedTree(dir, { owner: 'buildpack "a"' });
    expect(await readStore(tree, "/layers/a", 'buildpack "a"')).toBeUndefined();
    await writeFile(join(dir, "store.toml"), "other = 1\n");
    expect(await readStore(tree, "/layers/a", 'buildpack "a"')).toEqual({});
    await writeFile(join(dir, "store.toml"), encodeStore({ count: 2, name: "x" }));
    expect(await readStore(tree, "/layers/a", 'buildpack "a"')).toEqual({ count: 2, name: "x" });
  });

  it("names the buildpack and file of a [metadata] that is not a table", async () => {
    const dir = await tempDir("berth-cnb-store-");
    await writeFile(join(dir, "store.toml"), 'metadata = "x"\n');
    await expect(
      readStore(new ConfinedTree(dir, { owner: 'buildpack "a"' }), "/layers/a", 'buildpack "a"'),
    ).rejects.toThrow('buildpack "a": /layers/a/store.toml: metadata must be a table, not string "x"');
  });

  it("refuses a store.toml that is a symlink out of the layers directory", async () => {
    const dir = await tempDir("berth-cnb-store-");
    const outside = await tempDir("berth-cnb-store-out-");
    await writeFile(join(outside, "host.toml"), "[metadata]\nsecret = 1\n");
    await symlink(join(outside, "host.toml"), join(dir, "store.toml"));
    await expect(
      readStore(new ConfinedTree(dir, { owner: 'buildpack "a"' }), "/layers/a", 'buildpack "a"'),
    ).rejects.toMatchObject({ code: "UNSAFE_PATH" });
  });

  it("writes numbers as Go floats, as the lifecycle does", () => {
    expect(encodeStore({ count: 2 })).toBe("[metadata]\n  count = 2.0\n");
  });
});
