/** files/plan.ts: the resolved plan (providers, requires) and the Buildpack Plan one buildpack gets. */
import { describe, expect, it } from "vitest";
import {
  encodeBuildpackPlan,
  encodePlan,
  filterPlan,
  findPlan,
  type Plan,
  parsePlan,
} from "../../../src/cnb/files/plan.ts";

const plan: Plan = {
  entries: [
    {
      providers: [
        { id: "node", version: "1" },
        { id: "curl", version: "0.1", extension: true },
      ],
      requires: [{ name: "node", metadata: { version: "20" } }],
    },
    { providers: [{ id: "npm", version: "2" }], requires: [{ name: "npm" }, { name: "node_modules" }] },
  ],
};

describe("plan.toml", () => {
  it("survives a write and a read, extension flags and metadata included", () => {
    const text = encodePlan(plan);
    expect(text).toContain("extension = true");
    expect(parsePlan(text, "/layers/plan.toml")).toEqual(plan);
  });

  it("reads a provider without a version as an empty version", () => {
    expect(parsePlan('[[entries]]\n[[entries.providers]]\nid = "a"\n', "p").entries[0]?.providers).toEqual([
      { id: "a", version: "" },
    ]);
  });

  it("names the file and key of a require without a name", () => {
    expect(() =>
      parsePlan("[[entries]]\n[[entries.requires]]\nversion = '1'\n", "/layers/plan.toml"),
    ).toThrow("/layers/plan.toml: entries[0].requires[0].name is required");
  });
});

describe("findPlan and filterPlan", () => {
  it("give a buildpack the requires of the entries it provides, an extension only its own", () => {
    expect(findPlan(plan, "node")).toEqual([{ name: "node", metadata: { version: "20" } }]);
    expect(findPlan(plan, "curl")).toEqual([]);
    expect(findPlan(plan, "curl", true)).toEqual([{ name: "node", metadata: { version: "20" } }]);
    expect(findPlan(plan, "node", true)).toEqual([]);
    expect(findPlan(plan, "absent")).toEqual([]);
  });

  it("drop entries with a met require", () => {
    expect(filterPlan(plan, ["node_modules"]).entries).toEqual([plan.entries[0]]);
    expect(filterPlan(plan, []).entries).toHaveLength(2);
  });
});

describe("encodeBuildpackPlan", () => {
  it("is empty for no entries, [[entries]] name and metadata otherwise", () => {
    expect(encodeBuildpackPlan([])).toBe("");
    expect(encodeBuildpackPlan([{ name: "n", metadata: { a: "b" } }, { name: "m" }])).toBe(
      '[[entries]]\nname = "n"\n\n[entries.metadata]\na = "b"\n\n[[entries]]\nname = "m"\n',
    );
  });
});
