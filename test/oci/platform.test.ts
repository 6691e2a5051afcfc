import { arch } from "node:os";
import { describe, expect, it } from "vitest";
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  parsePlatformList,
  platformMatches,
  validatePlatform,
} from "../../src/oci/platform.ts";
import { errorOf } from "../helpers/oci.ts";

describe("parsePlatform", () => {
  it("reads os/arch[/variant], normalising as containerd does", () => {
    expect(parsePlatform("linux/amd64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("linux/arm/v7")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(parsePlatform("linux/arm64/v8")).toEqual({ os: "linux", architecture: "arm64" });
    expect(parsePlatform("linux/aarch64")).toEqual({ os: "linux", architecture: "arm64" });
    expect(parsePlatform("linux/x86_64")).toEqual({ os: "linux", architecture: "amd64" });
  });

  it.each(["linux", "linux/amd64/v1/x", "linux//amd64", "linux/amd 64", ""])("refuses %j", async (text) => {
    const err = await errorOf(() => parsePlatform(text));
    expect(err.code).toBe("PLATFORM_INVALID");
    expect(err.message).toBe(`platform ${JSON.stringify(text)} is not of the form os/arch[/variant]`);
    expect(err.hint).toMatch(/linux\/amd64/);
  });
});

describe("parsePlatformList", () => {
  it("reads a comma-separated list, trimming spaces", () => {
    expect(parsePlatformList("linux/amd64, linux/arm64").map(formatPlatform)).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
  });

  it("refuses a platform named twice, also under an alias", async () => {
    const err = await errorOf(() => parsePlatformList("linux/arm64,linux/aarch64"));
    expect(err.code).toBe("PLATFORM_INVALID");
    expect(err.message).toBe('platform list "linux/arm64,linux/aarch64" names linux/arm64 twice');
  });
});

describe("platformMatches", () => {
  const arm7 = { os: "linux", architecture: "arm", variant: "v7" };
  it.each([
    [
      "same os and arch",
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "amd64" },
      true,
    ],
    ["another arch", { os: "linux", architecture: "arm64" }, { os: "linux", architecture: "amd64" }, false],
    ["another os", { os: "windows", architecture: "amd64" }, { os: "linux", architecture: "amd64" }, false],
    ["variant not wanted", arm7, { os: "linux", architecture: "arm" }, true],
    ["variant wanted and equal", arm7, arm7, true],
    ["variant wanted and different", arm7, { os: "linux", architecture: "arm", variant: "v6" }, false],
    ["arm without variant is v7", { os: "linux", architecture: "arm" }, arm7, true],
    [
      "arm64 v8 is arm64",
      { os: "linux", architecture: "arm64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
      true,
    ],
    ["aliases", { os: "linux", architecture: "x86_64" }, { os: "linux", architecture: "amd64" }, true],
    [
      "os.version wanted",
      { os: "windows", architecture: "amd64", "os.version": "10.0.1" },
      { os: "windows", architecture: "amd64", "os.version": "10.0.2" },
      false,
    ],
    ["no platform", undefined, { os: "linux", architecture: "amd64" }, false],
  ])("%s", (_why, have, want, result) => {
    expect(platformMatches(have, want)).toBe(result);
  });
});

describe("platform values", () => {
  it("formats os/arch/variant, and unknown for none", () => {
    expect(formatPlatform({ os: "linux", architecture: "arm", variant: "v6" })).toBe("linux/arm/v6");
    expect(formatPlatform({ os: "linux", architecture: "amd64" })).toBe("linux/amd64");
    expect(formatPlatform(undefined)).toBe("unknown");
  });

  it("keeps other fields when normalising", () => {
    expect(
      normalizePlatform({ os: "linux", architecture: "aarch64", variant: "v8", features: ["x"] }),
    ).toEqual({
      os: "linux",
      architecture: "arm64",
      features: ["x"],
    });
  });

  it("names the host in Go's words", () => {
    const want = { x64: "amd64", arm64: "arm64" }[arch() as "x64"] ?? arch();
    expect(hostPlatform()).toEqual({ os: "linux", architecture: want });
  });
});

describe("validatePlatform", () => {
  it("accepts a full platform object", () => {
    const p = {
      os: "windows",
      architecture: "amd64",
      "os.version": "10",
      "os.features": ["win32k"],
      features: [],
    };
    expect(validatePlatform(p, "p")).toBe(p);
  });

  it.each([
    ["m.platform must be an object", null],
    ["m.platform must be an object", ["linux"]],
    ["m.platform.architecture must be a string", { os: "linux" }],
    ["m.platform.os must be a string", { architecture: "amd64" }],
    ["m.platform.variant must be a string", { os: "linux", architecture: "arm", variant: 7 }],
    ['m.platform["os.version"] must be a string', { os: "w", architecture: "a", "os.version": 10 }],
    [
      'm.platform["os.features"] must be an array of strings',
      { os: "w", architecture: "a", "os.features": "x" },
    ],
    ['m.platform["features"] must be an array of strings', { os: "w", architecture: "a", features: [1] }],
  ])("%s", async (message, value) => {
    const err = await errorOf(() => validatePlatform(value, "m.platform"));
    expect(err.code).toBe("MANIFEST_INVALID");
    expect(err.message).toBe(message);
  });
});
