/**
 * src/util/user-cache.ts: a per-user cache folder by name (cli/compile-cache.test.ts and util/compile.test.ts
 * test its uses), refused for BERTH_HOME's place when it is a link, another user's or open to others.
 */
import { chmodSync, mkdirSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cacheFolder, unsafeFolder } from "../../src/util/user-cache.ts";
import { tempDir } from "../helpers/temp.ts";

const uid = process.geteuid?.() ?? 0;

describe("cacheFolder", () => {
  it("is XDG_CACHE_HOME (or ~/.cache)/berth/<name>, 0700; BERTH_HOME's cache/<name> when refused", async () => {
    const dir = await tempDir("berth-user-cache-");
    const home = join(dir, "berth-home");
    expect(cacheFolder({ env: { HOME: dir }, uid }, home, "programs")).toEqual({
      kind: "user",
      dir: join(dir, ".cache", "berth", "programs"),
    });
    expect(statSync(join(dir, ".cache", "berth", "programs")).mode & 0o777).toBe(0o700);
    const xdg = join(dir, "xdg");
    mkdirSync(join(xdg, "berth"), { recursive: true });
    symlinkSync(join(dir, ".cache", "berth", "programs"), join(xdg, "berth", "programs"));
    expect(cacheFolder({ env: { XDG_CACHE_HOME: xdg }, uid }, home, "programs")).toEqual({
      kind: "home",
      dir: join(home, "cache", "programs"),
      why: `${join(xdg, "berth", "programs")} is not a folder`,
    });
  });

  it("unsafeFolder: this user's 0700 folder is fine, a missing one throws", async () => {
    const user = await tempDir("berth-user-cache-");
    chmodSync(user, 0o700);
    expect(unsafeFolder(user, uid)).toBeUndefined();
    expect(() => unsafeFolder(join(user, "missing"), uid)).toThrow(/ENOENT/);
  });
});
