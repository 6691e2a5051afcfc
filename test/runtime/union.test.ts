/**
 * Layer directories read as overlayfs merges them, without a mount: whiteouts, opaque directories, symlinks
 * followed inside the union and never out of it. Each case is checked against a real overlay mount of the
 * same layers (the kernel is the oracle), and the user lookup that RUN needs is made through it.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mountOverlay, unmount } from "../../src/runtime/mount.ts";
import { findInUnion, lookupUnion, type UnionLayer } from "../../src/runtime/union.ts";
import { resolveUser } from "../../src/runtime/user.ts";
import { tempDir } from "../helpers/temp.ts";
import { GROUP, PASSWD } from "./helpers.ts";

const pexec = promisify(execFile);

let dir: string;
/** Layer dirs, base first, as a snapshot chain lists them. */
let base: string;
let mid: string;
let top: string;
/** What a symlink pointing out of the tree would reach on the host. */
let outside: string;

const layer = (d: string, opaque: string[] = []): UnionLayer => ({ dir: d, opaque: new Set(opaque) });

async function files(root: string, entries: Record<string, string | { link: string } | "whiteout" | "dir">) {
  for (const [path, what] of Object.entries(entries)) {
    const p = join(root, path);
    await mkdir(join(p, ".."), { recursive: true });
    if (what === "dir") await mkdir(p, { recursive: true });
    else if (what === "whiteout") await pexec("mknod", [p, "c", "0", "0"]);
    else if (typeof what === "string") await writeFile(p, what);
    else await symlink(what.link, p);
  }
}

beforeAll(async () => {
  dir = await tempDir("berth-union-");
  outside = join(dir, "host");
  await files(outside, { "etc/passwd": "host:x:4242:4242::/host:/bin/sh\n", "etc/group": "host:x:4242:\n" });
  base = join(dir, "base");
  mid = join(dir, "mid");
  top = join(dir, "top");
  await files(base, {
    "etc/passwd": PASSWD,
    "etc/group": GROUP,
    "etc/shadowed/x": "from base\n",
    "opq/old": "old\n",
    "usr/lib/os-release": "ID=base\n",
    "data/file": "a file in base\n",
  });
  await files(mid, {
    "etc/group": "whiteout",
    "etc/shadowed": "now a file\n",
    "opq/new": "new\n",
    data: "dir",
  });
  await files(top, { "etc/os-release": { link: "../usr/lib/os-release" } });
});

afterAll(async () => {
  await unmount(join(dir, "merged")).catch(() => undefined);
});

/** The chain top first, `mid`'s /opq opaque. */
const chain = () => [layer(top), layer(mid, ["opq"]), layer(base)];

