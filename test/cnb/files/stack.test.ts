/** files/stack.ts: the legacy stack.toml's `[run-image]`. */
import { describe, expect, it } from "vitest";
import { encodeStack } from "../../../src/cnb/files/stack.ts";

describe("stack.toml", () => {
  it("holds the run image and its mirrors, and is empty without a run image", () => {
    expect(encodeStack({ image: "r/run" })).toBe('[run-image]\nimage = "r/run"\nmirrors = []\n');
    expect(encodeStack({ image: "r/run", mirrors: ["m/run"] })).toContain('mirrors = [ "m/run" ]');
    expect(encodeStack(undefined)).toBe("");
  });
});
