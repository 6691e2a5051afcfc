/** Rootless runs: the kernel's user-namespace settings, the runtime's failure text, subordinate id ranges. */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  assertUserNamespaces,
  inUserNamespace,
  parseSubIds,
  singleIdNamespace,
  subordinateIds,
  userNamespaceFailure,
  userNamespaceForbidden,
} from "../../src/runtime/userns.ts";
import { tempDir } from "../helpers/temp.ts";

/** A /proc-shaped folder holding only the given files. */
async function procWith(files: Record<string, string>): Promise<string> {
  const proc = await tempDir("berth-proc-");
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(proc, path, ".."), { recursive: true });
    await writeFile(join(proc, path), text);
  }
  return proc;
}

describe("userNamespaceForbidden and assertUserNamespaces", () => {
  it("name the sysctl that forbids user namespaces; nothing when both allow them or are absent", async () => {
    const clone0 = await procWith({
      "sys/kernel/unprivileged_userns_clone": "0\n",
      "sys/user/max_user_namespaces": "15000\n",
    });
    expect(await userNamespaceForbidden(clone0)).toBe(
      "this kernel forbids unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone = 0), so berth cannot run containers rootless",
    );
    const max0 = await procWith({
      "sys/kernel/unprivileged_userns_clone": "1\n",
      "sys/user/max_user_namespaces": "0\n",
    });
    expect(await userNamespaceForbidden(max0)).toMatch(
      /allows no user namespaces \(sysctl user\.max_user_namespaces = 0\)/,
    );
    expect(
      await userNamespaceForbidden(await procWith({ "sys/user/max_user_namespaces": "10\n" })),
    ).toBeUndefined();
    expect(await userNamespaceForbidden(await procWith({}))).toBeUndefined();
    await expect(assertUserNamespaces(max0)).rejects.toMatchObject({
      code: "RUNTIME_FAILED",
      hint: expect.stringContaining("sysctl -w user.max_user_namespaces=15000"),
    });
    await expect(assertUserNamespaces(await procWith({}))).resolves.toBeUndefined();
  });
});

describe("userNamespaceFailure", () => {
  it("runc's and crun's words for a refused user namespace become one sentence by errno", () => {
    const eperm = userNamespaceFailure([
      "nsexec-1[1234]: failed to unshare user namespace: Operation not permitted",
    ]);
    expect(eperm).toMatchObject({
      code: "RUNTIME_FAILED",
      message: expect.stringContaining("the kernel does not let this user create user namespaces"),
      details: { runtime: "nsexec-1[1234]: failed to unshare user namespace: Operation not permitted" },
    });
    expect(
      userNamespaceFailure(["x", 'clone: creating the user namespace: No space left on device"']),
    ).toMatchObject({
      message: expect.stringContaining("allows this user no more user namespaces"),
      hint: "as root: sysctl -w user.max_user_namespaces=15000",
    });
    expect(userNamespaceFailure(["failed to unshare user namespace: Invalid argument"])?.message).toBe(
      "the kernel refused to create a user namespace (Invalid argument), so berth cannot run this container rootless",
    );
  });

  it("any other failure is not about user namespaces", () => {
    expect(userNamespaceFailure([])).toBeUndefined();
    expect(userNamespaceFailure(['exec: "nope": executable file not found in $PATH'])).toBeUndefined();
  });
});

describe("parseSubIds", () => {
  const text =
    "other:100000:65536\n1000:200000:0\nme:300000:65536\nme:400000:10\n  1000:500000:100 \nbad:x:1\n";

  it("the first usable range for the user's name or uid", () => {
    expect(parseSubIds(text, "me", 1000)).toEqual({ start: 300000, count: 65536 });
    expect(parseSubIds(text, undefined, 1000)).toEqual({ start: 500000, count: 100 });
    expect(parseSubIds(text, "other", 5)).toEqual({ start: 100000, count: 65536 });
  });

  it("none for a user without one, or with malformed or empty ranges", () => {
    expect(parseSubIds(text, "ghost", 4)).toBeUndefined();
    expect(parseSubIds(text, "bad", 4)).toBeUndefined();
    expect(parseSubIds("", "me", 1000)).toBeUndefined();
  });
});

describe("subordinateIds", () => {
  it("both ranges when both files give one and newuidmap and newgidmap are on the PATH", async () => {
    const etc = await tempDir();
    await writeFile(join(etc, "subuid"), "me:100000:65536\n");
    await writeFile(join(etc, "subgid"), "1000:200000:65536\n");
    const bin = await tempDir();
    for (const tool of ["newuidmap", "newgidmap"]) {
      await writeFile(join(bin, tool), "#!/bin/sh\n");
      await chmod(join(bin, tool), 0o755);
    }
    expect(await subordinateIds("me", 1000, 1000, `/nonexistent::${bin}`, etc)).toEqual({
      uids: { start: 100000, count: 65536 },
      gids: { start: 200000, count: 65536 },
    });
    // No gid range for this user, no tools, a tool that is not executable: none.
    expect(await subordinateIds("me", 1000, 1001, bin, etc)).toBeUndefined();
    expect(await subordinateIds("me", 1000, 1000, "/nonexistent", etc)).toBeUndefined();
    await chmod(join(bin, "newgidmap"), 0o644);
    expect(await subordinateIds("me", 1000, 1000, bin, etc)).toBeUndefined();
  });
});

describe("inUserNamespace and singleIdNamespace", () => {
  it("read the uid and gid maps: the whole range is the host's; one id is a single-id namespace", async () => {
    const host = await procWith({
      "self/uid_map": "         0          0 4294967295\n",
      "self/gid_map": "         0          0 4294967295\n",
    });
    expect(await inUserNamespace(host)).toBe(false);
    expect(await singleIdNamespace(host)).toBe(false);
    const single = await procWith({ "self/uid_map": "0 1000 1\n", "self/gid_map": "0 1000 1\n" });
    expect(await inUserNamespace(single)).toBe(true);
    expect(await singleIdNamespace(single)).toBe(true);
    const mapped = await procWith({
      "self/uid_map": "0 1000 1\n1 100000 65536\n",
      "self/gid_map": "0 1000 1\n1 100000 65536\n",
    });
    expect(await inUserNamespace(mapped)).toBe(true);
    expect(await singleIdNamespace(mapped)).toBe(false);
    expect(await inUserNamespace(await procWith({}))).toBe(false);
  });
});
