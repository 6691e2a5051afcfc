/**
 * The platform env as pack builds it (src/cnb/platform/env.ts): project.toml's `[[build.env]]`, then `--env-file`,
 * then `-e`, later wins, written to `<platform>/env/K` verbatim; names and reserved prefixes checked.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { parseEnvArg, parseEnvFile, writeBuildPlatformEnv } from "../../../src/cnb/platform/env.ts";
import { tempDir } from "../../helpers/temp.ts";
import { thrown } from "./helpers.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-platform-env-");
});

async function platformEnv(platform: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of await readdir(join(platform, "env")))
    out[k] = await readFile(join(platform, "env", k), "utf8");
  return out;
}

describe("parseEnvArg", () => {
  it("K=V keeps everything after the first '=', an empty value included; a bare K absent on the host is dropped", () => {
    expect(parseEnvArg("A=", {})).toEqual(["A", ""]);
    expect(parseEnvArg("a.b-c=x=y", {})).toEqual(["a.b-c", "x=y"]);
    expect(parseEnvArg("HOME", { HOME: "/root" })).toEqual(["HOME", "/root"]);
    expect(parseEnvArg("HOME", {})).toBeUndefined();
  });

  it("bad names and CNB_ names: the sentence quotes the argument and says what is wrong", () => {
    expect(thrown(() => parseEnvArg("=x", {}))).toEqual({
      code: "USAGE",
      message: '--env "=x": "" is not a variable name',
    });
    expect(thrown(() => parseEnvArg("CNB_APP_DIR=/x", {}))).toEqual({
      code: "USAGE",
      message: '--env "CNB_APP_DIR=/x": CNB_ variables are reserved for the platform',
    });
  });
});

describe("parseEnvFile", () => {
  it("CRLF lines, indented comments and blank lines; a bad line is named by file and line number", () => {
    expect(parseEnvFile("A=1\r\n  # c\r\n\r\nB=2 \r\n", "f.env", {})).toEqual([
      ["A", "1"],
      ["B", "2"],
    ]);
    expect(thrown(() => parseEnvFile("A=1\n\nBAD NAME=2\n", "f.env", {}))).toEqual({
      code: "USAGE",
      message: 'f.env line 3: "BAD NAME=2": "BAD NAME" is not a variable name',
    });
  });
});

describe("writeBuildPlatformEnv", () => {
  it("project env, then env files, then -e: later wins; values are written verbatim", async () => {
    const file = join(dir, "vars.env");
    await writeFile(file, "B=from-file\nC=from-file\nH\n");
    const platform = join(dir, "platform");
    await writeBuildPlatformEnv(platform, {
      projectEnv: [
        { name: "A", value: "from-project" },
        { name: "B", value: "from-project" },
      ],
      envFiles: [file],
      env: ["C=from-flag", "D=multi\nline "],
      hostEnv: { H: "from-host" },
    });
    expect(await platformEnv(platform)).toEqual({
      A: "from-project",
      B: "from-file",
      C: "from-flag",
      D: "multi\nline ",
      H: "from-host",
    });
  });

  it("an env file that cannot be read: the sentence names it, and nothing is written", async () => {
    const platform = join(dir, "platform");
    const missing = join(dir, "missing.env");
    let err: { code?: string; message: string } | undefined;
    await writeBuildPlatformEnv(platform, { envFiles: [missing], env: ["A=1"], hostEnv: {} }).catch((e) => {
      err = e;
    });
    expect(err?.code).toBe("USAGE");
    expect(err?.message).toMatch(new RegExp(`^--env-file ${missing} cannot be read: ENOENT`));
    expect(await readdir(dir)).toEqual([]);
  });
});
