import { describe, expect, it } from "vitest";
import { transferred } from "../../src/util/memory.ts";

describe("transferred", () => {
  it("collects young garbage every few MiB without exposing gc to the program", () => {
    const before = "gc" in globalThis;
    for (let i = 0; i < 64; i++) transferred(1024 * 1024);
    expect("gc" in globalThis).toBe(before);
  });
});
