import { describe, expect, test } from "vitest";
import { encodeGroup, parseGroup } from "../../../src/cnb/files/group.ts";

describe("group.toml", () => {
  test("buildpacks and extensions survive a write and a read", () => {
    const group = {
      group: [{ id: "samples/node", version: "1.0.0", api: "0.10", homepage: "https://example.test/node" }],
      groupExtensions: [{ id: "samples/curl", version: "0.0.1", api: "0.10" }],
    };
    expect(parseGroup(encodeGroup(group), "group.toml")).toEqual(group);
  });

  test("a group without extensions reads back without the field", () => {
    const group = { group: [{ id: "a", version: "1", api: "0.9" }] };
    expect(encodeGroup(group)).not.toContain("group-extensions");
    expect(parseGroup(encodeGroup(group), "group.toml")).toEqual(group);
  });

  test("a [[group-extensions]] that is not a list of tables names the file and field", () => {
    expect(() => parseGroup('group-extensions = "x"\n', "/layers/group.toml")).toThrow(
      /group\.toml.*group-extensions/s,
    );
  });
});
