/**
 * project.toml as pack uses it, through the real CLI (issue 13, §2.1): the project's group replaces the
 * builder's order (ids, uris against the descriptor's folder, inline scripts written as pack writes them),
 * pre/post groups wrap each of the builder's groups, build env, include/exclude by gitignore rules (never
 * both), schema 0.1, and the io.buildpacks.project.metadata label.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

let dir: string;
let home: string;
let builder: string;
let n = 0;

const say = (id: string) =>
  `echo "RUN ${id} X=\${X:-unset}"\nprintf '[[processes]]\\ntype = "web"\\ncommand = ["true"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"`;

// The builder's buildpack lists the app as it sees it (every path under /workspace, sorted by the shell).
const LIST = `walk() { for f in "$1"/*; do [ -e "$f" ] || continue; echo "\${f#/workspace/}"; if [ -d "$f" ]; then walk "$f"; fi; done; }
echo "FILES-BEGIN"; walk /workspace; echo "FILES-END"`;

beforeAll(async () => {
  dir = await tempDir("berth-cnb-project-");
  home = join(dir, "home");
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bps = join(dir, "bps");
  const a = await writeBuildpack(bps, { id: "test/builder-a", build: `${say("test/builder-a")}\n${LIST}` });
  const b = await writeBuildpack(bps, { id: "test/builder-b", build: say("test/builder-b") });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${a}"\n[[buildpacks]]\nuri = "${b}"\n\n[[order]]\n[[order.group]]\nid = "test/builder-a"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
  );
  builder = `oci:${layout}:builder`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
});

/** A fresh app folder with these files and this project.toml. */
async function app(
  projectToml: string,
  files: Record<string, string> = { "main.txt": "m" },
): Promise<string> {
  const d = join(dir, `app${++n}`);
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(d, p, ".."), { recursive: true });
    await writeFile(join(d, p), text);
  }
  await writeFile(join(d, "project.toml"), projectToml);
  // A buildpack the project names by a uri relative to the descriptor's folder.
  await writeBuildpack(join(d, "bps"), { id: "test/local", build: say("test/local") });
  return d;
}

const build = (appDir: string, image: string, ...extra: string[]) =>
  berth(["build", appDir, "-t", image, "--builder", builder, ...extra], { home });

