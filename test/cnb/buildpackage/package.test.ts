/**
 * buildpackage/package.ts: `berth buildpack package` from a package.toml to an OCI layout: one layer per
 * buildpack, the labels pack writes, the platform from the targets, and a composite's missing dependency
 * refused. The package is read back with berth's buildpackage reader.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { loadBuildpacks } from "../../../src/cnb/buildpack/load.ts";
import { packageBuildpack } from "../../../src/cnb/buildpackage/package.ts";
import { readPackageConfig } from "../../../src/cnb/files/package.ts";
import { openImage } from "../../../src/cnb/image.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeBuildpack } from "../helpers.ts";

let dir: string;
let ctx: { home: string; env: Record<string, string> };
beforeEach(async () => {
  dir = await tempDir("berth-cnb-pkg-");
  ctx = { home: join(dir, "home"), env: {} };
});

/** The composite meta/all@1.0.0 (its order: dep/one@0.1.0) in `meta_all-1.0.0`. */
const composite = () =>
  writeBuildpack(dir, { id: "meta/all", version: "1.0.0", order: [[["dep/one", "0.1.0"]]] });

describe("packageBuildpack", () => {
  it("writes a composite with its dependency, the labels and the target's platform, readable as a buildpackage", async () => {
    await composite();
    await writeBuildpack(dir, { id: "dep/one", version: "0.1.0" });
    await writeFile(
      join(dir, "package.toml"),
      '[buildpack]\nuri = "meta_all-1.0.0"\n[[dependencies]]\nuri = "./dep_one-0.1.0"\n[[targets]]\nos = "linux"\narch = "arm64"\n',
    );
    const lines: string[] = [];
    const target = `oci:${join(dir, "layout")}:pkg`;
    const r = await packageBuildpack(
      await readPackageConfig(join(dir, "package.toml")),
      parseImageArgument(target),
      {
        ctx,
        onProgress: (l) => lines.push(l),
      },
    );
    expect(r).toMatchObject({
      id: "meta/all",
      version: "1.0.0",
      buildpacks: ["dep/one@0.1.0", "meta/all@1.0.0"],
      platform: { os: "linux", architecture: "arm64" },
    });
    expect(lines[0]).toBe("dependency ./dep_one-0.1.0: dep/one@0.1.0");

    const opened = await openImage(target, ctx);
    try {
      const labels = opened.image.config!.config!.Labels!;
      expect(JSON.parse(labels["io.buildpacks.buildpackage.metadata"]!)).toMatchObject({
        id: "meta/all",
        version: "1.0.0",
        stacks: [{ id: "*" }],
      });
      expect(Object.keys(JSON.parse(labels["io.buildpacks.buildpack.layers"]!)).sort()).toEqual([
        "dep/one",
        "meta/all",
      ]);
      expect(opened.image.layers()).toHaveLength(2);
      expect(opened.image.config!.created).toBe("1970-01-01T00:00:00Z");
    } finally {
      await opened.close();
    }
    const tmp = join(dir, "tmp");
    await mkdir(tmp);
    const back = await loadBuildpacks(target, { relativeTo: dir, ctx, tmp });
    expect(back.map((b) => b.descriptor.buildpack.id)).toEqual(["meta/all", "dep/one"]);
  });

  it("refuses a composite whose order names a buildpack the package lacks, with a hint", async () => {
    await composite();
    await writeFile(join(dir, "package.toml"), '[buildpack]\nuri = "meta_all-1.0.0"\n');
    const file = join(dir, "package.toml");
    await expect(
      packageBuildpack(await readPackageConfig(file), parseImageArgument(`oci:${join(dir, "layout")}:pkg`), {
        ctx,
      }),
    ).rejects.toMatchObject({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: `package config ${file}: composite buildpack meta/all@1.0.0 needs dep/one@0.1.0, which is not among its dependencies`,
      hint: "add it under [[dependencies]] (uri = a folder or .cnb file, or image = a buildpackage)",
    });
  });

  it("names the package config and the buildpack it cannot load", async () => {
    const file = join(dir, "package.toml");
    await writeFile(file, '[buildpack]\nuri = "./missing"\n');
    await expect(
      packageBuildpack(await readPackageConfig(file), parseImageArgument(`oci:${join(dir, "layout")}:pkg`), {
        ctx,
      }),
    ).rejects.toThrow(
      `package config ${file}: buildpack ./missing: buildpack ./missing: ${dir}/missing does not exist`,
    );
  });
});
