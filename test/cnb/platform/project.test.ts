/**
 * project.toml as pack reads it (src/cnb/platform/project.ts): the three schemas, the error sentences, pack's
 * warnings for keys a schema ignores, include/exclude filters, the metadata label, the confined read, and
 * inline buildpacks.
 */
import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  parseProjectToml,
  projectAndBuilder,
  projectMetadata,
  projectSourceFilter,
  readProjectToml,
  writeInlineBuildpack,
} from "../../../src/cnb/platform/project.ts";
import { tempDir } from "../../helpers/temp.ts";
import { thrown } from "./helpers.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-project-");
});

const failure = (text: string) => thrown(() => parseProjectToml(text, "/app/project.toml"));

describe("parseProjectToml", () => {
  it("schema 0.2: [_] and [io.buildpacks], builder, group, pre/post, build env (the older env.build key too)", () => {
    const p = parseProjectToml(
      `[_]
schema-version = "0.2"
id = "my-app"
version = "1.2.3"
source-url = "https://example.invalid/app"
[_.metadata]
team = "x"

[io.buildpacks]
builder = "my/builder"
exclude = ["*.log"]
[[io.buildpacks.group]]
id = "a/b"
version = "1.0.0"
[[io.buildpacks.group]]
uri = "./local"
[[io.buildpacks.pre.group]]
id = "pre/one"
[[io.buildpacks.env.build]]
name = "BP_X"
value = "1"
[[io.buildpacks.env.build]]
name = "EMPTY"
`,
      "/app/project.toml",
    );
    expect(p).toEqual({
      file: "/app/project.toml",
      schemaVersion: "0.2",
      project: {
        id: "my-app",
        version: "1.2.3",
        sourceUrl: "https://example.invalid/app",
        metadata: { team: "x" },
      },
      builder: "my/builder",
      include: [],
      exclude: ["*.log"],
      group: [{ id: "a/b", version: "1.0.0" }, { uri: "./local" }],
      pre: [{ id: "pre/one" }],
      post: [],
      buildEnv: [
        { name: "BP_X", value: "1" },
        { name: "EMPTY", value: "" },
      ],
      warnings: [],
    });
  });

  it("no schema is 0.1, with pack's warning; [project] and [build]", () => {
    const p = parseProjectToml(
      `[project]\nname = "old"\n[build]\nbuilder = "b"\ninclude = ["src"]\n[[build.buildpacks]]\nid = "x"\n[[build.env]]\nname = "A"\nvalue = "v"\n`,
      "p.toml",
    );
    expect(p).toMatchObject({
      schemaVersion: "0.1",
      project: { name: "old" },
      builder: "b",
      include: ["src"],
      group: [{ id: "x" }],
      buildEnv: [{ name: "A", value: "v" }],
      warnings: ["No schema version declared in project.toml, defaulting to schema version 0.1"],
    });
  });

  it("keys a schema does not read are listed in pack's warning, in document order", () => {
    const p = parseProjectToml(
      `[_]\nschema-version = "0.2"\nfoo = 1\n[io.buildpacks]\nbuilder = "b"\nbogus = true\n[[io.buildpacks.group]]\nid = "x"\nexec-env = ["a"]\n`,
      "p.toml",
    );
    expect(p.warnings).toEqual([
      "The following keys declared in project.toml are not supported in schema version 0.2:",
      "- _.foo",
      "- io.buildpacks.bogus",
      "- io.buildpacks.group.exec-env",
      "The above keys will be ignored. If this is not intentional, try updating your schema version.",
    ]);
    // 0.3 reads exec-env.
    expect(
      parseProjectToml(
        `[_]\nschema-version = "0.3"\n[[io.buildpacks.group]]\nid = "x"\nexec-env = ["a"]\n`,
        "p.toml",
      ).warnings,
    ).toEqual([]);
  });

  it("inline buildpacks: an id with a script; the shell defaults to /bin/sh; a uri wins over a script", () => {
    const p = parseProjectToml(
      `[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nid = "inline/one"\n[io.buildpacks.group.script]\napi = "0.10"\ninline = "echo hi"\n[[io.buildpacks.group]]\nid = "u"\nuri = "./u"\n[io.buildpacks.group.script]\napi = "0.10"\ninline = "echo no"\n`,
      "p.toml",
    );
    expect(p.group).toEqual([
      { id: "inline/one", script: { api: "0.10", inline: "echo hi", shell: "/bin/sh" } },
      { id: "u", uri: "./u" },
    ]);
  });

  it("bad input: one sentence naming the file and the field", () => {
    const msg = (m: string) => ({ code: "CNB_CONFIG_INVALID", message: expect.stringMatching(m) });
    expect(failure(`[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nversion = "1"\n`)).toEqual(
      msg("^project descriptor: /app/project.toml: io\\.buildpacks\\.group\\[0\\]\\.id or uri is required"),
    );
    expect(
      failure(`[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nuri = "x"\nversion = "1"\n`),
    ).toEqual(msg("io\\.buildpacks\\.group\\[0\\]\\.version cannot be set with uri"));
    expect(
      failure(`[_]\nschema-version = "0.3"\n[io.buildpacks]\ninclude = ["a"]\nexclude = ["b"]\n`),
    ).toEqual(msg("io\\.buildpacks\\.include and io\\.buildpacks\\.exclude cannot both be defined"));
    expect(failure(`[build]\ninclude = ["a"]\nexclude = ["b"]\n`)).toEqual(
      msg("build\\.include and build\\.exclude cannot both be defined"),
    );
    expect(failure(`[_]\nschema-version = "0.9"\n`)).toEqual(
      msg("unknown project descriptor schema version 0\\.9 \\(berth reads 0\\.1, 0\\.2 and 0\\.3\\)"),
    );
    expect(failure(`[_]\nschema-version = "0.2"\n[[_.licenses]]\n`)).toEqual(
      msg("_\\.licenses\\[0\\]\\.type or uri must be set"),
    );
    expect(
      failure(
        `[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nid = "i"\n[io.buildpacks.group.script]\ninline = "x"\n`,
      ),
    ).toEqual(msg("script\\.api is required: missing API version for inline buildpack"));
    expect(failure(`[[build.env]]\nvalue = "v"\n`)).toEqual(msg("build\\.env\\[0\\]\\.name is required"));
  });
});

