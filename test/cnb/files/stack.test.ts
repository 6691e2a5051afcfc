/** files/stack.ts: the legacy stack.toml's `[run-image]`, written and read back. */
import { describe, expect, it } from "vitest";
import { encodeStack, parseStack } from "../../../src/cnb/files/stack.ts";

describe("stack.toml", () => {
  it("holds the run image and its mirrors, and is empty without a run image", () => {
    expect(encodeStack({ image: "r/run" })).toBe('[run-image]\nimage = "r/run"\nmirrors = []\n');
    expect(encodeStack({ image: "r/run", mirrors: ["m/run"] })).toContain('mirrors = [ "m/run" ]');
    expect(encodeStack(undefined)).toBe("");
  });

  it("reads back the run image and its mirrors; none without [run-image] image; bad TOML names the file", () => {
    expect(parseStack(encodeStack({ image: "r/run", mirrors: ["m/run"] }), "/cnb/stack.toml")).toEqual({
      image: "r/run",
      mirrors: ["m/run"],
    });
    expect(parseStack('[run-image]\nimage = "r/run"\n', "/cnb/stack.toml")).toEqual({
      image: "r/run",
      mirrors: [],
    });
    expect(parseStack("[run-image]\n", "/cnb/stack.toml")).toBeUndefined();
    expect(parseStack(encodeStack(undefined), "/cnb/stack.toml")).toBeUndefined();
    expect(() => parseStack("[run-image\n", "/cnb/stack.toml")).toThrow(
      expect.objectContaining({
        code: "CNB_CONFIG_INVALID",
        message: expect.stringContaining("/cnb/stack.toml"),
      }),
    );
  });
});
