/**
 * buildpack/descriptor.ts: ids and versions that must name a folder, targets, and a component buildpack's bin
 * files. The whole-file parse of buildpack.toml (every key, the loose ids the lifecycle takes) is in
 * test/cnb/descriptor.test.ts with builder.toml and project.toml.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  bpKey,
  checkId,
  checkVersion,
  effectiveTargets,
  escapeId,
  isComposite,
  parseBuildpackToml,
  parseTargets,
  validateBuildpackDir,
} from "../../../src/cnb/buildpack/descriptor.ts";
import { Fields } from "../../../src/cnb/toml.ts";
import { tempDir } from "../../helpers/temp.ts";

const fail = (msg: string) => new Error(msg);
const head = (api = "0.12") => `api = "${api}"\n[buildpack]\nid = "x"\nversion = "1.0.0"\n`;

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-bpdesc-");
});

describe("ids and versions", () => {
  it("escapeId and bpKey name the folder and the key", () => {
    expect(escapeId("a/b/c")).toBe("a_b_c");
    expect(bpKey("a/b", "1.0")).toBe("a/b@1.0");
    expect(bpKey("a/b")).toBe("a/b");
  });

  it("checkId refuses what cannot name a folder, and warns only where the spec is stricter", () => {
    for (const bad of ["", ".", "..", "a\\b", "a\0b"]) {
      expect(() => checkId(bad, fail), JSON.stringify(bad)).toThrow(/cannot name a folder/);
    }
    expect(checkId("a/b.c-d", fail)).toEqual([]);
    expect(checkId("a_b", fail)).toEqual([
      'id "a_b" has characters the Buildpack API does not allow (only letters, numbers and . / -); the lifecycle and pack accept it, so does berth',
    ]);
    expect(checkId("SBOM", fail)).toEqual([
      'id "SBOM" is reserved by the Buildpack API (app, config, generated, sbom)',
    ]);
  });

  it("checkVersion refuses a slash, warns on a version that is not X.Y.Z", () => {
    expect(() => checkVersion("1/2", fail)).toThrow(
      'version "1/2" cannot name a folder (it is empty, "." or "..", or holds / \\ or NUL)',
    );
    expect(checkVersion("1.2.3", fail)).toEqual([]);
    expect(checkVersion("01.2.3", fail)).toHaveLength(1);
  });
});

describe("parseBuildpackToml", () => {
  it("refuses an extension.toml, a malformed api and an empty order group", () => {
    expect(() => parseBuildpackToml('api = "0.12"\n[extension]\nid = "e"\n', "/e/extension.toml")).toThrow(
      expect.objectContaining({
        code: "CNB_BUILDPACK_INVALID",
        message:
          "/e/extension.toml: is an extension.toml-style descriptor ([extension]); berth runs buildpacks only",
      }),
    );
    expect(() => parseBuildpackToml(head("0.x"), "/b/buildpack.toml")).toThrow(
      'buildpack "x": /b/buildpack.toml: api "0.x" is not an API version (<major>.<minor>)',
    );
    expect(() => parseBuildpackToml(`${head()}[[order]]\n`, "/b/buildpack.toml")).toThrow(
      'buildpack "x": /b/buildpack.toml: order[0].group must list at least one buildpack',
    );
  });

  it("drops an order entry's exec-env below Buildpack API 0.12 with a warning", () => {
    const d = parseBuildpackToml(
      `${head("0.11")}[[order]]\n[[order.group]]\nid = "a"\nversion = "1.0.0"\nexec-env = ["test"]\noptional = true\n`,
      "b",
    );
    expect(d.order).toEqual([{ group: [{ id: "a", version: "1.0.0", optional: true }] }]);
    expect(isComposite(d)).toBe(true);
    expect(d.warnings).toEqual([
      "b: order[0].group[0].exec-env needs Buildpack API 0.12 or later; it is ignored",
    ]);
  });
});

describe("parseTargets", () => {
  it("keeps only the keys given, distros included", () => {
    const f = new Fields(
      {
        targets: [
          {
            os: "linux",
            arch: "arm",
            variant: "v7",
            distros: [{ name: "ubuntu", version: "24.04" }, { name: "alpine" }],
          },
          {},
        ],
      },
      { file: "b", code: "CNB_BUILDPACK_INVALID" },
    );
    expect(parseTargets(f)).toEqual([
      {
        os: "linux",
        arch: "arm",
        variant: "v7",
        distros: [{ name: "ubuntu", version: "24.04" }, { name: "alpine" }],
      },
      {},
    ]);
  });
});

describe("effectiveTargets", () => {
  it("bionic among several stacks counts only from Buildpack API 0.10; windows from bin/build.bat; none without bin", async () => {
    const stacks = '[[stacks]]\nid = "io.buildpacks.stacks.bionic"\n[[stacks]]\nid = "other"\n';
    expect(await effectiveTargets(parseBuildpackToml(`${head("0.9")}${stacks}`, "b"), dir)).toEqual([]);
    expect(await effectiveTargets(parseBuildpackToml(`${head("0.10")}${stacks}`, "b"), dir)).toEqual([
      { os: "linux", arch: "amd64", distros: [{ name: "ubuntu", version: "18.04" }] },
    ]);
    await mkdir(join(dir, "bin"));
    await writeFile(join(dir, "bin", "build.bat"), "");
    expect(await effectiveTargets(parseBuildpackToml(head(), "b"), dir)).toEqual([{ os: "windows" }]);
  });
});

describe("validateBuildpackDir", () => {
  it("needs executable bin/detect and bin/build in a component buildpack, naming the buildpack and path", async () => {
    const d = parseBuildpackToml(head(), "b");
    await expect(validateBuildpackDir(d, dir)).rejects.toThrow(
      `buildpack "x@1.0.0": ${dir}/buildpack.toml: declares no [[order]] but bin/detect is missing (${dir}/bin/detect)`,
    );
    await mkdir(join(dir, "bin"));
    await writeFile(join(dir, "bin", "detect"), "#!/bin/sh\n", { mode: 0o755 });
    await writeFile(join(dir, "bin", "build"), "#!/bin/sh\n", { mode: 0o644 });
    await chmod(join(dir, "bin", "build"), 0o644);
    await expect(validateBuildpackDir(d, dir)).rejects.toMatchObject({
      code: "CNB_BUILDPACK_INVALID",
      message: `buildpack "x@1.0.0": ${dir}/bin/build: bin/build is not executable (mode 644)`,
    });
    await chmod(join(dir, "bin", "build"), 0o755);
    await expect(validateBuildpackDir(d, dir)).resolves.toBeUndefined();
  });

  it("asks nothing of a composite buildpack", async () => {
    const d = parseBuildpackToml(`${head()}[[order]]\n[[order.group]]\nid = "a"\nversion = "1.0.0"\n`, "b");
    await expect(validateBuildpackDir(d, join(dir, "none"))).resolves.toBeUndefined();
  });
});
