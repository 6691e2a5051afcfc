/** files/package.ts: pack's package.toml, relative URIs resolved against its folder, errors naming the key. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { readPackageConfig } from "../../../src/cnb/files/package.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-pkg-");
  file = join(dir, "package.toml");
});

describe("readPackageConfig", () => {
  it("reads the buildpack, dependencies, targets and the deprecated platform os", async () => {
    await writeFile(
      file,
      `[buildpack]
uri = "./bp"
[[dependencies]]
uri = "../dep.cnb"
[[dependencies]]
image = "r/dep:1"
[[targets]]
os = "linux"
arch = "arm64"
[platform]
os = "linux"
`,
    );
    const c = await readPackageConfig(file);
    expect(c).toMatchObject({
      file,
      dir,
      buildpack: { uri: "./bp" },
      dependencies: [{ uri: "../dep.cnb" }, { image: "r/dep:1" }],
      platformOs: "linux",
    });
    expect(c.targets).toEqual([expect.objectContaining({ os: "linux", arch: "arm64" })]);
  });

  it("refuses a missing [buildpack], an extension, unknown keys and a dependency with both or neither", async () => {
    const cases: [string, RegExp][] = [
      ["", /: buildpack is required \(\[buildpack\] uri = "…"\)$/],
      [
        '[extension]\nuri = "x"\n',
        /: extension is not supported: berth packages buildpacks, not image extensions$/,
      ],
      ['[buildpack]\nuri = "x"\nname = "n"\n', /: buildpack\.name is not a known key$/],
      [
        '[buildpack]\nuri = "x"\n[[dependencies]]\nuri = "a"\nimage = "b"\n',
        /dependencies\[0\] must have exactly one of uri and image$/,
      ],
      [
        '[buildpack]\nuri = "x"\n[[dependencies]]\n',
        /dependencies\[0\] must have exactly one of uri and image$/,
      ],
      ['[buildpack]\nuri = "x"\n[platform]\narch = "x"\n', /: platform\.arch is not a known key$/],
    ];
    for (const [text, re] of cases) {
      await writeFile(file, text);
      const err = await readPackageConfig(file).then(
        () => ({ code: "", message: "did not fail" }),
        (e: unknown) => e as { code: string; message: string },
      );
      expect(err.code, text).toBe("CNB_CONFIG_INVALID");
      expect(err.message, text).toMatch(new RegExp(`^package config: ${file.replace(/[.]/g, "\\.")}: `));
      expect(err.message, text).toMatch(re);
    }
  });

  it("names the file it cannot read", async () => {
    await expect(readPackageConfig(join(dir, "none.toml"))).rejects.toThrow(/none\.toml: cannot be read/);
  });
});
