/** Confinement of layer paths to a root: entry names split lexically, directories resolved inside the root. */
import { lstat, mkdir, realpath, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { entryComponents, RootResolver } from "../../src/layer/root.ts";
import { tempDir } from "../helpers/temp.ts";

describe("entryComponents", () => {
  it("drops a leading /, . and empty components, resolves .. lexically", () => {
    expect(entryComponents("/etc//./x/")).toEqual(["etc", "x"]);
    expect(entryComponents("./a/b/../c")).toEqual(["a", "c"]);
    expect(entryComponents("a/..")).toEqual([]);
    expect(entryComponents("")).toEqual([]);
  });

  it("refuses .. above the root and NUL bytes, naming the entry", () => {
    expect(() => entryComponents("a/../../etc")).toThrow(
      expect.objectContaining({
        code: "LAYER_UNSAFE",
        message: 'layer entry "a/../../etc" climbs out of the root',
        details: { entry: "a/../../etc" },
      }),
    );
    expect(() => entryComponents("../x", "link", 'links to "../x", which climbs out')).toThrow(
      'layer entry "link" links to "../x", which climbs out',
    );
    expect(() => entryComponents("a/b\0c")).toThrow('layer entry "a/b\\u0000c" has a NUL byte in its name');
  });
});

describe("RootResolver.resolveDir", () => {
  let root: string;
  let outside: string;
  beforeAll(async () => {
    const base = await realpath(await tempDir());
    root = join(base, "root");
    outside = join(base, "outside");
    await mkdir(join(root, "usr/lib"), { recursive: true });
    await mkdir(outside);
    await symlink("usr/lib", join(root, "lib"));
    await symlink("/usr", join(root, "usr/lib/abs"));
    await symlink("../../..", join(root, "usr/lib/up"));
    await symlink("../outside", join(root, "out"));
    await symlink("missing", join(root, "dangling"));
    await symlink("loop", join(root, "loop"));
    await writeFile(join(root, "file"), "");
  });

  it("follows symlinks inside the root, absolute ones from the root", async () => {
    const r = new RootResolver(`${root}/`);
    expect(r.root).toBe(root);
    expect(await r.resolveDir([], "x", false)).toBe("");
    expect(await r.resolveDir(["lib"], "lib/x", false)).toBe("usr/lib");
    expect(await r.resolveDir(["lib", "abs", "lib"], "lib/abs/lib/x", false)).toBe("usr/lib");
    expect(r.host("usr/lib")).toBe(join(root, "usr/lib"));
    expect(r.host("")).toBe(root);
  });

  it("creates missing directories (0755) only when asked, and never through a symlink", async () => {
    const r = new RootResolver(root);
    expect(await r.resolveDir(["new", "deep"], "new/deep/x", false)).toBeUndefined();
    await expect(lstat(join(root, "new"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await r.resolveDir(["new", "deep"], "new/deep/x", true)).toBe("new/deep");
    expect(((await lstat(join(root, "new/deep"))).mode & 0o777).toString(8)).toBe("755");
    await expect(r.resolveDir(["dangling", "x"], "dangling/x/y", true)).rejects.toMatchObject({
      code: "LAYER_UNSAFE",
      message:
        'layer entry "dangling/x/y" goes through symlink "dangling" (-> "missing"), whose target does not exist in the root',
    });
    await expect(lstat(join(root, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses a symlink climbing out, a loop, and a file in the way", async () => {
    const r = new RootResolver(root);
    await expect(r.resolveDir(["out"], "out/passwd", true)).rejects.toMatchObject({
      code: "LAYER_UNSAFE",
      message:
        'layer entry "out/passwd" goes through symlink "out" (-> "../outside"), which points out of the root',
    });
    await expect(r.resolveDir(["lib", "up", "x"], "lib/up/x/y", true)).rejects.toMatchObject({
      code: "LAYER_UNSAFE",
      message: expect.stringContaining('goes through symlink "usr/lib/up"'),
    });
    await expect(r.resolveDir(["loop"], "loop/x", true)).rejects.toMatchObject({
      code: "LAYER_UNSAFE",
      message: 'layer entry "loop/x" goes through too many symlinks',
    });
    await expect(r.resolveDir(["file"], "file/x", true)).rejects.toMatchObject({
      code: "LAYER_INVALID",
      message: 'layer entry "file/x" is inside "file", which is not a directory',
    });
  });

  it("remembers what it resolved until invalidated", async () => {
    const base = await realpath(await tempDir());
    await mkdir(join(base, "a"));
    await mkdir(join(base, "b"));
    await symlink("a", join(base, "link"));
    const r = new RootResolver(base);
    expect(await r.resolveDir(["link"], "link/x", false)).toBe("a");
    await unlink(join(base, "link"));
    await symlink("b", join(base, "link"));
    expect(await r.resolveDir(["link"], "link/x", false)).toBe("a");
    r.invalidate();
    expect(await r.resolveDir(["link"], "link/x", false)).toBe("b");
  });
});
