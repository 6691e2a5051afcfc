/**
 * src/cli/commands/rebase.ts, in process: the --from-file list (comments, blank lines, one image a line),
 * many images failing (the summary sentence, the shared exit code), and the flag combinations refused before
 * anything is read, and what --lifecycle builder prints (a fake lifecycle's rebaser). Rebasing real apps:
 * test/cnb/.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { fakeLifecycleBuilder } from "../../cnb/build/fake-lifecycle.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

async function refusal(argv: string[], o: { home?: string; cwd?: string } = {}): Promise<BerthError> {
  const home = o.home ?? (await tempDir());
  const r = await runCommand(argv, { home, cwd: o.cwd });
  expect(r.error).toBeInstanceOf(BerthError);
  return r.error as BerthError;
}

describe("berth rebase of many images", () => {
  it("reads --from-file's images, skipping comments and blank lines, and names every one that failed", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "apps.txt"), "# the web apps\nweb:1\n\n  api:1   # the api\n");
    const r = await runCommand(["rebase", "--from-file", "apps.txt", "extra:1"], {
      home: join(dir, "h"),
      cwd: dir,
    });
    expect(r.error).toMatchObject({
      code: "CNB_REBASE_FAILED",
      message: "3 of 3 images were not rebased: extra:1, web:1, api:1",
      details: { exitCode: 3 },
    });
    expect(r.stderr.split("\n").filter((l) => l.startsWith("Failed "))).toHaveLength(3);
  });

  it("exits 1 when the failures differ in kind", async () => {
    const home = await tempDir();
    await storedImage(home, "plain:1", { "a.txt": "a" });
    const r = await runCommand(["rebase", "plain:1", "absent:1"], { home });
    expect(r.error).toMatchObject({
      message: "2 of 2 images were not rebased: plain:1, absent:1",
      details: { exitCode: 1 },
    });
  });

  it("refuses a --from-file line naming two images, with its line number", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "apps.txt"), "web:1\nweb:2 api:2\n");
    const err = await refusal(["rebase", "--from-file", "apps.txt"], { cwd: dir });
    expect(err.message).toBe(
      `--from-file ${join(dir, "apps.txt")} line 2 names more than one image: web:2 api:2`,
    );
    expect(err.hint).toBe("put one image reference on each line");
  });

  it("refuses a --from-file it cannot read, and no image at all", async () => {
    const dir = await tempDir();
    const unread = await refusal(["rebase", "--from-file", "absent.txt"], { cwd: dir });
    expect(unread.message).toMatch(
      new RegExp(`^--from-file ${join(dir, "absent.txt")} cannot be read: ENOENT`),
    );
    const empty = join(dir, "empty.txt");
    await writeFile(empty, "# nothing yet\n");
    expect((await refusal(["rebase", "--from-file", empty])).message).toBe("rebase needs an image");
  });

  it("refuses flags that take one image when given many", async () => {
    expect((await refusal(["rebase", "a:1", "b:1", "--previous-image", "a:0"])).message).toBe(
      "--previous-image takes one image; 2 were given",
    );
  });
});

describe("berth rebase's --lifecycle refusals", () => {
  it.each([
    [
      ["a:1", "b:1", "--lifecycle", "builder", "--publish"],
      "--lifecycle builder rebases one image; 2 were given",
    ],
    [["a:1", "--lifecycle", "pack"], '--lifecycle "pack" must be berth or builder'],
    [["a:1", "--builder", "b:1"], "--builder only matters with --lifecycle builder"],
    [["a:1", "--network", "host"], "--network only matters with --lifecycle builder"],
    [
      ["a:1", "--lifecycle", "builder", "--publish", "--builder", "b:1", "--lifecycle-image", "l:1"],
      "--builder and --lifecycle-image cannot be used together",
    ],
  ])("%j: %s", async (args, message) => {
    expect((await refusal(["rebase", ...args])).message).toBe(message);
  });

  it("needs --publish with --lifecycle builder", async () => {
    const err = await refusal(["rebase", "a:1", "--lifecycle", "builder"]);
    expect(err.message).toBe(
      "--lifecycle builder rebases a:1 in its registry (the lifecycle's rebaser has no OCI layout mode), so it needs --publish",
    );
  });
});

describe("berth rebase --lifecycle builder's output", () => {
  const DIGEST = `sha256:${"cd".repeat(32)}`;
  let home: string;
  let builder: string;

  beforeAll(async () => {
    const dir = await tempDir();
    home = join(dir, "home");
    // a rebaser that writes the report of a rebase that worked (the image is not reached)
    const made = await fakeLifecycleBuilder(dir, home, {
      rebaser: `report=""\nwhile [ $# -gt 0 ]; do\n  if [ "$1" = -report ]; then report=$2; fi\n  shift\ndone\nprintf '[image]\\ndigest = "${DIGEST}"\\n' > "$report"`,
    });
    builder = made.builder;
  }, 300_000);

  const lifecycleRebase = (...flags: string[]) =>
    runCommand(
      ["rebase", "127.0.0.1:5999/app:1", "--publish", "--lifecycle", "builder", "-B", builder, ...flags],
      { home, env: { PATH: process.env.PATH ?? "" } },
    );

  it("--json prints the result as JSON: the digest, the lifecycle and its report", async () => {
    const r = await lifecycleRebase("--json");
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.stdout)).toMatchObject({
      schemaVersion: 1,
      digest: DIGEST,
      lifecycleVersion: "9.9.9",
      platformApi: "0.13",
      report: expect.stringContaining(DIGEST),
    });
  });

  it("-q prints the digest alone; without either, a line on stderr says what was done", async () => {
    expect((await lifecycleRebase("-q")).stdout).toBe(`${DIGEST}\n`);
    const plain = await lifecycleRebase();
    expect(plain.stdout).toBe("");
    expect(plain.stderr).toContain(`Rebased 127.0.0.1:5999/app:1 with the lifecycle 9.9.9 (${DIGEST})`);
  });
});
