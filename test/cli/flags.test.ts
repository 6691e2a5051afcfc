/**
 * src/cli/flags.ts, through commander as the commands use it: a repeatable flag's list (with and without a
 * default), the `--json` flag, `--platform` values and KEY=VALUE pairs, and the one sentence for a bad one.
 */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { collect, jsonOption, keyValue, keyValues, platformOf, withPlatform } from "../../src/cli/flags.ts";
import { BerthError } from "../../src/errors.ts";

function parsed(argv: string[]): Record<string, unknown> {
  const program = new Command("t")
    .exitOverride()
    .option("-e, --env <K=V>", "no default", collect)
    .option("-v, --volume <dir>", "a list default", collect, [])
    .addOption(jsonOption("the list"));
  program.parse(argv, { from: "user" });
  return program.opts();
}

describe("collect", () => {
  it("keeps every use of a repeatable flag, in order", () => {
    expect(parsed(["-e", "A=1", "--env", "B=2", "-e", "A=3", "-v", "/x"])).toEqual({
      env: ["A=1", "B=2", "A=3"],
      volume: ["/x"],
    });
  });

  it("leaves a flag not given undefined, or at its default list", () => {
    expect(parsed([])).toEqual({ volume: [] });
  });

  it("does not change the default list it starts from", () => {
    const start: string[] = [];
    expect(collect("a", start)).toEqual(["a"]);
    expect(start).toEqual([]);
  });
});

describe("jsonOption", () => {
  it("is --json, saying what it prints", () => {
    expect(parsed(["--json"])).toMatchObject({ json: true });
    expect(jsonOption().description).toBe("print the result as JSON");
    expect(jsonOption("the tags").description).toBe("print the tags as JSON");
    expect(jsonOption().flags).toBe("--json");
  });
});

describe("platformOf and withPlatform", () => {
  it("parse a --platform value, with its variant", () => {
    expect(platformOf("linux/arm/v7")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(withPlatform("linux/amd64")).toEqual({ platform: { os: "linux", architecture: "amd64" } });
  });

  it("give nothing when the flag was not given", () => {
    expect(platformOf(undefined)).toBeUndefined();
    expect(withPlatform(undefined)).toEqual({});
    expect("platform" in withPlatform(undefined)).toBe(false);
  });

  it("refuse a value that is no platform, naming it", () => {
    expect(() => withPlatform("amd64")).toThrowError(
      expect.objectContaining({ code: "PLATFORM_INVALID", message: expect.stringContaining('"amd64"') }),
    );
  });
});

describe("keyValue and keyValues", () => {
  it("split at the first =, keeping an empty value and = in the value", () => {
    expect(keyValue("A=b=c", "--env")).toEqual(["A", "b=c"]);
    expect(keyValue("EMPTY=", "--env")).toEqual(["EMPTY", ""]);
    expect(keyValues(["a=1", "b=2", "a=3"], "--label")).toEqual({ a: "3", b: "2" });
  });

  it("refuse a pair without a key or an =, naming the flag and the value", () => {
    for (const bad of ["NOVALUE", "=x"]) {
      expect(() => keyValues([bad], "--label")).toThrowError(
        new BerthError("USAGE", `--label ${JSON.stringify(bad)} must be KEY=VALUE`),
      );
      expect(() => keyValue(bad, "--env")).toThrowError(expect.objectContaining({ code: "USAGE" }));
    }
  });
});
