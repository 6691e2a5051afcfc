/**
 * Issue 19: `-o PATH` onto an existing symlink or device replaced it (the temp file was renamed over it:
 * `-o /dev/stdout` replaced the system's /dev/stdout link with a file); `-o -` made a file named `-`.
 * Now a link or device is refused and left alone, `-` is standard output, a regular file is replaced whole.
 */
import { execFileSync } from "node:child_process";
import { lstat, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { craftImage, hash, writeLayout } from "./craft.ts";

let dir: string;
let home: string;

const tarList = (bytes: Buffer) =>
  execFileSync("tar", ["-tf", "-"], { input: bytes }).toString().trim().split("\n");

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  const files = join(dir, "files");
  await mkdir(files);
  await writeFile(join(files, "hello"), "hello\n");
  const layer = execFileSync("tar", [
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "-C",
    files,
    "-cf",
    "-",
    "hello",
  ]);
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [`sha256:${hash("sha256", layer)}`] },
  });
  await writeLayout(
    join(dir, "src"),
    craftImage(config, [{ digest: `sha256:${hash("sha256", layer)}`, bytes: layer }]),
    "t",
  );
  const r = await berth(["copy", `oci:${join(dir, "src")}:t`, "app:1"], { home });
  expect(r.code, r.stderr).toBe(0);
});

describe.each([
  ["save", (o: string) => ["save", "app:1", "-o", o], "manifest.json"],
  ["export", (o: string) => ["export", "app:1", "-o", o], "hello"],
])("berth %s -o", (name, args, member) => {
  it("refuses a symbolic link and leaves it and its target alone", async () => {
    const victim = join(dir, `${name}-victim`);
    const link = join(dir, `${name}-link`);
    await writeFile(victim, "victim\n");
    await symlink(victim, link);
    const r = await berth(args(link), { home, cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is a symbolic link/);
    expect(r.stderr).toMatch(/hint: give -o - to write to standard output/);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(victim, "utf8")).toBe("victim\n");
  });

  it("refuses a device node and leaves it in place", async () => {
    const dev = join(dir, `${name}-null`);
    execFileSync("mknod", [dev, "c", "1", "3"]);
    const r = await berth(args(dev), { home, cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is a device/);
    expect((await lstat(dev)).isCharacterDevice()).toBe(true);
  });

  it("writes to standard output with -o - (no file named -)", async () => {
    const cwd = join(dir, `${name}-cwd`);
    await mkdir(cwd);
    const r = await berth(args("-"), { home, cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(tarList(r.stdoutBytes)).toContain(member);
    await expect(lstat(join(cwd, "-"))).rejects.toThrow(/ENOENT/);
  });

  it("replaces an existing regular file whole", async () => {
    const file = join(dir, `${name}-file.tar`);
    await writeFile(file, "old content that is not a tar".repeat(1000));
    const r = await berth(args(file), { home, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(tarList(await readFile(file))).toContain(member);
  });
});

it("archive destinations (docker-archive:, oci-archive:) refuse a symbolic link too", async () => {
  for (const transport of ["docker-archive", "oci-archive"]) {
    const victim = join(dir, `${transport}-victim`);
    const link = join(dir, `${transport}-link`);
    await writeFile(victim, "victim\n");
    await symlink(victim, link);
    const r = await berth(["copy", "app:1", `${transport}:${link}`], { home, cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(victim, "utf8")).toBe("victim\n");
  }
});
