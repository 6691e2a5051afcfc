/** files/run.ts: run.toml's run images and mirrors. */
import { describe, expect, it } from "vitest";
import { encodeRun, parseRun, runImagesOf } from "../../../src/cnb/files/run.ts";

describe("run.toml", () => {
  it("survives a write and a read; missing mirrors are an empty list", () => {
    const text = encodeRun([{ image: "r/run:1", mirrors: ["m/run:1"] }, { image: "r/other" }]);
    expect(parseRun(text, "/cnb/run.toml")).toEqual([
      { image: "r/run:1", mirrors: ["m/run:1"] },
      { image: "r/other", mirrors: [] },
    ]);
    expect(parseRun('[[images]]\nimage = "r/run"\n', "/cnb/run.toml")).toEqual([
      { image: "r/run", mirrors: [] },
    ]);
    expect(parseRun("", "/cnb/run.toml")).toEqual([]);
  });

  it("names the file and key of an image without a name", () => {
    expect(() => parseRun("[[images]]\nmirrors = []\n", "/cnb/run.toml")).toThrow(
      "/cnb/run.toml: images[0].image is required",
    );
  });
});

describe("runImagesOf", () => {
  it("run.toml's images first, else stack.toml's run image, else none", () => {
    const run = [{ image: "r/run:1", mirrors: ["m/run:1"] }];
    const stack = { image: "legacy/run:1", mirrors: [] };
    expect(runImagesOf(run, stack)).toEqual(run);
    expect(runImagesOf([], stack)).toEqual([stack]);
    expect(runImagesOf(undefined, stack)).toEqual([stack]);
    expect(runImagesOf(undefined, { image: "" })).toEqual([]);
    expect(runImagesOf(undefined, undefined)).toEqual([]);
  });
});
