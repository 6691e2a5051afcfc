/** The environment-file rules (spec §Environment Variable Modification Rules; lc env/env.go) against a table. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp.ts";
import { Env, mergePlatformEnv, parseEnvArg, parseEnvFile } from "../lib.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-env-");
});

interface Case {
  name: string;
  before: Record<string, string>;
  /** Directories applied in order, each a map of file name → content. */
  dirs: Record<string, string>[];
  defaultAction?: "override" | "default";
  after: Record<string, string | undefined>;
}

const cases: Case[] = [
  {
    name: "no suffix overrides (layer env dirs)",
    before: { A: "old" },
    dirs: [{ A: "new" }],
    after: { A: "new" },
  },
  { name: ".override overrides", before: { A: "old" }, dirs: [{ "A.override": "new" }], after: { A: "new" } },
  { name: ".default sets an unset variable", before: {}, dirs: [{ "A.default": "d" }], after: { A: "d" } },
  {
    name: ".default keeps a set variable",
    before: { A: "set" },
    dirs: [{ "A.default": "d" }],
    after: { A: "set" },
  },
  {
    name: ".default: the earlier buildpack wins",
    before: {},
    dirs: [{ "A.default": "first" }, { "A.default": "second" }],
    after: { A: "first" },
  },
  {
    name: ".override: the later buildpack wins",
    before: {},
    dirs: [{ "A.override": "first" }, { "A.override": "second" }],
    after: { A: "second" },
  },
  {
    name: ".append without .delim adds no delimiter",
    before: { A: "x" },
    dirs: [{ "A.append": "y" }],
    after: { A: "xy" },
  },
  {
    name: ".append with .delim",
    before: { A: "x" },
    dirs: [{ "A.append": "y", "A.delim": ":" }],
    after: { A: "x:y" },
  },
  {
    name: ".append to an unset variable has no delimiter",
    before: {},
    dirs: [{ "A.append": "y", "A.delim": ":" }],
    after: { A: "y" },
  },
  {
    name: ".prepend with .delim",
    before: { A: "x" },
    dirs: [{ "A.prepend": "y", "A.delim": ":" }],
    after: { A: "y:x" },
  },
  {
    name: ".prepend: the later buildpack comes first",
    before: {},
    dirs: [
      { "A.prepend": "one", "A.delim": ":" },
      { "A.prepend": "two", "A.delim": ":" },
    ],
    after: { A: "two:one" },
  },
  {
    name: ".append: the later buildpack comes last",
    before: {},
    dirs: [
      { "A.append": "one", "A.delim": "," },
      { "A.append": "two", "A.delim": "," },
    ],
    after: { A: "one,two" },
  },
  {
    name: "multi-character delimiter, verbatim",
    before: { A: "x" },
    dirs: [{ "A.append": "y", "A.delim": "**" }],
    after: { A: "x**y" },
  },
  {
    name: "contents are verbatim, never shell-evaluated (newline kept)",
    before: {},
    dirs: [{ A: "$HOME `id`\n" }],
    after: { A: "$HOME `id`\n" },
  },
  {
    name: "a .delim file alone sets nothing",
    before: {},
    dirs: [{ "A.delim": ":" }],
    after: { A: undefined },
  },
  { name: "an unknown suffix is ignored", before: {}, dirs: [{ "A.bogus": "v" }], after: { A: undefined } },
  {
    name: "no suffix = default in the build-config dir",
    before: { A: "set" },
    dirs: [{ A: "d", B: "b" }],
    defaultAction: "default",
    after: { A: "set", B: "b" },
  },
];

describe("env files", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const env = new Env(Object.entries(c.before));
      for (const [i, files] of c.dirs.entries()) {
        const d = join(dir, `d${i}`);
        await mkdir(d, { recursive: true });
        for (const [name, content] of Object.entries(files)) await writeFile(join(d, name), content);
        await env.addEnvDir(d, c.defaultAction ?? "override");
      }
      for (const [k, v] of Object.entries(c.after)) {
        if (v === undefined) expect(env.vars.has(k)).toBe(false);
        else expect(env.get(k)).toBe(v);
      }
    });
  }

  it("layer dirs prepend bin, lib, include and pkgconfig to the path variables", async () => {
    const layer = join(dir, "layer");
    for (const d of ["bin", "lib", "include", "pkgconfig"]) await mkdir(join(layer, d), { recursive: true });
    const env = new Env([["PATH", "/bin"]]);
    await env.addRootDir(layer, "/layers/bp/layer");
    expect(env.get("PATH")).toBe("/layers/bp/layer/bin:/bin");
    expect(env.get("LD_LIBRARY_PATH")).toBe("/layers/bp/layer/lib");
    expect(env.get("LIBRARY_PATH")).toBe("/layers/bp/layer/lib");
    expect(env.get("CPATH")).toBe("/layers/bp/layer/include");
    expect(env.get("PKG_CONFIG_PATH")).toBe("/layers/bp/layer/pkgconfig");
  });

  it("platform env: path variables are prepended with ':', others overridden; clear-env skips them; build-config applies after", async () => {
    const platform = join(dir, "platform");
    await mkdir(join(platform, "env"), { recursive: true });
    await writeFile(join(platform, "env", "PATH"), "/opt/bin");
    await writeFile(join(platform, "env", "BP_X"), "user");
    const bc = join(dir, "bc");
    await mkdir(join(bc, "env"), { recursive: true });
    await writeFile(join(bc, "env", "BP_X"), "operator-default");
    await writeFile(join(bc, "env", "BP_Y.override"), "operator");
    const base = new Env([["PATH", "/bin"]]);
    const env = await base.withOverrides(platform, bc);
    expect(env.get("PATH")).toBe("/opt/bin:/bin");
    expect(env.get("BP_X")).toBe("user");
    expect(env.get("BP_Y")).toBe("operator");
    const clear = await base.withOverrides(undefined, bc);
    expect(clear.get("PATH")).toBe("/bin");
    expect(clear.get("BP_X")).toBe("operator-default");
    expect(base.get("BP_X")).toBe("");
  });

  it("the base build env keeps only the lifecycle's include list and path variables", () => {
    const env = Env.forBuild({
      PATH: "/bin",
      HOME: "/home/cnb",
      SECRET_TOKEN: "x",
      CNB_USER_ID: "1000",
      http_proxy: "p",
      LD_LIBRARY_PATH: "/l",
    });
    expect(env.toRecord()).toEqual({
      PATH: "/bin",
      HOME: "/home/cnb",
      http_proxy: "p",
      LD_LIBRARY_PATH: "/l",
    });
  });

  it("-e K=V, bare K from the host, and --env-file", () => {
    const host = { FROM_HOST: "h" };
    expect(parseEnvArg("A=1=2", host)).toEqual(["A", "1=2"]);
    expect(parseEnvArg("FROM_HOST", host)).toEqual(["FROM_HOST", "h"]);
    expect(parseEnvArg("MISSING", host)).toBeUndefined();
    expect(() => parseEnvArg("CNB_X=1", host)).toThrow(/reserved/);
    expect(() => parseEnvArg("1BAD=1", host)).toThrow(/not a variable name/);
    const file = parseEnvFile("# comment\n\nA=from-file\nFROM_HOST\n", "env.list", host);
    expect(file).toEqual([
      ["A", "from-file"],
      ["FROM_HOST", "h"],
    ]);
    expect([...mergePlatformEnv(file, [["A", "from-flag"]])]).toEqual([
      ["A", "from-flag"],
      ["FROM_HOST", "h"],
    ]);
  });
});
