/**
 * The stack's own layers (src/cnb/stack/layer.ts), read back as tar: the CNB user over a root filesystem's
 * passwd/group/shadow, the extra CAs appended to the bundle, and a whole tree keeping its owners.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { caLayer, rootfsLayer, userLayer } from "../../../src/cnb/stack/layer.ts";
import { tempDir } from "../../helpers/temp.ts";
import { layerEntries } from "./helpers.ts";

const MTIME = 315532801;
let dir: string;
let rootfs: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-stack-layer-");
  rootfs = join(dir, "rootfs");
  await mkdir(join(rootfs, "etc", "ssl", "certs"), { recursive: true });
});

describe("userLayer", () => {
  it("the CNB user replaces any line of its name; shadow is group shadow; the home is the user's, its parents root's", async () => {
    await writeFile(
      join(rootfs, "etc", "passwd"),
      "root:x:0:0:root:/root:/bin/bash\ncnb:x:5:5:old:/old:/bin/false\n",
    );
    await writeFile(join(rootfs, "etc", "group"), "root:x:0:\nshadow:x:42:\n");
    await writeFile(join(rootfs, "etc", "shadow"), "root:*:19000:0:99999:7:::\n");
    const user = { name: "cnb", uid: 1001, gid: 1000, group: "cnb", home: "/home/cnb" };
    const l = await userLayer(rootfs, user, join(dir, "user.tar.gz"), MTIME, 86400 * 20000 + 5);
    const entries = await layerEntries(l.path);
    expect(entries.map((e) => [e.path.replace(/\/$/, ""), e.type, e.mode, e.uid, e.gid])).toEqual([
      ["etc", "dir", 0o755, 0, 0],
      ["etc/group", "file", 0o644, 0, 0],
      ["etc/passwd", "file", 0o644, 0, 0],
      ["etc/resolv.conf", "file", 0o644, 0, 0],
      ["etc/shadow", "file", 0o640, 0, 42],
      ["home", "dir", 0o755, 0, 0],
      ["home/cnb", "dir", 0o750, 1001, 1000],
    ]);
    const text = (p: string) => entries.find((e) => e.path === p)?.text;
    expect(text("etc/passwd")).toBe(
      "root:x:0:0:root:/root:/bin/bash\ncnb:x:1001:1000:CNB user:/home/cnb:/bin/sh\n",
    );
    expect(text("etc/group")).toBe("root:x:0:\nshadow:x:42:\ncnb:x:1000:\n");
    expect(text("etc/shadow")).toBe("root:*:19000:0:99999:7:::\ncnb:!:20000:0:99999:7:::\n");
    expect(new Set(entries.map((e) => e.mtime))).toEqual(new Set([MTIME]));
    expect(l.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("a tree without passwd, group or shadow gets files holding only the CNB user", async () => {
    const user = { name: "app", uid: 2000, gid: 2000, group: "apps", home: "/app" };
    const entries = await layerEntries((await userLayer(rootfs, user, join(dir, "u.tar.gz"), MTIME, 0)).path);
    expect(entries.find((e) => e.path === "etc/group")?.text).toBe("apps:x:2000:\n");
    expect(entries.find((e) => e.path === "etc/shadow")?.gid).toBe(0);
    expect(entries.filter((e) => e.type === "dir").map((e) => [e.path.replace(/\/$/, ""), e.uid])).toEqual([
      ["etc", 0],
      ["app", 2000],
    ]);
  });
});

describe("caLayer", () => {
  const pem = (n: string) => `-----BEGIN CERTIFICATE-----\n${n}\n-----END CERTIFICATE-----\n`;

  it("the distribution's bundle with each CA appended, and each CA under /usr/local/share/ca-certificates, sorted", async () => {
    await writeFile(join(rootfs, "etc/ssl/certs/ca-certificates.crt"), `${pem("DISTRO")}\n\n`);
    const l = await caLayer(
      rootfs,
      [
        { name: "z.crt", pem: pem("Z") },
        { name: "a.crt", pem: `\n${pem("A")}` },
      ],
      join(dir, "ca.tar.gz"),
      MTIME,
    );
    const entries = await layerEntries(l.path);
    expect(entries.find((e) => e.path === "etc/ssl/certs/ca-certificates.crt")?.text).toBe(
      `${pem("DISTRO")}${pem("Z")}${pem("A")}`,
    );
    expect(entries.filter((e) => e.type === "file").map((e) => e.path)).toEqual([
      "etc/ssl/certs/ca-certificates.crt",
      "usr/local/share/ca-certificates/a.crt",
      "usr/local/share/ca-certificates/z.crt",
    ]);
    expect(entries.find((e) => e.path.endsWith("a.crt"))?.text).toBe(pem("A"));
  });

  it("no bundle in the tree: the bundle is just the extra CAs", async () => {
    const entries = await layerEntries(
      (await caLayer(rootfs, [{ name: "x.crt", pem: pem("X") }], join(dir, "c.tar.gz"), MTIME)).path,
    );
    expect(entries.find((e) => e.path === "etc/ssl/certs/ca-certificates.crt")?.text).toBe(pem("X"));
  });
});

describe("rootfsLayer", () => {
  it("the whole tree, owners as on disk, every mtime the one given; a missing tree names itself", async () => {
    await writeFile(join(rootfs, "etc", "hostname"), "x\n");
    const l = await rootfsLayer(rootfs, join(dir, "root.tar.gz"), MTIME, 1);
    const entries = await layerEntries(l.path);
    expect(entries.map((e) => e.path.replace(/\/$/, "")).filter(Boolean)).toEqual([
      "etc",
      "etc/hostname",
      "etc/ssl",
      "etc/ssl/certs",
    ]);
    const uid = process.getuid?.() ?? 0;
    expect(entries.every((e) => e.uid === uid && e.mtime === MTIME)).toBe(true);
    await expect(rootfsLayer(join(dir, "nope"), join(dir, "n.tar.gz"), MTIME)).rejects.toThrow(
      `making a layer of ${join(dir, "nope")}`,
    );
  });
});
