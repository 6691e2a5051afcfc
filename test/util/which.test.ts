import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isExecutable, type WhichOptions, which, whichSync } from "../../src/util/which.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
const cwd = process.cwd();
const envPath = process.env.PATH;

async function program(path: string, mode = 0o755): Promise<string> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, "#!/bin/sh\n");
  await chmod(path, mode);
  return path;
}

/** which and whichSync, which must agree. */
async function both(name: string, path: string, o: WhichOptions = {}): Promise<string | undefined> {
  const found = await which(name, path, o);
  expect(whichSync(name, path, o)).toBe(found);
  return found;
}

beforeEach(async () => {
  dir = await tempDir("berth-which-");
});

afterEach(() => {
  process.chdir(cwd);
  process.env.PATH = envPath;
});

describe("which", () => {
  it("is the first executable of that name, in PATH's order; a file without an execute bit is passed over", async () => {
    await program(join(dir, "a", "prog"), 0o644);
    const b = await program(join(dir, "b", "prog"));
    await program(join(dir, "c", "prog"));
    const path = ["a", "b", "c"].map((d) => join(dir, d)).join(":");
    expect(await both("prog", path)).toBe(b);
    expect(await both("other", path)).toBeUndefined();
  });

  it("searches the PATH it is given, never process.env.PATH", async () => {
    await program(join(dir, "bin", "prog"));
    process.env.PATH = join(dir, "bin");
    expect(await both("prog", "")).toBeUndefined();
    expect(await both("prog", join(dir, "elsewhere"))).toBeUndefined();
  });

  it("skips empty entries, or (emptyIsCwd) takes them as the working directory and answers absolute paths", async () => {
    const here = await program(join(dir, "prog"));
    process.chdir(dir);
    for (const path of [":/nonexistent", "/nonexistent::/x", "/nonexistent:", ""]) {
      expect(await both("prog", path), path).toBeUndefined();
      expect(await both("prog", path, { emptyIsCwd: true }), path).toBe(here);
    }
    // A relative entry: joined as it is, or made absolute.
    await program(join(dir, "rel", "tool"));
    expect(await both("tool", "rel")).toBe(join("rel", "tool"));
    expect(await both("tool", "rel", { emptyIsCwd: true })).toBe(join(dir, "rel", "tool"));
  });

  it("regularFile: a folder of that name (searchable, so access(X_OK) allows it) is passed over", async () => {
    await mkdir(join(dir, "a", "prog"), { recursive: true });
    const b = await program(join(dir, "b", "prog"));
    const path = `${join(dir, "a")}:${join(dir, "b")}`;
    expect(await both("prog", path)).toBe(join(dir, "a", "prog"));
    expect(await both("prog", path, { regularFile: true })).toBe(b);
  });

  it("a name holding a '/' is that file, not looked up", async () => {
    const p = await program(join(dir, "x", "prog"));
    await program(join(dir, "bin", "x", "prog"));
    expect(await both(p, join(dir, "bin"))).toBe(p);
    process.chdir(dir);
    expect(await both("x/prog", join(dir, "bin"), { regularFile: true, emptyIsCwd: true })).toBe(p);
    expect(await both(join(dir, "none", "prog"), join(dir, "bin"))).toBeUndefined();
  });
});

describe("isExecutable", () => {
  it("follows links; regularFile wants a regular file with an execute bit", async () => {
    const p = await program(join(dir, "prog"));
    await symlink(p, join(dir, "link"));
    await symlink(join(dir, "gone"), join(dir, "dangling"));
    await program(join(dir, "plain"), 0o644);
    expect(await isExecutable(join(dir, "link"), { regularFile: true })).toBe(true);
    expect(await isExecutable(join(dir, "dangling"))).toBe(false);
    expect(await isExecutable(join(dir, "plain"))).toBe(false);
    expect(await isExecutable(dir)).toBe(true);
    expect(await isExecutable(dir, { regularFile: true })).toBe(false);
  });
});
