/** The lifecycle runner's pure parts (src/cnb/platform/runner.ts): pack's Platform API negotiation and creator's arguments. */
import { describe, expect, it } from "vitest";
import { creatorArgs, negotiatePlatformApi } from "../../../src/cnb/platform/runner.ts";

const lc = (supported: string[], deprecated: string[] = []) => ({
  version: "0.99.0",
  apis: { buildpack: { deprecated: [], supported: ["0.10"] }, platform: { deprecated, supported } },
});

describe("negotiatePlatformApi", () => {
  it("the highest API both sides know, deprecated ones included, compared as numbers", () => {
    expect(negotiatePlatformApi(lc(["0.3", "0.12", "0.13"]), "b")).toBe("0.13");
    expect(negotiatePlatformApi(lc(["0.15"], ["0.12", "0.14"]), "b")).toBe("0.14");
    expect(negotiatePlatformApi(lc(["0.12", "0.9"]), "b")).toBe("0.12");
  });

  it("no API in common: the sentence names the lifecycle, the builder and both lists", () => {
    let err: { code?: string; message: string; hint?: string } | undefined;
    try {
      negotiatePlatformApi(lc(["0.9", "0.10"]), "my/builder");
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message:
        "the lifecycle 0.99.0 of builder my/builder supports Platform API 0.9, 0.10, and berth drives a lifecycle with 0.12, 0.13, 0.14",
      hint: expect.stringContaining("--lifecycle builder"),
    });
  });
});

describe("creatorArgs", () => {
  it("the folders, the cache, the run image, the extra flags, then the image last", () => {
    expect(creatorArgs("run:1", "app:2", ["-skip-restore"])).toEqual([
      "-app",
      "/workspace",
      "-layers",
      "/layers",
      "-platform",
      "/platform",
      "-cache-dir",
      "/cache",
      "-run-image",
      "run:1",
      "-skip-restore",
      "app:2",
    ]);
  });
});