const runs = (stderr: string) => [...stderr.matchAll(/^RUN (\S+) X=(\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);

function files(stderr: string): string[] {
  const m = /FILES-BEGIN\n([\s\S]*?)FILES-END/.exec(stderr);
  if (!m) throw new Error(`no FILES block in:\n${stderr}`);
  return m[1]!.split("\n").filter((l) => l !== "" && !l.startsWith("bps"));
}

describe("project.toml", () => {
  it("schema 0.2: the group replaces the builder's order: inline script, uri against the descriptor's folder, builder id; build env", async () => {
    const d = await app(`[_]
schema-version = "0.2"
[[io.buildpacks.group]]
id = "me/inline"
[io.buildpacks.group.script]
api = "0.10"
inline = """
echo "RUN me/inline X=$X"
echo "INLINE-BUILD-BEGIN"; cat "$CNB_BUILDPACK_DIR/bin/build"; echo "INLINE-BUILD-END"
echo "INLINE-DETECT-BEGIN"; cat "$CNB_BUILDPACK_DIR/bin/detect"; echo "INLINE-DETECT-END"
echo "INLINE-TOML-BEGIN"; cat "$CNB_BUILDPACK_DIR/buildpack.toml"; echo "INLINE-TOML-END"
"""
[[io.buildpacks.group]]
uri = "bps/test_local-0.0.1"
[[io.buildpacks.group]]
id = "test/builder-a"
[[io.buildpacks.build.env]]
name = "X"
value = "from-project"
`);
    const r = await build(d, "proj:1");
    expect(r.code, r.stderr).toBe(0);
    expect(runs(r.stderr)).toEqual([
      "me/inline from-project",
      "test/local from-project",
      "test/builder-a from-project",
    ]);
    const between = (a: string, b: string) => {
      const start = r.stderr.indexOf(`${a}\n`) + a.length + 1;
      return r.stderr.slice(start, r.stderr.indexOf(`\n${b}\n`, start) + 1);
    };
    expect(between("INLINE-BUILD-BEGIN", "INLINE-BUILD-END")).toBe(
      '#!/bin/sh\n\necho "RUN me/inline X=$X"\necho "INLINE-BUILD-BEGIN"; cat "$CNB_BUILDPACK_DIR/bin/build"; echo "INLINE-BUILD-END"\necho "INLINE-DETECT-BEGIN"; cat "$CNB_BUILDPACK_DIR/bin/detect"; echo "INLINE-DETECT-END"\necho "INLINE-TOML-BEGIN"; cat "$CNB_BUILDPACK_DIR/buildpack.toml"; echo "INLINE-TOML-END"\n\n',
    );
    expect(between("INLINE-DETECT-BEGIN", "INLINE-DETECT-END")).toBe("#!/bin/sh\n\nexit 0\n");
    expect(between("INLINE-TOML-BEGIN", "INLINE-TOML-END")).toBe(
      'api = "0.10"\nWithWindowsBuild = false\nWithLinuxBuild = false\n\n[buildpack]\n  id = "me/inline"\n  version = "0.0.0"\n\n[[stacks]]\n  id = "io.berth.test"\n',
    );
    // No version or source-url declared: the label is empty, as the lifecycle writes it then.
    const labels = JSON.parse((await berth(["inspect", "--json", "proj:1"], { home })).stdout).labels;
    expect(labels["io.buildpacks.project.metadata"]).toBe("{}");
  });

  it("--buildpack wins over the project's group", async () => {
    const d = await app(
      `[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nuri = "bps/test_local-0.0.1"\n`,
    );
    const r = await build(d, "proj:2", "--buildpack", "test/builder-b");
    expect(r.code, r.stderr).toBe(0);
    expect(runs(r.stderr)).toEqual(["test/builder-b unset"]);
  });

  it("pre and post groups wrap each group of the builder's order", async () => {
    const d = await app(`[_]
schema-version = "0.2"
[[io.buildpacks.pre.group]]
uri = "bps/test_local-0.0.1"
[[io.buildpacks.post.group]]
id = "test/builder-b"
`);
    const r = await build(d, "proj:3");
    expect(r.code, r.stderr).toBe(0);
    expect(runs(r.stderr)).toEqual(["test/local unset", "test/builder-a unset", "test/builder-b unset"]);
  });

  it("exclude follows gitignore rules: *.log matches at any depth, a directory pattern takes all below it", async () => {
    const d = await app(
      `[_]\nschema-version = "0.2"\n[io.buildpacks]\nexclude = ["*.log", "tmp/", "/only-top.txt"]\n`,
      {
        "main.txt": "m",
        "top.log": "x",
        "logs/debug.log": "x",
        "logs/keep.txt": "k",
        "tmp/a/b.txt": "x",
        "only-top.txt": "x",
        "sub/only-top.txt": "k",
      },
    );
    const r = await build(d, "proj:4");
    expect(r.code, r.stderr).toBe(0);
    expect(files(r.stderr)).toEqual([
      "logs",
      "logs/keep.txt",
      "main.txt",
      "project.toml",
      "sub",
      "sub/only-top.txt",
    ]);
  });

  it("include keeps only what its patterns match (gitignore rules), with the directories above it", async () => {
    const d = await app(`[_]\nschema-version = "0.2"\n[io.buildpacks]\ninclude = ["src/", "*.md"]\n`, {
      "main.txt": "m",
      "README.md": "r",
      "docs/guide.md": "g",
      "docs/img.png": "x",
      "src/a/b.go": "b",
      "empty/x.txt": "x",
    });
    const r = await build(d, "proj:5");
    expect(r.code, r.stderr).toBe(0);
    expect(files(r.stderr)).toEqual(["README.md", "docs", "docs/guide.md", "src", "src/a", "src/a/b.go"]);
  });

  it("include and exclude together are refused, naming the file", async () => {
    const d = await app(`[_]\nschema-version = "0.2"\n[io.buildpacks]\ninclude = ["a"]\nexclude = ["b"]\n`);
    const r = await build(d, "proj:6");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(join(d, "project.toml"));
    expect(r.stderr).toContain("io.buildpacks.include and io.buildpacks.exclude cannot both be defined");
  });

  it("schema 0.1: [[build.buildpacks]] and [[build.env]] with pack's warning; the project metadata label", async () => {
    const d = await app(`[project]
version = "1.2.3"
source-url = "https://example.com/repo"
[[build.buildpacks]]
uri = "bps/test_local-0.0.1"
[[build.env]]
name = "X"
value = "old-schema"
`);
    const r = await build(d, "proj:7");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "No schema version declared in project.toml, defaulting to schema version 0.1",
    );
    expect(runs(r.stderr)).toEqual(["test/local old-schema"]);
    const labels = JSON.parse((await berth(["inspect", "--json", "proj:7"], { home })).stdout).labels;
    expect(JSON.parse(labels["io.buildpacks.project.metadata"])).toEqual({
      source: {
        type: "project",
        version: { declared: "1.2.3" },
        metadata: { url: "https://example.com/repo" },
      },
    });
  });
});
