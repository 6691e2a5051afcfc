/** toml.ts: parsing with errors naming the file and key, optional and confined reads, minimal output, Fields. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { Fields, isTable, type Origin, parseToml, readToml, readTomlIn, toToml } from "../../src/cnb/toml.ts";
import { ConfinedTree } from "../../src/util/confined.ts";
import { tempDir } from "../helpers/temp.ts";

const origin: Origin = {
  file: "/cnb/buildpacks/a/buildpack.toml",
  subject: 'buildpack "a"',
  code: "CNB_CONFIG_INVALID",
};

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-toml-");
});

function caught(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("did not throw");
}

describe("parseToml", () => {
  it("parses a document", () => {
    expect(parseToml('a = "x"\n[t]\nb = [1, 2]\n', origin)).toEqual({ a: "x", t: { b: [1, 2] } });
  });

  it("names the subject, the file, the line and column of bad TOML", () => {
    const err = caught(() => parseToml('a = "x"\nb = \n', origin));
    expect(err.code).toBe("CNB_CONFIG_INVALID");
    expect(err.message).toMatch(
      /^buildpack "a": \/cnb\/buildpacks\/a\/buildpack\.toml: is not valid TOML \(line 2, column \d+\): /,
    );
    expect(err.message).not.toContain("\n");
  });

  it("names only the file when there is no subject", () => {
    const err = caught(() => parseToml("=", { file: "order.toml", code: "CNB_CONFIG_INVALID" }));
    expect(err.message).toMatch(/^order\.toml: is not valid TOML/);
  });
});

describe("readToml", () => {
  it("reads a file, gives undefined for a missing optional one and fails for a missing required one", async () => {
    await writeFile(join(dir, "a.toml"), "k = true\n");
    expect(await readToml(join(dir, "a.toml"), origin)).toEqual({ k: true });
    expect(await readToml(join(dir, "none.toml"), origin, true)).toBeUndefined();
    await expect(readToml(join(dir, "none.toml"), origin)).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: expect.stringMatching(
        /^buildpack "a": \/cnb\/buildpacks\/a\/buildpack\.toml: cannot be read: .*ENOENT/,
      ),
    });
  });
});

describe("readTomlIn", () => {
  it("reads inside the tree; a missing file is undefined when optional, an error otherwise", async () => {
    await writeFile(join(dir, "store.toml"), "[metadata]\nk = 1\n");
    const tree = new ConfinedTree(dir, { owner: 'buildpack "a"' });
    expect(await readTomlIn(tree, "store.toml", origin)).toEqual({ metadata: { k: 1 } });
    expect(await readTomlIn(tree, "none.toml", origin, true)).toBeUndefined();
    await expect(readTomlIn(tree, "none.toml", origin)).rejects.toThrow(/buildpack\.toml: does not exist$/);
  });

  it("refuses a symlink that leads out of the tree, naming the owner", async () => {
    const outside = await tempDir("berth-cnb-toml-out-");
    await writeFile(join(outside, "secret.toml"), 'k = "host"\n');
    await mkdir(join(dir, "layers"));
    await symlink(join(outside, "secret.toml"), join(dir, "layers", "launch.toml"));
    const tree = new ConfinedTree(join(dir, "layers"), { owner: 'buildpack "a"', seenAs: "/layers/a" });
    await expect(readTomlIn(tree, "launch.toml", origin)).rejects.toMatchObject({
      code: "UNSAFE_PATH",
      message: expect.stringMatching(/^buildpack "a": \/layers\/a\/launch\.toml /),
    });
  });
});

describe("toToml", () => {
  it("leaves out undefined and null values at every depth and ends with a newline", () => {
    const text = toToml({
      a: "x",
      b: undefined,
      c: null,
      t: { d: 1, e: undefined },
      l: [{ f: null, g: "y" }],
    });
    expect(parseToml(text, origin)).toEqual({ a: "x", t: { d: 1 }, l: [{ g: "y" }] });
    expect(text.endsWith("\n")).toBe(true);
    expect(text).not.toMatch(/\bb\b|\bc =|\be =|\bf =/);
  });

  it("writes an empty document as an empty string", () => {
    expect(toToml({})).toBe("");
  });
});

describe("Fields", () => {
  const f = new Fields(
    {
      s: "v",
      n: 3,
      b: true,
      l: ["x", "y"],
      mixed: ["x", 1],
      t: { inner: "i" },
      tables: [{ id: "a" }, { id: 2 }],
      when: new Date("2024-01-01T00:00:00Z"),
    },
    origin,
  );

  it("reads typed values and undefined for missing keys", () => {
    expect(f.str("s")).toBe("v");
    expect(f.bool("b")).toBe(true);
    expect(f.strs("l")).toEqual(["x", "y"]);
    expect(f.str("missing")).toBeUndefined();
    expect(f.bool("missing")).toBeUndefined();
    expect(f.strs("missing")).toBeUndefined();
    expect(f.sub("missing")).toBeUndefined();
    expect(f.list("missing")).toEqual([]);
    expect(f.has("s")).toBe(true);
    expect(f.has("missing")).toBe(false);
    expect(f.anyTable("t")).toEqual({ inner: "i" });
  });

  it("names the key path of a wrong type, with what it was", () => {
    expect(() => f.str("n")).toThrow(
      'buildpack "a": /cnb/buildpacks/a/buildpack.toml: n must be a string, not number 3',
    );
    expect(() => f.bool("s")).toThrow(/: s must be true or false, not string "v"$/);
    expect(() => f.strs("mixed")).toThrow(/: mixed must be an array of strings, not an array$/);
    expect(() => f.sub("l")).toThrow(/: l must be a table, not an array$/);
    expect(() => f.anyTable("when")).toThrow(/: when must be a table, not a date$/);
    expect(() => f.list("t")).toThrow(/: t must be an array of tables \(\[\[t\]\]\), not a table$/);
  });

  it("builds nested key paths for sub-tables and list elements", () => {
    expect(f.sub("t")?.path).toBe("t");
    const [, second] = f.list("tables");
    expect(second?.path).toBe("tables[1]");
    expect(() => second?.str("id")).toThrow(/: tables\[1\]\.id must be a string, not number 2$/);
    expect(() => f.sub("t")?.requiredStr("other")).toThrow(/: t\.other is required$/);
  });

  it("requiredStr refuses an empty string", () => {
    expect(() => new Fields({ id: "" }, origin).requiredStr("id")).toThrow(/: id is required$/);
  });

  it("only() names the first unknown key", () => {
    expect(() => f.only(["s", "n", "b", "l", "mixed", "t", "tables"])).toThrow(/: when is not a known key$/);
    expect(() => f.sub("t")?.only(["inner"])).not.toThrow();
  });
});

describe("isTable", () => {
  it("is true only for plain objects", () => {
    expect([{}, [], null, new Date(), "s", 1].map(isTable)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
