/**
 * berth's launcher reading `<layers>/config/metadata.toml` as written by the lifecycle (BurntSushi/toml: indented,
 * JSON-style escapes) and by berth (smol-toml), and TOML it may meet besides: literal and multi-line strings,
 * \u escapes, arrays over lines with comments, tables it does not use. Run on this machine (the launcher is a
 * static binary): the process prints its argv, so every value must arrive exactly. Malformed input stops it with
 * the lifecycle's message and exit code 1; nothing runs.
 */
import { execFile } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { berthLauncher } from "../../src/cnb/launch/index.ts";
import { tempDir } from "../helpers/temp.ts";

const pexec = promisify(execFile);

let dir: string;
let launcher: string;
let seq = 0;

beforeAll(async () => {
  dir = await tempDir("berth-launch-toml-");
  launcher = (await berthLauncher({ home: join(dir, "home"), env: { PATH: process.env.PATH } })).path;
});

/** Write metadata.toml, run process `type` through a symlink named after it; stdout, stdout of errors, code. */
async function launch(toml: string, type: string, args: string[] = []) {
  const root = join(dir, `case${++seq}`);
  await mkdir(join(root, "layers", "config"), { recursive: true });
  await mkdir(join(root, "app"), { recursive: true });
  await writeFile(join(root, "layers", "config", "metadata.toml"), toml);
  await symlink(launcher, join(root, type));
  try {
    const r = await pexec(join(root, type), args, {
      env: {
        PATH: "/usr/bin:/bin",
        CNB_LAYERS_DIR: join(root, "layers"),
        CNB_APP_DIR: join(root, "app"),
        CNB_PLATFORM_API: "0.13",
      },
    });
    return { code: 0, stdout: r.stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe("berth's launcher reads metadata.toml", () => {
  it("as the lifecycle writes it (indented, JSON escapes, \\u escapes, other tables)", async () => {
    const toml = `buildpack-default-process-type = "web"

[[buildpacks]]
  id = "a/b"
  version = "1.0"
  api = "0.10"
  homepage = "https://example.com"

[[labels]]
  key = "k"
  value = "v = [1]"

[[processes]]
  type = "web"
  command = ["printf", "[%s]\\n"]
  args = ["quote \\" backslash \\\\ tab \\t", "caf\\u00e9", "# not a comment", "a = b"]
  direct = true
  buildpack-id = "a/b"

[[slices]]
  paths = ["x/*"]
`;
    const r = await launch(toml, "web");
    expect(r).toEqual({
      code: 0,
      stdout: '[quote " backslash \\ tab \t]\n[café]\n[# not a comment]\n[a = b]\n',
    });
  });

  it("literal and multi-line strings, arrays over lines with comments, inline tables", async () => {
    const toml = `# berth or a person may write it so
[[buildpacks]]
id = 'a'
api = "0.10"
extra = { x = [1, 2], y = { z = "}" } }

[[processes]]
type = "w"
command = [
  'printf', # the program
  '[%s]\\n',
]
args = ['C:\\path', """two
lines""", '''raw \\n''']
direct = true
buildpack-id = "a"
working-dir = ""
[processes.sub]
n = 1979-05-27T07:32:00Z
`;
    const r = await launch(toml, "w");
    expect(r).toEqual({ code: 0, stdout: "[C:\\path]\n[two\nlines]\n[raw \\n]\n" });
  });

  it("user args replace a Buildpack API 0.9+ process's args, are appended below 0.9", async () => {
    const toml = (api: string, command: string, args: string) =>
      `[[buildpacks]]\nid = "a"\napi = "${api}"\n[[processes]]\ntype = "p"\ncommand = ${command}\nargs = ${args}\ndirect = true\nbuildpack-id = "a"\n`;
    // A command array's own args always stay; the process's args give way to the user's.
    expect((await launch(toml("0.10", '["printf", "[%s]"]', '["d"]'), "p", ["u"])).stdout).toBe("[u]");
    expect((await launch(toml("0.10", '["printf", "[%s]"]', '["d"]'), "p")).stdout).toBe("[d]");
    expect((await launch(toml("0.8", '"printf"', '["[%s]", "d"]'), "p", ["u"])).stdout).toBe("[d][u]");
  });

  for (const [name, toml] of [
    ["an unterminated string", '[[processes]]\ntype = "web\ncommand = ["true"]\n'],
    ["a missing =", '[[processes]]\ntype "web"\n'],
    ["two values on a line", '[[processes]]\ntype = "web" "x"\n'],
    ["a bad escape", '[[processes]]\ntype = "w\\qeb"\n'],
    ["a process without a type", '[[processes]]\ncommand = ["true"]\n'],
  ] as const) {
    it(`refuses ${name}: exit 1, nothing run`, async () => {
      const r = await launch(toml, "web");
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^ERROR: failed to read metadata: .*metadata\.toml: line \d+: /);
    });
  }

  it("a missing metadata.toml: the lifecycle's message, exit 1", async () => {
    const root = join(dir, "missing");
    await mkdir(root, { recursive: true });
    await symlink(launcher, join(root, "web"));
    const r = await pexec(join(root, "web"), [], { env: { CNB_LAYERS_DIR: join(root, "nowhere") } }).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect((r as { code: number }).code).toBe(1);
    expect(r.stdout).toContain("ERROR: failed to read metadata: open ");
  });
});