describe("lookupUnion", () => {
  it("takes the top-most entry; a whiteout hides lower files; a file hides a lower directory", async () => {
    expect(await findInUnion(chain(), "/etc/passwd")).toBe(join(base, "etc/passwd"));
    expect(await findInUnion(chain(), "/etc/group")).toBeUndefined();
    expect(await findInUnion([layer(top), layer(base)], "/etc/group")).toBe(join(base, "etc/group"));
    expect(await findInUnion(chain(), "/etc/shadowed")).toBe(join(mid, "etc/shadowed"));
    expect(await findInUnion(chain(), "/etc/shadowed/x")).toBeUndefined();
    // A directory over a directory merges them.
    expect(await findInUnion(chain(), "/data/file")).toBe(join(base, "data/file"));
    expect(await findInUnion(chain(), "/")).toBe(top);
  });

  it("an opaque directory hides what lower layers have under it (without the marker they show)", async () => {
    expect(await findInUnion(chain(), "/opq/new")).toBe(join(mid, "opq/new"));
    expect(await findInUnion(chain(), "/opq/old")).toBeUndefined();
    expect(await findInUnion([layer(top), layer(mid), layer(base)], "/opq/old")).toBe(join(base, "opq/old"));
    // An opaque root hides every layer below it.
    expect(await findInUnion([layer(top, [""]), layer(base)], "/etc/passwd")).toBeUndefined();
  });

  it("agrees with the kernel's overlay of the same layers", async () => {
    const merged = join(dir, "merged");
    await Promise.all(["merged", "upper", "work"].map((d) => mkdir(join(dir, d))));
    // The opaque marker as overlayfs reads it.
    await pexec("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(mid, "opq")]);
    await mountOverlay({
      lowerDirs: [top, mid, base],
      upperDir: join(dir, "upper"),
      workDir: join(dir, "work"),
      target: merged,
    });
    try {
      for (const p of [
        "etc/passwd",
        "etc/group",
        "etc/shadowed",
        "etc/shadowed/x",
        "opq/new",
        "opq/old",
        "data/file",
        "etc/os-release",
      ]) {
        const kernel = await readFile(join(merged, p), "utf8").catch(() => undefined);
        const found = await findInUnion(chain(), p);
        expect([
          p,
          found === undefined ? undefined : await readFile(found, "utf8").catch(() => undefined),
        ]).toEqual([p, kernel]);
      }
    } finally {
      await unmount(merged);
    }
  });

  it("follows a symlinked /etc and /etc/passwd inside the union, absolute and relative", async () => {
    const t = join(dir, "linked");
    await files(t, {
      etc: { link: "/alt/etc" },
      "alt/etc/passwd": { link: "../../real/passwd" },
      "real/passwd": "linked:x:5:6::/home/linked:/bin/sh\n",
    });
    const layers = [layer(t), layer(base)];
    expect(await findInUnion(layers, "/etc/passwd")).toBe(join(t, "real/passwd"));
    // The link's target is looked up in the union: a lower layer may hold it.
    expect(await findInUnion(layers, "/etc/../../usr/lib/os-release")).toBe(join(base, "usr/lib/os-release"));
    expect(await resolveUser((p) => findInUnion(layers, p), "linked", "img")).toEqual({
      uid: 5,
      gid: 6,
      additionalGids: [],
      home: "/home/linked",
      name: "linked",
    });
  });

  it("ATTACK: a symlink pointing out of the tree is resolved inside the union, never on the host", async () => {
    const t = join(dir, "evil");
    // Absolute, climbing and host-absolute links to the host's copy of passwd and group.
    await files(t, {
      etc: { link: `${outside}/etc` },
      "up/passwd": { link: "../../../../../../../../host/etc/passwd" },
    });
    const layers = [layer(t), layer(base)];
    const r = await lookupUnion(layers, "/etc/passwd");
    expect(r).toEqual({ found: false, problem: { why: "dangling", link: "etc", target: `${outside}/etc` } });
    expect(await findInUnion(layers, "/up/passwd")).toBeUndefined();
    // The user lookup sees no passwd: the host's user is unknown, a numeric one still works.
    await expect(resolveUser((p) => findInUnion(layers, p), "host", "img")).rejects.toMatchObject({
      code: "USER_NOT_FOUND",
    });
    expect(await resolveUser((p) => findInUnion(layers, p), "4242", "img")).toEqual({
      uid: 4242,
      gid: 0,
      additionalGids: [],
    });
    // A layer dir whose /etc is a host symlink takes no part in /etc: the lower layer's real one is not
    // reached through it either (the link wins, as in overlayfs).
    const l = join(dir, "loop");
    await files(l, { "etc/a": { link: "b" }, "etc/b": { link: "a" } });
    expect(await lookupUnion([layer(l)], "/etc/a")).toMatchObject({ found: false, problem: { why: "loop" } });
  });

  it("resolves the RUN user through the union: groups from the lower layer, a whiteout group file gives none", async () => {
    expect(await resolveUser((p) => findInUnion([layer(top), layer(base)], p), "app", "img")).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [50, 10],
      home: "/home/app",
      name: "app",
    });
    expect(await resolveUser((p) => findInUnion(chain(), p), "app", "img")).toMatchObject({
      additionalGids: [],
    });
  });
});