describe("projectSourceFilter", () => {
  const project = (o: { include?: string[]; exclude?: string[] }) =>
    parseProjectToml(
      `[_]\nschema-version = "0.2"\n[io.buildpacks]\n${o.include ? `include = ${JSON.stringify(o.include)}\n` : ""}${o.exclude ? `exclude = ${JSON.stringify(o.exclude)}\n` : ""}`,
      "p.toml",
    );

  it("exclude skips what its gitignore patterns match, at any depth, directories whole", () => {
    const f = projectSourceFilter(project({ exclude: ["*.log", "build/"] }))!;
    expect(f.decide("a/b/x.log", false)).toBe("skip");
    expect(f.decide("x.txt", false)).toBe("keep");
    expect(f.decide("build", true)).toBe("skip");
    // `build/` matches directories only.
    expect(f.decide("build", false)).toBe("keep");
  });

  it("include keeps what matches; a directory that matches nothing is descended into, a file skipped", () => {
    const f = projectSourceFilter(project({ include: ["src/", "*.json"] }))!;
    expect(f.decide("src", true)).toBe("keep");
    expect(f.decide("lib", true)).toBe("descend");
    expect(f.decide("lib/package.json", false)).toBe("keep");
    expect(f.decide("README.md", false)).toBe("skip");
  });

  it("neither, or no project: no filter", () => {
    expect(projectSourceFilter(project({}))).toBeUndefined();
    expect(projectSourceFilter(undefined)).toBeUndefined();
  });
});

describe("projectMetadata", () => {
  it("version and source-url in pack's shape; {} when neither is declared", () => {
    const p = parseProjectToml(`[project]\nversion = "2"\n`, "p.toml");
    expect(projectMetadata(p)).toEqual({
      source: { type: "project", version: { declared: "2" }, metadata: { url: "" } },
    });
    expect(projectMetadata(parseProjectToml(`[project]\nname = "n"\n`, "p.toml"))).toEqual({});
    expect(projectMetadata(undefined)).toEqual({});
  });
});

describe("reading project.toml", () => {
  it("optional and absent gives undefined; required and absent names the file", async () => {
    expect(await readProjectToml(join(dir, "project.toml"), true)).toBeUndefined();
    await expect(readProjectToml(join(dir, "project.toml"))).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: expect.stringMatching(`^project descriptor ${join(dir, "project.toml")} cannot be read: `),
    });
  });

  it("the app's project.toml may not be a link out of the app directory", async () => {
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(dir, "outside.toml"), `[build]\nbuilder = "stolen"\n`);
    await symlink(join(dir, "outside.toml"), join(app, "project.toml"));
    await expect(readProjectToml(join(app, "project.toml"), true, app)).rejects.toMatchObject({
      code: "UNSAFE_PATH",
    });
  });

  it("projectAndBuilder: --builder wins over project.toml's; warnings are logged; no builder at all is a usage error", async () => {
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(app, "project.toml"), `[build]\nbuilder = "from/project"\n`);
    const warnings: string[] = [];
    const logger = { warn: (l: string) => warnings.push(l) };
    expect((await projectAndBuilder({ appDir: app, logger })).builderName).toBe("from/project");
    expect(warnings).toEqual([
      "No schema version declared in project.toml, defaulting to schema version 0.1",
    ]);
    expect((await projectAndBuilder({ appDir: app, builder: "from/flag", logger })).builderName).toBe(
      "from/flag",
    );
    await expect(projectAndBuilder({ appDir: join(dir, "empty-app"), logger })).rejects.toMatchObject({
      code: "USAGE",
      message: "no builder: give one with --builder (or [io.buildpacks] builder in project.toml)",
    });
  });
});

describe("writeInlineBuildpack", () => {
  it("buildpack.toml as pack encodes it, bin/build with the shell and script, a passing bin/detect", async () => {
    const root = await writeInlineBuildpack(
      { id: "me/inline", script: { api: "0.10", inline: "echo built", shell: "/bin/bash" } },
      dir,
      "io.stack",
    );
    expect(root).toBe(join(dir, "me_inline", "0.0.0"));
    expect(await readFile(join(root, "buildpack.toml"), "utf8")).toBe(
      'api = "0.10"\nWithWindowsBuild = false\nWithLinuxBuild = false\n\n[buildpack]\n  id = "me/inline"\n  version = "0.0.0"\n\n[[stacks]]\n  id = "io.stack"\n',
    );
    expect(await readFile(join(root, "bin", "build"), "utf8")).toBe("#!/bin/bash\n\necho built\n");
    expect(await readFile(join(root, "bin", "detect"), "utf8")).toBe("#!/bin/bash\n\nexit 0\n");
    expect((await stat(join(root, "bin", "build"))).mode & 0o777).toBe(0o755);
  });
});
