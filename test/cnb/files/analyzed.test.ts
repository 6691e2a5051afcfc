/** files/analyzed.ts: analyzed.toml with the previous image and the run image's target, and the generator's update. */
import { describe, expect, it } from "vitest";
import { encodeAnalyzed, updateAnalyzed } from "../../../src/cnb/files/analyzed.ts";
import { parseToml } from "../../../src/cnb/toml.ts";

const origin = { file: "analyzed.toml", code: "INTERNAL" } as const;

describe("analyzed.toml", () => {
  it("holds the previous image and the run image with its full target", () => {
    const text = encodeAnalyzed({
      image: { reference: "app@sha256:1" },
      runImage: {
        reference: "run@sha256:2",
        image: "run",
        target: { os: "linux", arch: "arm", variant: "v7", distro: { name: "ubuntu", version: "24.04" } },
      },
    });
    expect(parseToml(text, origin)).toEqual({
      image: { reference: "app@sha256:1" },
      "run-image": {
        reference: "run@sha256:2",
        image: "run",
        target: {
          os: "linux",
          arch: "arm",
          "arch-variant": "v7",
          distro: { name: "ubuntu", version: "24.04" },
        },
      },
    });
  });

  it("leaves out a missing previous image, variant and distro", () => {
    const doc = parseToml(
      encodeAnalyzed({ runImage: { reference: "r", image: "r", target: { os: "linux", arch: "amd64" } } }),
      origin,
    );
    expect(doc).toEqual({
      "run-image": { reference: "r", image: "r", target: { os: "linux", arch: "amd64" } },
    });
  });

  it("the generator's update: a switched run image replaces [run-image] (target cleared), extend is added, the rest kept", () => {
    const text = encodeAnalyzed({
      image: { reference: "app@sha256:1" },
      runImage: { reference: "run@sha256:2", image: "run", target: { os: "linux", arch: "amd64" } },
    });
    const update = (newRunImage: string | undefined, extend: boolean) =>
      parseToml(updateAnalyzed(text, "analyzed.toml", { newRunImage, extend }), origin);
    expect(update("other/run:2", false)).toEqual({
      image: { reference: "app@sha256:1" },
      "run-image": { reference: "other/run:2", image: "other/run:2" },
    });
    expect(update("other/run:2", true)["run-image"]).toEqual({
      reference: "other/run:2",
      image: "other/run:2",
      extend: true,
    });
    expect(update(undefined, true)["run-image"]).toEqual({
      reference: "run@sha256:2",
      image: "run",
      target: { os: "linux", arch: "amd64" },
      extend: true,
    });
  });
});
