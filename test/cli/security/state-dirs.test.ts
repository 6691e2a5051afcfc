/**
 * Issue 19: BERTH_HOME and its folders were made 0755, so setuid-root files of any image (applied under
 * snapshots/) sat in world-traversable folders: with BERTH_HOME outside /root, any local user could run them
 * as root. BERTH_HOME, snapshots/, run/, cache/ and tmp/ are now 0700; an existing home is tightened with a
 * one-line warning.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmod, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";

let dir: string;

const PRIVATE = ["", "snapshots", "run", "cache", "tmp"];
const modeOf = async (p: string) => (await stat(p)).mode & 0o7777;

beforeAll(async () => {
  dir = await tempDir();
  // As if BERTH_HOME lived in a world-traversable place (/var/lib, /srv, a CI workspace).
  await chmod(dir, 0o755);
});

describe("BERTH_HOME's state folders are private", () => {
  it("a fresh home is made 0700 with snapshots/, run/, cache/ and tmp/, silently", async () => {
    const home = join(dir, "fresh", "berth");
    const r = await berth(["images"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    for (const d of PRIVATE) expect((await modeOf(join(home, d))).toString(8), d).toBe("700");
  });

  it("a home made 0755 before is tightened, with one warning line, once", async () => {
    const home = join(dir, "old");
    for (const d of PRIVATE) await mkdir(join(home, d), { recursive: true, mode: 0o755 });
    for (const d of PRIVATE) await chmod(join(home, d), 0o755);
    const r = await berth(["images"], { home });
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning:"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(home, "snapshots"));
    expect(warnings[0]).toMatch(/made 0700/);
    for (const d of PRIVATE) expect((await modeOf(join(home, d))).toString(8), d).toBe("700");
    const again = await berth(["images"], { home });
    expect(again.stderr).not.toMatch(/warning:/);
  });

  it("refuses a shared folder (sticky, as /tmp) as BERTH_HOME and leaves it alone", async () => {
    const shared = join(dir, "shared");
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const r = await berth(["images"], { home: shared });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/shared folder/);
    expect((await modeOf(shared)).toString(8)).toBe("1777");
  });

  it("another user cannot reach a setuid file of an image applied under snapshots/", async () => {
    const home = join(dir, "run-home");
    const layout = join(dir, "img");
    await busyboxImage(layout, "t", { cmd: ["true"] }, [
      [{ path: "usr/local/bin/suid-tool", content: "#!/bin/sh\nid\n", mode: 0o4755 }],
    ]);
    expect((await berth(["copy", `oci:${layout}:t`, "suid:1"], { home })).code).toBe(0);
    const r = await berth(["run", "--network", "none", "suid:1"], { home });
    expect(r.code, r.stderr).toBe(0);
    const found = execFileSync("find", [join(home, "snapshots"), "-name", "suid-tool", "-perm", "-4000"])
      .toString()
      .trim()
      .split("\n")
      .filter(Boolean);
    expect(found.length).toBeGreaterThan(0);
    for (const file of found) {
      const asNobody = spawnSync(
        "setpriv",
        ["--reuid=65534", "--regid=65534", "--clear-groups", "stat", "-c", "%a", file],
        { encoding: "utf8" },
      );
      expect(asNobody.status, asNobody.stdout).not.toBe(0);
      expect(asNobody.stderr).toMatch(/Permission denied/);
    }
  });
});
