/**
 * The run image the app image's label records for rebase (src/cnb/phase/export/config.ts `runImageForExport`,
 * lc platform/run_image.go GetRunImageForExport). The config and labels themselves are checked through the
 * Exporter in test/cnb/phase/export.test.ts.
 */
import { describe, expect, it } from "vitest";
import { runImageForExport } from "../../../../src/cnb/phase/export/config.ts";

const RUN_TOML = [
  { image: "reg.one/run:1", mirrors: ["reg.two/run:1"] },
  { image: "reg.one/tiny:1", mirrors: [] },
];

describe("runImageForExport", () => {
  it("Platform API 0.12+: the run.toml entry naming the image used, by image or mirror, a digest ignored", () => {
    expect(runImageForExport("reg.one/tiny:1@sha256:0123abcd", RUN_TOML, "0.12")).toEqual({
      image: "reg.one/tiny:1",
    });
    expect(runImageForExport("reg.two/run:1", RUN_TOML, "0.13")).toEqual({
      image: "reg.one/run:1",
      mirrors: ["reg.two/run:1"],
    });
  });

  it("not in run.toml: its first entry, unless extensions may have switched the run image", () => {
    expect(runImageForExport("other/run:9", RUN_TOML, "0.13")).toEqual({
      image: "reg.one/run:1",
      mirrors: ["reg.two/run:1"],
    });
    expect(runImageForExport("other/run:9", RUN_TOML, "0.13", true)).toEqual({ image: "other/run:9" });
  });

  it("below 0.12: run.toml's first whatever was used; no run.toml records nothing", () => {
    expect(runImageForExport("reg.one/tiny:1", RUN_TOML, "0.11")).toEqual({
      image: "reg.one/run:1",
      mirrors: ["reg.two/run:1"],
    });
    expect(runImageForExport("x", [], "0.13")).toEqual({});
    expect(runImageForExport("x", [], "0.13", true)).toEqual({});
  });

  it("the mirrors are a copy: changing the result leaves run.toml's list alone", () => {
    runImageForExport("reg.one/run:1", RUN_TOML, "0.13").mirrors?.push("changed");
    expect(RUN_TOML[0]!.mirrors).toEqual(["reg.two/run:1"]);
  });
});
