/** buildpack.toml, builder.toml and project.toml parsing, with errors naming the buildpack, file and key. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.ts";
import {
  buildConfigEnvFiles,
  effectiveTargets,
  parseBuilderConfig,
  parseBuildpackToml,
  parseProjectToml,
  readBuildpackArchive,
  readBuildpackDir,
} from "./lib.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-desc-");
});

const FULL = `api = "0.12"

[buildpack]
id = "examples/node"
name = "Node"
version = "1.2.3"
homepage = "https://example.org"
description = "Node.js"
keywords = ["node", "js"]
clear-env = true
sbom-formats = ["application/vnd.cyclonedx+json"]

[[buildpack.licenses]]
type = "Apache-2.0"

[[buildpack.exec-env]]
name = "production"

[[targets]]
os = "linux"
arch = "arm64"
variant = "v8"
[[targets.distros]]
name = "ubuntu"
version = "24.04"

[[stacks]]
id = "io.buildpacks.stacks.noble"
mixins = ["curl"]

[metadata]
default-version = "22"
`;

describe("buildpack.toml", () => {
  it("reads every key of Buildpack API 0.10–0.12", () => {
    const d = parseBuildpackToml(FULL, "/bp/buildpack.toml");
    expect(d.api).toBe("0.12");
    expect(d.buildpack).toEqual({
      id: "examples/node",
      name: "Node",
      version: "1.2.3",
      homepage: "https://example.org",
      description: "Node.js",
      keywords: ["node", "js"],
      clearEnv: true,
      sbomFormats: ["application/vnd.cyclonedx+json"],
      licenses: [{ type: "Apache-2.0" }],
      execEnv: ["production"],
    });
    expect(d.targets).toEqual([
      { os: "linux", arch: "arm64", variant: "v8", distros: [{ name: "ubuntu", version: "24.04" }] },
    ]);
    expect(d.stacks).toEqual([{ id: "io.buildpacks.stacks.noble", mixins: ["curl"] }]);
    expect(d.metadata).toEqual({ "default-version": "22" });
    expect(d.order).toEqual([]);
  });

  it("reads a composite buildpack's order", () => {
    const d = parseBuildpackToml(
      `api = "0.11"\n[buildpack]\nid = "meta"\nversion = "0.1.0"\n[[order]]\n[[order.group]]\nid = "a"\nversion = "1.0.0"\n[[order.group]]\nid = "b"\nversion = "2.0.0"\noptional = true\n`,
      "buildpack.toml",
    );
    expect(d.order).toEqual([
      {
        group: [
          { id: "a", version: "1.0.0" },
          { id: "b", version: "2.0.0", optional: true },
        ],
      },
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ["malformed TOML", `api = "0.10"\n[buildpack\nid = "x"`, /buildpack\.toml: is not valid TOML \(line 2/],
    [
      "no api",
      `[buildpack]\nid = "x"\nversion = "1.0.0"`,
      /buildpack "x": .*buildpack\.toml: api is required/,
    ],
    [
      "unsupported api",
      `api = "0.3"\n[buildpack]\nid = "x"\nversion = "1.0.0"`,
      /buildpack "x": .*api 0\.3 is not a supported Buildpack API/,
    ],
    [
      "an id that cannot name a folder",
      `api = "0.10"\n[buildpack]\nid = ".."\nversion = "1.0.0"`,
      /buildpack\.id "\.\." cannot name a folder/,
    ],
    [
      "a version that would leave /cnb/buildpacks/<id>",
      `api = "0.10"\n[buildpack]\nid = "x"\nversion = "../../etc"`,
      /buildpack "x": .*buildpack\.version "\.\.\/\.\.\/etc" cannot name a folder/,
    ],
    [
      "wrong type",
      `api = "0.10"\n[buildpack]\nid = "x"\nversion = "1.0.0"\nclear-env = "yes"`,
      /buildpack\.clear-env must be true or false/,
    ],
    [
      "order without versions",
      `api = "0.10"\n[buildpack]\nid = "x"\nversion = "1.0.0"\n[[order]]\n[[order.group]]\nid = "a"`,
      /order\[0\]\.group\[0\]\.version is required/,
    ],
    [
      "targets on a composite",
      `api = "0.10"\n[buildpack]\nid = "x"\nversion = "1.0.0"\n[[order]]\n[[order.group]]\nid = "a"\nversion = "1.0.0"\n[[targets]]\nos = "linux"`,
      /targets may not be declared by a composite/,
    ],
  ];
  for (const [name, text, re] of bad) {
    it(`rejects ${name}, naming the buildpack and file`, () => {
      expect(() => parseBuildpackToml(text, "/cnb/buildpacks/x/1.0.0/buildpack.toml")).toThrow(re);
    });
  }

  it("accepts what the lifecycle and pack accept, warning where the spec is stricter (issue 13, 5)", () => {
    const loose: [string, string, RegExp][] = [
      ["a b", "1.0.0", /buildpack\.id "a b" has characters the Buildpack API does not allow/],
      ["my_bp", "1.0.0", /buildpack\.id "my_bp" has characters/],
      ["app", "1.0.0", /buildpack\.id "app" is reserved/],
      ["x", "1.0", /buildpack\.version "1\.0" is not <X>\.<Y>\.<Z>/],
      ["x", "0.0.1-alpha", /buildpack\.version "0\.0\.1-alpha" is not/],
      ["x", "latest", /buildpack\.version "latest" is not/],
    ];
    for (const [id, version, re] of loose) {
      const d = parseBuildpackToml(
        `api = "0.10"\n[buildpack]\nid = "${id}"\nversion = "${version}"`,
        "/b/buildpack.toml",
      );
      expect(d.buildpack.id).toBe(id);
      expect(d.buildpack.version).toBe(version);
      expect(d.warnings?.join("\n")).toMatch(re);
      expect(d.warnings?.[0]).toMatch(/^\/b\/buildpack\.toml: /);
    }
    expect(
      parseBuildpackToml(`api = "0.10"\n[buildpack]\nid = "a/b.c-d"\nversion = "1.2.3"`, "b").warnings,
    ).toBeUndefined();
    const extra = parseBuildpackToml(
      `api = "0.11"\n[buildpack]\nid = "x"\nversion = "1.0.0"\nsbom-formats = ["text/plain"]\n[[buildpack.licenses]]\n[[buildpack.exec-env]]\nname = "test"`,
      "b",
    );
    expect(extra.warnings?.join("\n")).toMatch(/sbom-formats\[0\] "text\/plain" is not an SBOM media type/);
    expect(extra.warnings?.join("\n")).toMatch(/licenses\[0\] has neither type nor uri/);
    expect(extra.warnings?.join("\n")).toMatch(
      /exec-env needs Buildpack API 0\.12 or later \(this buildpack declares 0\.11\); it is ignored/,
    );
    expect(extra.buildpack.execEnv).toBeUndefined();
  });

  it("infers targets: declared, else from stacks, else linux when bin/build exists", async () => {
    const bpDir = join(dir, "bp");
    await mkdir(join(bpDir, "bin"), { recursive: true });
    await writeFile(join(bpDir, "bin", "build"), "#!/bin/sh\n", { mode: 0o755 });
    const base = `api = "0.10"\n[buildpack]\nid = "x"\nversion = "1.0.0"\n`;
    expect(await effectiveTargets(parseBuildpackToml(base, "b"), bpDir)).toEqual([{ os: "linux" }]);
    expect(await effectiveTargets(parseBuildpackToml(`${base}[[stacks]]\nid = "*"\n`, "b"), bpDir)).toEqual([
      {},
    ]);
    expect(
      await effectiveTargets(
        parseBuildpackToml(`${base}[[stacks]]\nid = "io.buildpacks.stacks.bionic"\n`, "b"),
        bpDir,
      ),
    ).toEqual([{ os: "linux", arch: "amd64", distros: [{ name: "ubuntu", version: "18.04" }] }]);
  });

  it("loads a buildpack from a directory and from a .tgz", async () => {
    const bpDir = join(dir, "src", "my-bp");
    await mkdir(join(bpDir, "bin"), { recursive: true });
    await writeFile(
      join(bpDir, "buildpack.toml"),
      `api = "0.10"\n[buildpack]\nid = "my/bp"\nversion = "0.1.0"\n`,
    );
    await writeFile(join(bpDir, "bin", "detect"), "#!/bin/sh\n", { mode: 0o755 });
    await writeFile(join(bpDir, "bin", "build"), "#!/bin/sh\n", { mode: 0o755 });
    expect((await readBuildpackDir(bpDir)).descriptor.buildpack.id).toBe("my/bp");
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    await promisify(execFile)("tar", ["-czf", join(dir, "bp.tgz"), "-C", bpDir, "."]);
    const fromTgz = await readBuildpackArchive(join(dir, "bp.tgz"), join(dir, "tmp"));
    expect(fromTgz.descriptor.buildpack.version).toBe("0.1.0");
  });
});

describe("builder.toml", () => {
  it("reads pack's keys and merges the legacy [stack]", () => {
    const c = parseBuilderConfig(
      `description = "d"
[[buildpacks]]
id = "a"
uri = "a-bp"
[[buildpacks]]
image = "registry.example/bp:1"
[[order]]
[[order.group]]
id = "a"
[stack]
id = "io.example.stack"
build-image = "build:1"
run-image = "run:1"
run-image-mirrors = ["mirror/run:1"]
[[build.env]]
name = "X"
value = "1"
suffix = "prepend"
delim = ":"
[[targets]]
os = "linux"
arch = "amd64"
`,
      "/cfg/builder.toml",
    );
    expect(c.buildImage).toBe("build:1");
    expect(c.runImages).toEqual([{ image: "run:1", mirrors: ["mirror/run:1"] }]);
    expect(c.buildpacks).toEqual([{ id: "a", uri: "a-bp" }, { image: "registry.example/bp:1" }]);
    expect(c.targets).toEqual([{ os: "linux", arch: "amd64" }]);
    expect([...buildConfigEnvFiles(c.buildEnv)]).toEqual([
      ["X.prepend", "1"],
      ["X.delim", ":"],
    ]);
  });

  it("rejects unknown keys, a missing build image and append without delim", () => {
    expect(() => parseBuilderConfig(`colour = "red"`, "/cfg/builder.toml")).toThrow(
      /builder config: \/cfg\/builder\.toml: colour is not a known key/,
    );
    expect(() => parseBuilderConfig(`[[run.images]]\nimage = "r"`, "/cfg/builder.toml")).toThrow(
      /build\.image is required/,
    );
    expect(() =>
      parseBuilderConfig(
        `[build]\nimage = "b"\n[[build.env]]\nname = "X"\nvalue = "1"\nsuffix = "append"\n[[run.images]]\nimage = "r"`,
        "/cfg/builder.toml",
      ),
    ).toThrow(/must have a delim/);
  });
});

describe("project.toml", () => {
  it("reads schema 0.2", () => {
    const p = parseProjectToml(
      `[_]
schema-version = "0.2"
id = "my-app"
name = "My App"
[io.buildpacks]
builder = "my-builder"
exclude = ["*.log"]
[[io.buildpacks.group]]
uri = "./local-bp"
[[io.buildpacks.group]]
id = "inline/bp"
[io.buildpacks.group.script]
api = "0.10"
inline = "echo hi"
[[io.buildpacks.build.env]]
name = "BP_X"
value = "1"
`,
      "/app/project.toml",
    );
    expect(p.schemaVersion).toBe("0.2");
    expect(p.builder).toBe("my-builder");
    expect(p.exclude).toEqual(["*.log"]);
    expect(p.group).toEqual([
      { uri: "./local-bp" },
      { id: "inline/bp", script: { api: "0.10", inline: "echo hi", shell: "/bin/sh" } },
    ]);
    expect(p.buildEnv).toEqual([{ name: "BP_X", value: "1" }]);
    expect(p.warnings).toEqual([]);
  });

  it("reads schema 0.1 with a warning", () => {
    const p = parseProjectToml(
      `[project]\nid = "old"\n[build]\nbuilder = "b"\ninclude = ["src"]\n[[build.buildpacks]]\nuri = "bp"\n[[build.env]]\nname = "A"\nvalue = "1"\n`,
      "/app/project.toml",
    );
    expect(p.schemaVersion).toBe("0.1");
    expect(p.builder).toBe("b");
    expect(p.include).toEqual(["src"]);
    expect(p.group).toEqual([{ uri: "bp" }]);
    expect(p.warnings[0]).toBe(
      "No schema version declared in project.toml, defaulting to schema version 0.1",
    );
  });

  it("warns, as pack does, about keys the schema does not read", () => {
    const p = parseProjectToml(
      `[_]\nschema-version = "0.2"\nfoo = "x"\n[_.metadata]\nfree = 1\n[io.buildpacks]\ngrup = 1\n[[io.buildpacks.group]]\nid = "a"\nexec-env = ["test"]\n[io.berth]\nbuild = "buildpacks"\n`,
      "/app/project.toml",
    );
    expect(p.warnings).toEqual([
      "The following keys declared in project.toml are not supported in schema version 0.2:",
      "- _.foo",
      "- io.buildpacks.grup",
      "- io.buildpacks.group.exec-env",
      "The above keys will be ignored. If this is not intentional, try updating your schema version.",
    ]);
    const old = parseProjectToml(`[io.buildpacks]\nbuilder = "b"\n`, "/app/project.toml");
    expect(old.builder).toBeUndefined();
    expect(old.warnings.slice(1)).toEqual([
      "The following keys declared in project.toml are not supported in schema version 0.1:",
      "- io.buildpacks",
      "- io.buildpacks.builder",
      "The above keys will be ignored. If this is not intentional, try updating your schema version.",
    ]);
  });

  it("refuses what pack refuses: uri with version, include with exclude, an inline script without api", () => {
    const t = (body: string) => () =>
      parseProjectToml(`[_]\nschema-version = "0.2"\n${body}`, "/app/project.toml");
    expect(t(`[[io.buildpacks.group]]\nuri = "x"\nversion = "1"\n`)).toThrow(/cannot be set with uri/);
    expect(t(`[io.buildpacks]\ninclude = []\nexclude = ["a"]\n`)).toThrow(/cannot both be defined/);
    expect(t(`[[io.buildpacks.group]]\nid = "x"\n[io.buildpacks.group.script]\ninline = "true"\n`)).toThrow(
      /missing API version/,
    );
    expect(() => parseProjectToml(`[_]\nschema-version = "9.9"\n`, "/app/project.toml")).toThrow(
      /unknown project descriptor schema version 9.9/,
    );
  });
});
