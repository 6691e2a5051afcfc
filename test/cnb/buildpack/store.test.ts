/** buildpack/store.ts: buildpacks looked up by id and version, with errors naming what is present. */
import { describe, expect, it } from "vitest";
import type { LoadedBuildpack } from "../../../src/cnb/buildpack/load.ts";
import { BuildpackStore } from "../../../src/cnb/buildpack/store.ts";

function bp(id: string, version: string, source = "dir"): LoadedBuildpack {
  return {
    descriptor: {
      api: "0.12",
      buildpack: { id, version, clearEnv: false },
      order: [],
      targets: [],
      stacks: [],
    },
    dir: `/cnb/buildpacks/${id}/${version}`,
    source,
  };
}

describe("BuildpackStore", () => {
  it("finds a buildpack by id and version, or by id alone when one version is present", () => {
    const s = new BuildpackStore([bp("a", "1"), bp("b", "1"), bp("b", "2")]);
    expect(s.lookup("a").dir).toBe("/cnb/buildpacks/a/1");
    expect(s.lookup("b", "2").dir).toBe("/cnb/buildpacks/b/2");
    expect(s.versionsOf("b")).toEqual(["1", "2"]);
    expect(s.all()).toHaveLength(3);
  });

  it("lets a later buildpack with the same id and version replace the earlier", () => {
    const s = new BuildpackStore([bp("a", "1", "first")]);
    s.add(bp("a", "1", "second"));
    expect(s.all().map((b) => b.source)).toEqual(["second"]);
  });

  it("names the versions present when the order must choose or names a missing one", () => {
    const s = new BuildpackStore([bp("b", "1"), bp("b", "2")]);
    expect(() => s.lookup("b")).toThrow(
      expect.objectContaining({
        code: "CNB_BUILDPACK_NOT_FOUND",
        message: 'buildpack "b" is present in versions 1, 2: the order must name one',
      }),
    );
    expect(() => s.lookup("b", "3")).toThrow('buildpack "b@3" is not available (versions present: 1, 2)');
    expect(() => s.lookup("c")).toThrow(/^buildpack "c" is not available$/);
  });
});
