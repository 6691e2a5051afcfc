/**
 * pack's builder.toml (src/cnb/platform/builder-config.ts): the full shape, the legacy [stack] merged with
 * [build] and [[run.images]] (RFC-0096), the error sentences, and [[build.env]] as build-config env files.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildConfigEnvFiles,
  configDir,
  parseBuilderConfig,
  readBuilderConfig,
} from "../../../src/cnb/platform/builder-config.ts";
import { tempDir } from "../../helpers/temp.ts";
import { thrown } from "./helpers.ts";

const FILE = "/cfg/builder.toml";
const failure = (text: string) => thrown(() => parseBuilderConfig(text, FILE));
const invalid = (message: string) => ({
  code: "CNB_CONFIG_INVALID",
  message: `builder config: ${FILE}: ${message}`,
});

const MINIMAL = `[build]\nimage = "build:1"\n[[run.images]]\nimage = "run:1"\n`;

describe("parseBuilderConfig", () => {
  it("every section", () => {
    const c = parseBuilderConfig(
      `description = "d"
[[buildpacks]]
id = "a"
version = "1.0.0"
uri = "./a"
[[extensions]]
image = "ext:1"
[[order]]
[[order.group]]
id = "a"
version = "1.0.0"
[build]
image = "build:1"
[[build.env]]
name = "PATH"
value = "/x"
suffix = "prepend"
delim = ":"
[[run.images]]
image = "run:1"
mirrors = ["mirror/run:1"]
[[targets]]
os = "linux"
arch = "arm64"
[lifecycle]
version = "0.21.0"
[system.pre]
[[system.pre.buildpacks]]
id = "sys"
optional = true
`,
      FILE,
    );
    expect(c).toEqual({
      file: FILE,
      description: "d",
      buildpacks: [{ id: "a", version: "1.0.0", uri: "./a" }],
      extensions: [{ image: "ext:1" }],
      order: [{ group: [{ id: "a", version: "1.0.0" }] }],
      orderExtensions: [],
      buildImage: "build:1",
      runImages: [{ image: "run:1", mirrors: ["mirror/run:1"] }],
      buildEnv: [{ name: "PATH", value: "/x", suffix: "prepend", delim: ":" }],
      targets: [{ os: "linux", arch: "arm64" }],
      stack: {},
      lifecycle: { version: "0.21.0" },
      system: { pre: [{ id: "sys", optional: true }], post: [] },
      warnings: [],
    });
    expect(configDir(c)).toBe("/cfg");
  });

  it("[stack] alone gives the build image and the run image with its mirrors; an empty order is a warning", () => {
    const c = parseBuilderConfig(
      `[stack]\nid = "s"\nbuild-image = "b:1"\nrun-image = "r:1"\nrun-image-mirrors = ["m:1"]\n`,
      FILE,
    );
    expect(c).toMatchObject({
      buildImage: "b:1",
      runImages: [{ image: "r:1", mirrors: ["m:1"] }],
      stack: { id: "s", buildImage: "b:1", runImage: "r:1", runImageMirrors: ["m:1"] },
      warnings: ["empty 'order' definition"],
    });
    expect(c.lifecycle).toBeUndefined();
    // Both given and in step: fine.
    expect(
      parseBuilderConfig(`${MINIMAL}[stack]\nbuild-image = "build:1"\nrun-image = "run:1"\n`, FILE)
        .buildImage,
    ).toBe("build:1");
  });

  it("bad input: one sentence naming the file and the key", () => {
    expect(failure(`colour = "red"\n${MINIMAL}`)).toEqual(invalid("colour is not a known key"));
    expect(failure(`${MINIMAL}[[buildpacks]]\nid = "a"\n`)).toEqual(
      invalid("buildpacks[0].uri or image is required"),
    );
    expect(failure(`${MINIMAL}[[buildpacks]]\nuri = "a"\nimage = "b"\n`)).toEqual(
      invalid("buildpacks[0].uri and image may not both be given"),
    );
    expect(failure(`[[run.images]]\nimage = "run:1"\n`)).toEqual(invalid("build.image is required"));
    expect(failure(`[build]\nimage = "build:1"\n`)).toEqual(invalid("run.images are required"));
    expect(failure(`${MINIMAL}[stack]\nbuild-image = "other"\n`)).toEqual(
      invalid("build.image and stack.build-image do not match"),
    );
    expect(failure(`${MINIMAL}[stack]\nrun-image = "other"\n`)).toEqual(
      invalid("run.images and stack.run-image do not match"),
    );
    expect(failure(`${MINIMAL}[lifecycle]\nuri = "l.tgz"\nversion = "1"\n`)).toEqual(
      invalid("lifecycle can only declare version or uri, not both"),
    );
    expect(failure(`${MINIMAL}[[build.env]]\nname = "A"\nvalue = "x"\nsuffix = "append"\n`)).toEqual(
      invalid('build.env "A" with suffix append must have a delim'),
    );
    expect(failure(`${MINIMAL}[[build.env]]\nname = "A"\nsuffix = "replace"\n`)).toEqual(
      invalid('build.env[0].suffix "replace" is not one of default, override, append, prepend'),
    );
    expect(failure(`${MINIMAL}[[order]]\nbuildpacks = []\n`)).toEqual(
      invalid("order[0].buildpacks is not a known key"),
    );
  });
});

describe("readBuilderConfig", () => {
  it("reads the file by its absolute path; a missing file is named", async () => {
    const dir = await tempDir("berth-cnb-builder-config-");
    await writeFile(join(dir, "builder.toml"), MINIMAL);
    expect((await readBuilderConfig(join(dir, "builder.toml"))).file).toBe(join(dir, "builder.toml"));
    await expect(readBuilderConfig(join(dir, "nope.toml"))).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: expect.stringMatching(`^builder config ${join(dir, "nope.toml")} cannot be read: ENOENT`),
    });
  });
});

describe("buildConfigEnvFiles", () => {
  it("the suffix in the file name, the delimiter in its own file, no suffix as the bare name", () => {
    expect([
      ...buildConfigEnvFiles([
        { name: "A", value: "1" },
        { name: "PATH", value: "/x", suffix: "prepend", delim: ":" },
        { name: "B", value: "", suffix: "default" },
      ]),
    ]).toEqual([
      ["A", "1"],
      ["PATH.prepend", "/x"],
      ["PATH.delim", ":"],
      ["B.default", ""],
    ]);
  });
});
