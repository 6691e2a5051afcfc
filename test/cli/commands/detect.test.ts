/**
 * src/cli/commands/detect.ts, in process: `berth detect --isolation host` with a builder made here (real sh
 * buildpacks run on this machine) prints group.toml and plan.toml, or exits with the platform's codes (20 no
 * group passed, 21 a detect errored); and the flag values it refuses.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { makeBuildImage, writeBuildpack } from "../../cnb/helpers.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let home: string;
let builder: string;

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  // passes when the app has go.mod, errors (exit 1) when it has BOOM, else does not apply (100)
  await writeBuildpack(join(dir, "bps"), {
    id: "test/go",
    detect: 'if [ -f BOOM ]; then echo "cannot read the app" >&2; exit 1; fi\n[ -f go.mod ] || exit 100',
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "bps/test_go-0.0.1"\n\n[[order]]\n[[order.group]]\nid = "test/go"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "run:1"\n`,
  );
  builder = `oci:${layout}:builder`;
  const made = await runCommand(
    ["builder", "create", "--no-lifecycle", builder, "--config", "builder.toml", "-q"],
    {
      home,
      cwd: dir,
    },
  );
  if (made.error) throw made.error;
});

async function app(files: string[]): Promise<string> {
  const path = await tempDir();
  await mkdir(path, { recursive: true });
  for (const f of files) await writeFile(join(path, f), "x\n");
  return path;
}

const detect = (path: string, ...flags: string[]) =>
  runCommand(["detect", path, "-B", builder, "--isolation", "host", ...flags], { home });

describe("berth detect --isolation host", () => {
  it("prints the group and plan of the group that passed", async () => {
    const r = await detect(await app(["go.mod"]));
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBeUndefined();
    expect(r.stdout).toMatch(/^# group\.toml\n\[\[group\]\]\nid = "test\/go"\nversion = "0\.0\.1"\n/);
    expect(r.stdout).toContain("# plan.toml\n");
    const json = await detect(await app(["go.mod"]), "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      group: { group: [{ id: "test/go", version: "0.0.1" }] },
    });
  });

  it("exits 20 when no group passed, saying so", async () => {
    const r = await detect(await app([]));
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(20);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^berth: .*/m);
  });

  it("exits 21 when a buildpack's detect errored, with its output", async () => {
    const r = await detect(await app(["BOOM", "go.mod"]));
    expect(r.exitCode).toBe(21);
    expect(r.stderr).toContain("cannot read the app");
  });
});

describe("berth detect's refusals", () => {
  it.each([
    [["--isolation", "vm"], "--isolation vm must be sandbox or host"],
    [["--lifecycle", "pack"], '--lifecycle "pack" must be berth or builder'],
    [
      ["--lifecycle", "builder", "--isolation", "host"],
      "--isolation host cannot be used with --lifecycle builder",
    ],
  ])("%j", async (flags, message) => {
    const r = await runCommand(["detect", ".", "-B", "b:1", ...flags], { home: await tempDir() });
    expect(r.error).toBeInstanceOf(BerthError);
    expect(r.error).toMatchObject({ code: "USAGE", message });
  });
});
