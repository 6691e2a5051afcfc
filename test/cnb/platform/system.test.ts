/**
 * System buildpacks (issue 13, 9) as pure functions: the lifecycle's merge
 * (lc phase/hermetic_factory.go `mergeSystemBuildpacks`), `/cnb/system.toml` as pack writes it and the
 * lifecycle reads it, and pack's resolution of their versions against the builder.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BuildpackStore, readBuildpackDir } from "../../../src/cnb/index.ts";
import {
  parseSystemToml,
  resolveSystem,
  systemLabel,
  systemToml,
  withSystemBuildpacks,
} from "../../../src/cnb/platform/system.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeBuildpack } from "../helpers.ts";

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

describe("resolveSystem (pack's processSystem)", () => {
  const store = new BuildpackStore();
  beforeAll(async () => {
    const dir = await tempDir("berth-cnb-system-");
    for (const [id, version] of [
      ["a", "1.0.0"],
      ["b", "1.0.0"],
      ["b", "2.0.0"],
    ] as const) {
      store.add(await readBuildpackDir(await writeBuildpack(dir, { id, version })));
    }
  });

  it("a missing version is filled in from the builder's only one; optional is kept", () => {
    expect(
      resolveSystem(
        { pre: [{ id: "a", optional: true }], post: [{ id: "b", version: "2.0.0" }] },
        store,
        "builder.toml",
      ),
    ).toEqual({
      pre: [{ id: "a", version: "1.0.0", optional: true }],
      post: [{ id: "b", version: "2.0.0" }],
    });
  });

  it("each buildpack the builder cannot supply is named with its place in builder.toml", () => {
    const err = (s: Parameters<typeof resolveSystem>[0]) => {
      try {
        resolveSystem(s, store, "builder.toml");
      } catch (e) {
        return [(e as { code: string }).code, (e as Error).message];
      }
      return "resolved";
    };
    expect(err({ pre: [], post: [{ id: "a" }, { id: "zz" }] })).toEqual([
      "CNB_CONFIG_INVALID",
      'builder.toml: system.post.buildpacks[1]: no versions of buildpack "zz" were found on the builder',
    ]);
    expect(err({ pre: [{ id: "a", version: "9" }], post: [] })).toEqual([
      "CNB_CONFIG_INVALID",
      "builder.toml: system.pre.buildpacks[0]: buildpack a@9 is not on the builder (versions present: 1.0.0)",
    ]);
    expect(err({ pre: [{ id: "b" }], post: [] })).toEqual([
      "CNB_CONFIG_INVALID",
      'builder.toml: system.pre.buildpacks[0]: multiple versions of "b" are on the builder; name one',
    ]);
  });
});
