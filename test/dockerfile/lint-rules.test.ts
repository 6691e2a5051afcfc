/** BuildKit's rule table, the check options and the warnings collected under them (src/dockerfile/lint-rules.ts). */
import { describe, expect, it } from "vitest";
import { Checks, parseCheckOptions, ruleUrl, shortWarning } from "../../src/dockerfile/lint-rules.ts";

const at = { line: 3, endLine: 4 };

describe("Checks", () => {
  it("keeps warnings in the order they come, in BuildKit's short form", () => {
    const c = new Checks(parseCheckOptions("", "x"));
    c.run("JSONArgsRecommended", at, "JSON arguments recommended for CMD");
    c.run("MaintainerDeprecated", { line: 1, endLine: 1 }, "Maintainer instruction is deprecated");
    expect(c.warnings.map(shortWarning)).toEqual([
      "JSONArgsRecommended: JSON arguments recommended for CMD (line 3)",
      "MaintainerDeprecated: Maintainer instruction is deprecated (line 1)",
    ]);
    expect(c.error()).toBeUndefined();
  });

  it("leaves out skipped rules and experimental ones not asked for", () => {
    const c = new Checks(parseCheckOptions("skip=MaintainerDeprecated;experimental=CopyIgnoredFile", "x"));
    c.run("MaintainerDeprecated", at, "m");
    c.run("InvalidDefinitionDescription", at, "d");
    c.run("CopyIgnoredFile", at, "c");
    c.run("UndefinedVar", at, "u");
    expect(c.warnings.map((w) => w.rule)).toEqual(["CopyIgnoredFile", "UndefinedVar"]);
    const none = new Checks(parseCheckOptions("skip=all", "x"));
    none.run("UndefinedVar", at, "u");
    expect(none.warnings).toEqual([]);
  });

  it("error=true names each rule that fired once", () => {
    const c = new Checks(parseCheckOptions("error=true", "x"));
    expect(c.error()).toBeUndefined();
    c.run("UndefinedVar", at, "a");
    c.run("JSONArgsRecommended", at, "b");
    c.run("UndefinedVar", at, "c");
    expect(c.error()).toBe("lint violation found for rules: UndefinedVar, JSONArgsRecommended");
  });

  it("an invalid option names where it came from, with BuildKit's sentence", () => {
    expect(() => parseCheckOptions("skip", "Dockerfile:1: # check=")).toThrow(
      'Dockerfile:1: # check=: invalid check option "skip"',
    );
  });
});

describe("ruleUrl", () => {
  it("is the rule's documentation page", () => {
    expect(ruleUrl("JSONArgsRecommended")).toBe(
      "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
    );
    expect(ruleUrl("FromPlatformFlagConstDisallowed")).toBe(
      "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/",
    );
  });
});
