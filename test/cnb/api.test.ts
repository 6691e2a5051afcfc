/** api.ts: Buildpack and Platform API versions parsed, compared and checked against what berth supports. */
import { describe, expect, it } from "vitest";
import { apiAtLeast, buildpackApiSupported, compareApi, parseApi } from "../../src/cnb/api.ts";

describe("parseApi", () => {
  it("reads major and minor, a bare major as minor 0", () => {
    expect(parseApi("0.12")).toEqual({ major: 0, minor: 12 });
    expect(parseApi(" 1 ")).toEqual({ major: 1, minor: 0 });
  });

  it("refuses leading zeros, patch levels, signs and words", () => {
    for (const bad of ["01.2", "0.01", "0.1.2", "-1", "v0.9", "", "0."])
      expect(parseApi(bad)).toBeUndefined();
  });
});

describe("compareApi", () => {
  it("orders numerically, not as text", () => {
    expect(compareApi("0.10", "0.9")).toBeGreaterThan(0);
    expect(compareApi("0.9", "0.10")).toBeLessThan(0);
    expect(compareApi("1.0", "1")).toBe(0);
    expect(compareApi("1.0", "0.99")).toBeGreaterThan(0);
  });

  it("fails naming both versions when one is not a version", () => {
    expect(() => compareApi("0.x", "0.9")).toThrow(expect.objectContaining({ code: "INTERNAL" }));
    expect(() => compareApi("0.x", "0.9")).toThrow("comparing API versions 0.x and 0.9");
  });
});

describe("apiAtLeast and buildpackApiSupported", () => {
  it("compare against a minimum", () => {
    expect(apiAtLeast("0.9", "0.9")).toBe(true);
    expect(apiAtLeast("0.10", "0.9")).toBe(true);
    expect(apiAtLeast("0.8", "0.9")).toBe(false);
  });

  it("accept Buildpack API 0.7 to 0.12 only", () => {
    expect(["0.6", "0.7", "0.10", "0.12", "0.13", "1.0"].map(buildpackApiSupported)).toEqual([
      false,
      true,
      true,
      true,
      false,
      false,
    ]);
  });
});
