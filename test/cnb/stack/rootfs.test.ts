/**
 * Stack root filesystems (src/cnb/stack/rootfs.ts), the parts that need no debootstrap run: the cache key, the
 * installed-package list from dpkg's status file, and the sentence when debootstrap is missing. Bootstrapping
 * itself (minutes, root) is exercised by test/cnb/default-builder/.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDistro } from "../../../src/cnb/stack/distro.ts";
import { checkDebootstrap, installedPackages, rootfsKey } from "../../../src/cnb/stack/rootfs.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("rootfsKey", () => {
  const bookworm = parseDistro("bookworm");
  it("the package set, not its order or repeats; the mirror and the distribution change it", () => {
    const k = rootfsKey(bookworm, ["curl", "git"], undefined);
    expect(k).toMatch(/^[0-9a-f]{24}$/);
    expect(rootfsKey(bookworm, ["git", "curl", "git"], undefined)).toBe(k);
    // The default mirror named explicitly is the same tree.
    expect(rootfsKey(bookworm, ["curl", "git"], bookworm.mirror)).toBe(k);
    expect(rootfsKey(bookworm, ["curl", "git"], "http://127.0.0.1:3142/debian")).not.toBe(k);
    expect(rootfsKey(parseDistro("trixie"), ["curl", "git"], undefined)).not.toBe(k);
    expect(rootfsKey(bookworm, ["curl"], undefined)).not.toBe(k);
  });
});

describe("installedPackages", () => {
  it("installed packages only, `name version`, sorted; no status file gives none", async () => {
    const dir = await tempDir("berth-cnb-rootfs-");
    await mkdir(join(dir, "var/lib/dpkg"), { recursive: true });
    await writeFile(
      join(dir, "var/lib/dpkg/status"),
      [
        "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\n",
        "Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n",
        "Package: base-files\nStatus: install ok installed\nPriority: required\nVersion: 12.4\nDescription: x\n multi-line\n",
        "Package: no-version\nStatus: install ok installed\n",
      ].join("\n"),
    );
    expect(await installedPackages(dir)).toEqual(["base-files 12.4", "zlib1g 1:1.2.13"]);
    expect(await installedPackages(join(dir, "empty"))).toEqual([]);
  });
});

describe("checkDebootstrap", () => {
  it("not on the PATH: the sentence says what is missing and how to get it", async () => {
    const dir = await tempDir("berth-cnb-rootfs-");
    await expect(checkDebootstrap({ isRoot: true, searchPath: dir })).rejects.toMatchObject({
      code: "RUNTIME_NOT_FOUND",
      message: "creating a stack needs debootstrap, which is not installed",
      hint: expect.stringContaining("apt-get install debootstrap"),
    });
  });

  it("found but not root: a usage error saying why root is needed", async () => {
    const dir = await tempDir("berth-cnb-rootfs-");
    await writeFile(join(dir, "debootstrap"), "#!/bin/sh\n");
    await chmod(join(dir, "debootstrap"), 0o755);
    await expect(checkDebootstrap({ isRoot: false, searchPath: dir })).rejects.toMatchObject({
      code: "USAGE",
      message: expect.stringMatching(/^creating a stack runs debootstrap, which needs root/),
    });
  });
});
