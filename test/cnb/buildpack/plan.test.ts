/** buildpack/plan.ts: the Build Plan `bin/detect` writes (provides, requires, or). */
import { describe, expect, it } from "vitest";
import { parseBuildPlan } from "../../../src/cnb/buildpack/plan.ts";

describe("parseBuildPlan", () => {
  it("reads provides, requires with metadata, and the or alternatives", () => {
    const plan = parseBuildPlan(
      `[[provides]]
name = "node"
[[requires]]
name = "node"
[requires.metadata]
version = "20"
[[or]]
[[or.provides]]
name = "yarn"
[[or.requires]]
name = "yarn"
`,
      "/tmp/plan.toml",
      'buildpack "a"',
    );
    expect(plan).toEqual({
      provides: [{ name: "node" }],
      requires: [{ name: "node", metadata: { version: "20" } }],
      or: [{ provides: [{ name: "yarn" }], requires: [{ name: "yarn" }] }],
    });
  });

  it("reads empty text as an empty plan", () => {
    expect(parseBuildPlan("", "p", "s")).toEqual({ provides: [], requires: [], or: [] });
  });

  it("refuses a top-level or alternative version, naming the buildpack and where to put it", () => {
    const msg =
      'buildpack "a": /tmp/plan.toml: or[0].requires[0].version is not supported: buildpack "a" must put the version in metadata.version (as lifecycle ≥0.18 requires)';
    expect(() =>
      parseBuildPlan(
        '[[or]]\n[[or.requires]]\nname = "n"\nversion = "1"\n',
        "/tmp/plan.toml",
        'buildpack "a"',
      ),
    ).toThrow(expect.objectContaining({ code: "CNB_DETECT_ERROR", message: msg }));
    expect(() => parseBuildPlan('[[requires]]\nname = "n"\nversion = "1"\n', "p", "s")).toThrow(
      /requires\[0\]\.version is not supported/,
    );
  });

  it("names a provide without a name", () => {
    expect(() => parseBuildPlan("[[provides]]\n", "/tmp/plan.toml", 'buildpack "a"')).toThrow(
      'buildpack "a": /tmp/plan.toml: provides[0].name is required',
    );
  });
});
