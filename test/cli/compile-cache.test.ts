/**
 * src/cli/compile-cache.ts: Node's compile cache goes to a per-user folder, so that a fresh BERTH_HOME starts
 * warm; a folder others could write (code read from it runs as berth) is refused for BERTH_HOME's place.
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chooseCompileCache } from "../../src/cli/compile-cache.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

const uid = process.geteuid?.() ?? 0;
const mode = (p: string) => statSync(p).mode & 0o7777;

async function fresh(): Promise<{ user: string; home: string; env: Record<string, string> }> {
  const dir = await tempDir("berth-compile-cache-");
  const user = join(dir, "user");
  mkdirSync(user);
  return { user, home: join(dir, "berth-home"), env: { HOME: user } };
}

describe("chooseCompileCache", () => {
  it("is ~/.cache/berth/node-compile, made 0700, whatever BERTH_HOME is", async () => {
    const { user, home, env } = await fresh();
    const cache = chooseCompileCache({ env, uid }, home);
    expect(cache).toEqual({ kind: "user", dir: join(user, ".cache", "berth", "node-compile") });
    expect(mode(join(user, ".cache", "berth"))).toBe(0o700);
    expect(mode(join(user, ".cache", "berth", "node-compile"))).toBe(0o700);
  });

  it("follows an absolute XDG_CACHE_HOME, not a relative one", async () => {
    const { user, home, env } = await fresh();
    const xdg = join(user, "xdg");
    expect(chooseCompileCache({ env: { ...env, XDG_CACHE_HOME: xdg }, uid }, home)).toEqual({
      kind: "user",
      dir: join(xdg, "berth", "node-compile"),
    });
    expect(chooseCompileCache({ env: { ...env, XDG_CACHE_HOME: "rel" }, uid }, home)).toEqual({
      kind: "user",
      dir: join(user, ".cache", "berth", "node-compile"),
    });
  });

  it("leaves Node's own variables in charge", async () => {
    const { user, home, env } = await fresh();
    const moved = chooseCompileCache({ env: { ...env, NODE_COMPILE_CACHE: "/elsewhere" }, uid }, home);
    expect(moved).toEqual({ kind: "node", why: "NODE_COMPILE_CACHE=/elsewhere" });
    const off = chooseCompileCache({ env: { ...env, NODE_DISABLE_COMPILE_CACHE: "1" }, uid }, home);
    expect(off.kind).toBe("node");
    expect(readdirSync(user)).toEqual([]);
  });

  it.each([
    [
      "berth/ writable by the group",
      (b: string) => chmodSync(b, 0o770),
      /berth is writable by others \(mode 770\)/,
    ],
    [
      "node-compile writable by others",
      (b: string) => {
        mkdirSync(join(b, "node-compile"), { mode: 0o700 });
        chmodSync(join(b, "node-compile"), 0o707);
      },
      /node-compile is writable by others/,
    ],
    ["berth/ another user's", (b: string) => chownSync(b, 4242, 4242), /berth belongs to user 4242/],
    [
      "node-compile a link to another folder",
      (b: string) => {
        mkdirSync(join(b, "..", "elsewhere"), { mode: 0o700 });
        symlinkSync(join(b, "..", "elsewhere"), join(b, "node-compile"));
      },
      /node-compile is not a folder/,
    ],
  ] as const)("refuses the user cache when %s: BERTH_HOME's place instead", async (_, spoil, why) => {
    const { user, home, env } = await fresh();
    const berthDir = join(user, ".cache", "berth");
    mkdirSync(berthDir, { recursive: true, mode: 0o700 });
    spoil(berthDir);
    const cache = chooseCompileCache({ env, uid }, home);
    expect(cache).toMatchObject({ kind: "home", dir: join(home, "cache", "node-compile") });
    expect(cache.kind === "home" && cache.why).toMatch(why);
    expect(mode(home)).toBe(0o700);
    expect(mode(join(home, "cache"))).toBe(0o700);
  });

  it("uses BERTH_HOME's place when HOME is unusable, and none in a shared BERTH_HOME", async () => {
    const { user, home } = await fresh();
    const file = join(user, "a-file");
    writeFileSync(file, "");
    const cache = chooseCompileCache({ env: { HOME: file }, uid }, home);
    expect(cache).toMatchObject({ kind: "home", dir: join(home, "cache", "node-compile") });
    expect(cache.kind === "home" && cache.why).toMatch(/a-file\/\.cache\/berth\/node-compile cannot be made/);
    const shared = join(user, "shared");
    mkdirSync(shared, { mode: 0o1777 });
    chmodSync(shared, 0o1777);
    expect(chooseCompileCache({ env: { HOME: file }, uid }, shared).kind).toBe("none");
    expect(readdirSync(shared)).toEqual([]);
  });
});

describe("berth's start", () => {
  it("a fresh BERTH_HOME finds the code the last one compiled, and holds no compile cache", async () => {
    const { user, home, env } = await fresh();
    const first = await berth(["--version"], { home, env });
    expect(first).toMatchObject({ code: 0, stdout: "0.1.0\n", stderr: "" });
    const cacheDir = join(user, ".cache", "berth", "node-compile");
    const [version] = readdirSync(cacheDir);
    const entries = readdirSync(join(cacheDir, version!)).length;
    expect(entries).toBeGreaterThan(0);
    const second = await berth(["--version"], { home: `${home}-2`, env });
    expect(second).toMatchObject({ code: 0, stdout: "0.1.0\n", stderr: "" });
    expect(readdirSync(join(cacheDir, version!)).length).toBe(entries);
    expect(readdirSync(join(home, "cache"))).toEqual([]);
    expect(readdirSync(join(`${home}-2`, "cache"))).toEqual([]);
  });

  it("says why under BERTH_DEBUG when it refuses the user cache, and compiles into BERTH_HOME's", async () => {
    const { user, home, env } = await fresh();
    mkdirSync(join(user, ".cache", "berth"), { recursive: true, mode: 0o777 });
    chmodSync(join(user, ".cache", "berth"), 0o777);
    const r = await berth(["--version"], { home, env: { ...env, BERTH_DEBUG: "1" } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^debug: compile cache: .*berth is writable by others \(mode 777\)\n$/);
    expect(readdirSync(join(user, ".cache", "berth"))).toEqual([]);
    expect(readdirSync(join(home, "cache", "node-compile")).length).toBe(1);
  });
});
