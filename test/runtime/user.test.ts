/** Resolving an image's User through its root's /etc/passwd and /etc/group, confined to the root. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseGroup, parsePasswd, resolveInRoot, resolveUser } from "../../src/runtime/user.ts";
import { tempDir } from "../helpers/temp.ts";
import { GROUP, PASSWD } from "./helpers.ts";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-user-");
  await mkdir(join(dir, "root/etc"), { recursive: true });
  await writeFile(join(dir, "root/etc/passwd"), PASSWD);
  await writeFile(join(dir, "root/etc/group"), GROUP);
  await symlink("/etc/passwd", join(dir, "root/etc/alt"));
  // A root whose /etc/passwd is a symlink climbing out: read inside the root, never the host's.
  await mkdir(join(dir, "evil/etc"), { recursive: true });
  await writeFile(join(dir, "evil/passwd-in-root"), "inside:x:7:7::/in:/bin/sh\n");
  await symlink("/../../../../passwd-in-root", join(dir, "evil/etc/passwd"));
  // A root whose /etc/group is a directory, and whose /etc/passwd is a symlink loop.
  await mkdir(join(dir, "odd/etc/group"), { recursive: true });
  await symlink("passwd", join(dir, "odd/etc/passwd"));
});

describe("parsePasswd and parseGroup", () => {
  it("keep well-formed lines, skip comments, short lines and non-numeric ids; home defaults to /", () => {
    expect(
      parsePasswd(
        "# comment\nroot:x:0:0:root:/root:/bin/sh\nshort:x:1\nbad:x:a:1::/h:/bin/sh\nnohome:x:5:6\nempty:x::0::/:/bin/sh\n",
      ),
    ).toEqual([
      { name: "root", uid: 0, gid: 0, home: "/root" },
      { name: "nohome", uid: 5, gid: 6, home: "/" },
    ]);
    expect(parseGroup("wheel:x:10:root,,app\nempty:x:20:\nnogid:x:\nbare:x:30\n#x:x:1:\n")).toEqual([
      { name: "wheel", gid: 10, members: ["root", "app"] },
      { name: "empty", gid: 20, members: [] },
      { name: "bare", gid: 30, members: [] },
    ]);
  });
});

describe("resolveInRoot", () => {
  it("follows symlinks inside the root, absolute ones from the root, and never above it", async () => {
    const evil = join(dir, "evil");
    expect(await resolveInRoot(evil, "/etc/passwd")).toBe(join(evil, "passwd-in-root"));
    expect(await resolveInRoot(evil, "/../../etc")).toBe(join(evil, "etc"));
    expect(await resolveInRoot(evil, "/")).toBe(evil);
    expect(await resolveInRoot(evil, "/etc/missing")).toBeUndefined();
    const root = join(dir, "root");
    expect(await resolveInRoot(root, "etc/./alt")).toBe(join(root, "etc/passwd"));
  });

  it("a symlink loop resolves to nothing", async () => {
    expect(await resolveInRoot(join(dir, "odd"), "/etc/passwd")).toBeUndefined();
  });
});

describe("resolveUser", () => {
  it("names, uids, name:group and uid:gid, with the groups that list the user", async () => {
    const root = join(dir, "root");
    expect(await resolveUser(root, "", "img")).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [10],
      home: "/root",
      name: "root",
    });
    expect(await resolveUser(root, " app ", "img")).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [50, 10],
      home: "/home/app",
      name: "app",
    });
    // A group given: no supplementary groups (Docker's rule).
    expect(await resolveUser(root, "app:staff", "img")).toEqual({
      uid: 1000,
      gid: 50,
      additionalGids: [],
      home: "/home/app",
      name: "app",
    });
    expect(await resolveUser(root, "1000:7", "img")).toMatchObject({ uid: 1000, gid: 7, name: "app" });
    expect(await resolveUser(root, "app:", "img")).toMatchObject({ gid: 1000, additionalGids: [50, 10] });
    expect(await resolveUser(root, "4242", "img")).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
  });

  it("numeric ids work without the files, and with files that are not regular ones", async () => {
    expect(await resolveUser(join(dir, "nothing"), "12:34", "img")).toEqual({
      uid: 12,
      gid: 34,
      additionalGids: [],
    });
    expect(await resolveUser(join(dir, "odd"), undefined, "img")).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [],
    });
  });

  it("an unknown user or group is one sentence naming it and the image, with a hint", async () => {
    const root = join(dir, "root");
    await expect(resolveUser(root, "ghost", "oci:x:y")).rejects.toMatchObject({
      code: "USER_NOT_FOUND",
      message: 'user "ghost" is not in /etc/passwd of oci:x:y',
      hint: "give a numeric uid[:gid], or a user the image defines",
    });
    await expect(resolveUser(root, "app:nogrp", "img")).rejects.toMatchObject({
      code: "USER_NOT_FOUND",
      message: 'group "nogrp" is not in /etc/group of img',
    });
    // 2^32 is no uid: taken as a name.
    await expect(resolveUser(root, "4294967296", "img")).rejects.toMatchObject({ code: "USER_NOT_FOUND" });
  });

  it("reads the root's files through symlinks inside it only", async () => {
    expect(await resolveUser(join(dir, "evil"), "inside", "img")).toMatchObject({
      uid: 7,
      gid: 7,
      home: "/in",
    });
    await expect(resolveUser(join(dir, "evil"), "root", "img")).rejects.toMatchObject({
      code: "USER_NOT_FOUND",
    });
  });
});
