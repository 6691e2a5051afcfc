/**
 * Target data (src/cnb/platform/target.ts): from the image config and distro labels, else /etc/os-release;
 * matching a buildpack's [[targets]] with empty values as wildcards on either side; CNB_TARGET_* for buildpacks.
 */
import { describe, expect, it } from "vitest";
import {
  completeTarget,
  parseOsRelease,
  targetEnv,
  targetOfImage,
  targetSatisfied,
} from "../../../src/cnb/platform/target.ts";
import { assemble } from "../../../src/oci/assemble.ts";
import type { ImageConfig } from "../../../src/oci/config.ts";

const imageWith = (config: Partial<ImageConfig>) =>
  assemble({ os: "linux", architecture: "", rootfs: { type: "layers", diff_ids: [] }, ...config }, []);

describe("targetOfImage", () => {
  it("os, arch, variant and the base labels", () => {
    const image = imageWith({
      os: "linux",
      architecture: "arm",
      variant: "v7",
      config: {
        Labels: {
          "io.buildpacks.base.distro.name": "ubuntu",
          "io.buildpacks.base.distro.version": "24.04",
          "io.buildpacks.base.id": "my.base",
        },
      },
    });
    expect(targetOfImage(image)).toEqual({
      os: "linux",
      arch: "arm",
      variant: "v7",
      distro: { name: "ubuntu", version: "24.04" },
      id: "my.base",
    });
  });

  it("one distro label is enough to give a distro; none gives none", () => {
    expect(
      targetOfImage(
        imageWith({ architecture: "amd64", config: { Labels: { "io.buildpacks.base.distro.name": "x" } } }),
      ),
    ).toEqual({ os: "linux", arch: "amd64", distro: { name: "x", version: "" } });
    expect(targetOfImage(imageWith({ os: "linux", architecture: "amd64" }))).toEqual({
      os: "linux",
      arch: "amd64",
    });
  });
});

describe("os-release", () => {
  it("ID and VERSION_ID, quotes removed; neither gives undefined", () => {
    expect(parseOsRelease('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n')).toEqual({
      name: "debian",
      version: "12",
    });
    expect(parseOsRelease("ID='alpine'\n")).toEqual({ name: "alpine", version: "" });
    // ID_LIKE is not ID.
    expect(parseOsRelease("ID_LIKE=debian\nPRETTY_NAME=x\n")).toBeUndefined();
  });

  it("completeTarget reads /etc/os-release only when the labels gave no distro", async () => {
    const read: string[] = [];
    const root = async (p: string) => {
      read.push(p);
      return "ID=debian\nVERSION_ID=12\n";
    };
    expect(await completeTarget({ os: "linux", arch: "amd64" }, root)).toEqual({
      os: "linux",
      arch: "amd64",
      distro: { name: "debian", version: "12" },
    });
    expect(read).toEqual(["/etc/os-release"]);
    const labelled = { os: "linux", arch: "amd64", distro: { name: "ubuntu", version: "24.04" } };
    expect(await completeTarget(labelled, root)).toBe(labelled);
    expect(read).toHaveLength(1);
    expect(await completeTarget({ os: "linux", arch: "amd64" }, async () => undefined)).toEqual({
      os: "linux",
      arch: "amd64",
    });
  });
});

describe("targetSatisfied", () => {
  const base = { os: "linux", arch: "amd64", distro: { name: "ubuntu", version: "24.04" } };
  it("empty values are wildcards on both sides", () => {
    expect(targetSatisfied(base, {})).toBe(true);
    expect(targetSatisfied(base, { os: "linux", arch: "amd64" })).toBe(true);
    expect(targetSatisfied(base, { arch: "arm64" })).toBe(false);
    expect(targetSatisfied({ os: "linux", arch: "" }, { arch: "arm64" })).toBe(true);
    expect(targetSatisfied(base, { variant: "v8" })).toBe(true);
  });

  it("distros: any one matching is enough; a base without a distro satisfies none", () => {
    expect(
      targetSatisfied(base, { distros: [{ name: "debian" }, { name: "ubuntu", version: "24.04" }] }),
    ).toBe(true);
    expect(targetSatisfied(base, { distros: [{ name: "ubuntu", version: "22.04" }] })).toBe(false);
    expect(targetSatisfied(base, { distros: [{ name: "ubuntu" }] })).toBe(true);
    expect(targetSatisfied({ os: "linux", arch: "amd64" }, { distros: [{ name: "ubuntu" }] })).toBe(false);
  });
});

describe("targetEnv", () => {
  it("os and arch always; variant and distro only when known", () => {
    expect(
      targetEnv({ os: "linux", arch: "arm", variant: "v7", distro: { name: "debian", version: "" } }),
    ).toEqual([
      "CNB_TARGET_OS=linux",
      "CNB_TARGET_ARCH=arm",
      "CNB_TARGET_ARCH_VARIANT=v7",
      "CNB_TARGET_DISTRO_NAME=debian",
    ]);
  });
});
