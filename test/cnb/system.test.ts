/**
 * System buildpacks (issue 13, 9) and pack's id locators (issue 13, 4), as pure functions: the lifecycle's merge
 * (lc phase/hermetic_factory.go `mergeSystemBuildpacks`), `/cnb/system.toml` as pack writes it and the
 * lifecycle reads it, and `ParseIDLocator`.
 */
import { describe, expect, it } from "vitest";
import { parseIdLocator } from "../../src/cnb/platform/locator.ts";
import {
  parseSystemToml,
  systemLabel,
  systemToml,
  withSystemBuildpacks,
} from "../../src/cnb/platform/system.ts";

describe("system buildpacks", () => {
  const system = {
    pre: [{ id: "sys/pre", version: "1.0.0" }],
    post: [
      { id: "sys/post", version: "2.0.0", optional: true },
      { id: "a", version: "9.9.9" },
    ],
  };

  it("surround every group; ids a group already holds are left out; optional is dropped as the lifecycle does", () => {
    const order = withSystemBuildpacks(
      [
        { group: [{ id: "a", version: "1.0.0" }] },
        { group: [{ id: "b", version: "1.0.0", optional: true }] },
      ],
      system,
    );
    expect(order).toEqual([
      {
        group: [
          { id: "sys/pre", version: "1.0.0" },
          { id: "a", version: "1.0.0" },
          { id: "sys/post", version: "2.0.0" },
        ],
      },
      {
        group: [
          { id: "sys/pre", version: "1.0.0" },
          { id: "b", version: "1.0.0", optional: true },
          { id: "sys/post", version: "2.0.0" },
          { id: "a", version: "9.9.9" },
        ],
      },
    ]);
    const none = [{ group: [{ id: "a" }] }];
    expect(withSystemBuildpacks(none, { pre: [], post: [] })).toBe(none);
  });

  it("/cnb/system.toml under [system], read back as the lifecycle reads it; the label as pack writes it", () => {
    const text = systemToml(system);
    expect(text).toContain("[[system.pre.buildpacks]]");
    expect(parseSystemToml(text, "system.toml")).toEqual({
      pre: [{ id: "sys/pre", version: "1.0.0" }],
      post: [
        { id: "sys/post", version: "2.0.0" },
        { id: "a", version: "9.9.9" },
      ],
    });
    expect(JSON.parse(systemLabel({ pre: [], post: [{ id: "x", version: "1" }] }))).toEqual({
      post: { buildpacks: [{ id: "x", version: "1" }] },
    });
  });
});

describe("pack's id locators", () => {
  it("ID[@VERSION] with the prefixes pack ignores", () => {
    expect(parseIdLocator("paketo-buildpacks/node-engine@1.2.3")).toEqual({
      id: "paketo-buildpacks/node-engine",
      version: "1.2.3",
    });
    expect(parseIdLocator("urn:cnb:builder:a/b")).toEqual({ id: "a/b" });
    expect(parseIdLocator("from=builder:a/b@0.0.1-alpha")).toEqual({ id: "a/b", version: "0.0.1-alpha" });
    expect(parseIdLocator("urn:cnb:registry:ns/x@1.0")).toEqual({ id: "ns/x", version: "1.0" });
  });
});
