/** scripts/lib/graph.ts: the cycles of an import graph. */
import { describe, expect, it } from "vitest";
import { cycles } from "../../../scripts/lib/graph.ts";

const graph = (edges: Record<string, string[]>) => (v: string) => edges[v] ?? [];

describe("cycles", () => {
  it("finds each strongly connected component of more than one node, and no self-loop", () => {
    const edges = { a: ["b"], b: ["c", "d"], c: ["a"], d: ["e"], e: ["d", "f"], f: [], s: ["s"] };
    const found = cycles(Object.keys(edges), graph(edges)).map((c) => c.sort());
    expect(found.sort()).toEqual([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
  });

  it("does not follow an edge out of the nodes given", () => {
    const edges = { a: ["b"], b: ["a"] };
    expect(cycles(["a"], graph(edges))).toEqual([]);
  });

  it("handles a long chain without a cycle", () => {
    const edges: Record<string, string[]> = {};
    for (let i = 0; i < 2000; i++) edges[`n${i}`] = [`n${i + 1}`];
    expect(cycles(Object.keys(edges), graph(edges))).toEqual([]);
  });
});
