/** files/build.ts: build.toml's `[[unmet]]`, the plan entries a buildpack left for others. */
import { describe, expect, it } from "vitest";
import { parseBuildToml } from "../../../src/cnb/files/build.ts";

describe("build.toml", () => {
  it("reads the unmet names, none for an empty file", () => {
    expect(parseBuildToml('[[unmet]]\nname = "a"\n[[unmet]]\nname = "b"\n', "f", "s")).toEqual({
      unmet: ["a", "b"],
    });
    expect(parseBuildToml("", "f", "s")).toEqual({ unmet: [] });
  });

  it("names the buildpack, file and key of an unmet entry without a name", () => {
    expect(() => parseBuildToml("[[unmet]]\n", "/layers/a/build.toml", 'buildpack "a"')).toThrow(
      'buildpack "a": /layers/a/build.toml: unmet[0].name is required',
    );
    expect(() => parseBuildToml("[[unmet]]\nname = 1\n", "/layers/a/build.toml", 'buildpack "a"')).toThrow(
      expect.objectContaining({
        code: "CNB_BUILD_INVALID",
        message: 'buildpack "a": /layers/a/build.toml: unmet[0].name must be a string, not number 1',
      }),
    );
  });
});
