/** cache/workspace.ts: the app copy synced from the source, copying only what changed and removing what is gone. */
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { syncTree } from "../../../src/cnb/cache/workspace.ts";
import { tempDir } from "../../helpers/temp.ts";

let src: string;
let dst: string;
beforeEach(async () => {
  const dir = await tempDir("berth-cnb-ws-");
  src = join(dir, "src");
  dst = join(dir, "dst");
  await mkdir(join(src, "lib"), { recursive: true });
  await writeFile(join(src, "app.js"), "console.log(1)");
  await writeFile(join(src, "lib", "run.sh"), "#!/bin/sh\n");
  await chmod(join(src, "lib", "run.sh"), 0o750);
  await utimes(join(src, "app.js"), 1_600_000_000.123, 1_600_000_000.123);
  await symlink("app.js", join(src, "main"));
});

describe("syncTree", () => {
  it("copies files, folders and links with modes and mtimes", async () => {
    expect(await syncTree(src, dst)).toEqual({ copied: 3 });
    expect(await readFile(join(dst, "app.js"), "utf8")).toBe("console.log(1)");
    expect((await lstat(join(dst, "lib", "run.sh"))).mode & 0o7777).toBe(0o750);
    expect(Math.trunc((await lstat(join(dst, "app.js"))).mtimeMs)).toBe(1_600_000_000_123);
    expect(await readlink(join(dst, "main"))).toBe("app.js");
  });

  it("copies nothing again when nothing changed, keeping the inodes", async () => {
    await syncTree(src, dst);
    const ino = (await lstat(join(dst, "app.js"))).ino;
    expect(await syncTree(src, dst)).toEqual({ copied: 0 });
    expect((await lstat(join(dst, "app.js"))).ino).toBe(ino);
  });

  it("copies what changed in size, mtime or mode, replaces a changed link and removes what is gone", async () => {
    await syncTree(src, dst);
    await writeFile(join(dst, "stray"), "left by a buildpack");
    await utimes(join(src, "app.js"), 1_700_000_000, 1_700_000_000);
    await chmod(join(src, "lib", "run.sh"), 0o755);
    const { rm } = await import("node:fs/promises");
    await rm(join(src, "main"));
    await symlink("lib/run.sh", join(src, "main"));
    expect(await syncTree(src, dst)).toEqual({ copied: 3 });
    expect(await readdir(dst)).toEqual(["app.js", "lib", "main"]);
    expect(await readlink(join(dst, "main"))).toBe("lib/run.sh");
    expect((await lstat(join(dst, "lib", "run.sh"))).mode & 0o7777).toBe(0o755);
  });

  it("replaces a file with a folder of the same name", async () => {
    await mkdir(dst, { recursive: true });
    await writeFile(join(dst, "lib"), "a file");
    await syncTree(src, dst);
    expect((await lstat(join(dst, "lib"))).isDirectory()).toBe(true);
    expect(await readdir(join(dst, "lib"))).toEqual(["run.sh"]);
  });

  it("follows the filter: skip leaves out, descend keeps a folder only with something kept below", async () => {
    await mkdir(join(src, "empty-after-filter"));
    await writeFile(join(src, "empty-after-filter", "x.log"), "");
    const decide = (path: string, isDir: boolean) =>
      path.endsWith(".log") ? ("skip" as const) : isDir ? ("descend" as const) : ("keep" as const);
    await syncTree(src, dst, { filter: { decide } });
    expect((await readdir(dst)).sort()).toEqual(["app.js", "lib", "main"]);
    expect(await readdir(join(dst, "lib"))).toEqual(["run.sh"]);
  });
});
