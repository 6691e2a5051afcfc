import { chmod, lstat, mkdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { makePrivateHome, secureHome } from "../../src/util/home.ts";
import { tempDir } from "../helpers/temp.ts";

const PRIVATE = ["snapshots", "run", "cache", "tmp"];

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

describe("makePrivateHome", () => {
  it("creates the home and its private folders 0700, leaving existing ones as they are", async () => {
    const fresh = join(await tempDir(), "a", "home");
    await makePrivateHome(fresh);
    expect(await mode(fresh)).toBe(0o700);
    for (const d of PRIVATE) expect(await mode(join(fresh, d))).toBe(0o700);
    const home = await tempDir();
    await mkdir(join(home, "cache"), { mode: 0o755 });
    await chmod(join(home, "cache"), 0o755);
    await makePrivateHome(home);
    for (const d of ["snapshots", "run", "tmp"]) expect(await mode(join(home, d))).toBe(0o700);
    expect(await mode(join(home, "cache"))).toBe(0o755);
  });

  it("leaves a name held by a file or a dangling link as it is, and secureHome then fails on it", async () => {
    const home = await tempDir();
    await writeFile(join(home, "tmp"), "x");
    await symlink(join(home, "nowhere"), join(home, "cache"));
    await makePrivateHome(home);
    expect((await lstat(join(home, "tmp"))).isFile()).toBe(true);
    expect((await lstat(join(home, "cache"))).isSymbolicLink()).toBe(true);
    expect(await mode(join(home, "run"))).toBe(0o700);
    const err = await secureHome(home).catch((e: NodeJS.ErrnoException) => e);
    expect((err as NodeJS.ErrnoException).code).toBe("ENOENT");
  });
});

describe("secureHome", () => {
  it("tightens the home and private folders open to others, and says which", async () => {
    const home = await tempDir();
    await chmod(home, 0o755);
    await mkdir(join(home, "run"), { mode: 0o700 });
    await mkdir(join(home, "cache"));
    await chmod(join(home, "cache"), 0o2775);
    expect(await secureHome(home)).toEqual([home, join(home, "cache")]);
    expect(await mode(home)).toBe(0o700);
    expect(await mode(join(home, "cache"))).toBe(0o2700);
    for (const d of PRIVATE) expect((await mode(join(home, d))) & 0o077).toBe(0);
    expect(await secureHome(home)).toEqual([]);
  });

  it("refuses a shared folder with the sticky bit, naming it, and changes nothing", async () => {
    const home = await tempDir();
    await chmod(home, 0o1777);
    const err = await secureHome(home).catch((e: unknown) => e);
    expect(isBerthError(err, "USAGE")).toBe(true);
    expect((err as Error).message).toBe(
      `BERTH_HOME ${home} is a shared folder (sticky bit set, as /tmp): berth keeps image roots there that must not be reachable by other users`,
    );
    expect(await mode(home)).toBe(0o1777);
  });
});
