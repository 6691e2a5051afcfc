import { lstatSync, mkdirSync, statSync } from "node:fs";
import module from "node:module";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

/**
 * Where V8's compiled code for berth's own modules is kept (Node's compile cache, keyed by Node on each file's
 * content and Node's version), so that a command skips parsing and compiling them (most of a short command's
 * start). It is a per-user cache, not BERTH_HOME's: a fresh BERTH_HOME (every cold build, every CI job) starts
 * warm, and stays a fresh berth (the cache holds no state, only code berth would compile the same again).
 *
 * - `NODE_COMPILE_CACHE` / `NODE_DISABLE_COMPILE_CACHE` (Node's own variables) move or disable it, as for any
 *   Node program: Node has then done so before berth runs, and berth leaves it as it is.
 * - Else `${XDG_CACHE_HOME:-~/.cache}/berth/node-compile`, made `0700`. Code read from there runs as berth, so
 *   the folder and `berth/` are refused when they are not plain folders of this user's, or are writable by
 *   group or others (anyone who can write there can run code as whoever runs berth).
 * - Refused, or the user cache cannot be made (no usable HOME, a read-only one): under BERTH_HOME as before
 *   (`$BERTH_HOME/cache/node-compile`, BERTH_HOME and `cache/` made 0700 first), except in a shared (sticky)
 *   BERTH_HOME, which main.ts refuses: there berth goes on without a cache.
 */
export type CompileCache =
  | { kind: "user"; dir: string }
  | { kind: "home"; dir: string; why: string }
  | { kind: "node"; why: string }
  | { kind: "none"; why: string };

interface Process {
  env: Record<string, string | undefined>;
  uid: number;
}

/** Why `dir` may not hold code berth runs; undefined when it may (this user's plain folder, closed to others). */
export function unsafeFolder(dir: string, uid: number): string | undefined {
  const st = lstatSync(dir);
  if (!st.isDirectory()) return `${dir} is not a folder`;
  if (st.uid !== uid) return `${dir} belongs to user ${st.uid}, not ${uid}`;
  if (st.mode & 0o022) return `${dir} is writable by others (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** `dir` made `0700` where missing (its parents too when `recursive`). */
function makePrivate(dir: string, recursive = false): void {
  try {
    mkdirSync(dir, { recursive, mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}

/**
 * The per-user cache folder, made 0700 where missing (node-compile only once berth/ is found safe, so that
 * nothing is made in a folder refused); a sentence when it cannot be used.
 */
function userCache(p: Process): { dir: string } | { why: string } {
  const xdg = p.env.XDG_CACHE_HOME;
  let berth: string;
  try {
    berth = join(xdg && isAbsolute(xdg) ? xdg : join(p.env.HOME || homedir(), ".cache"), "berth");
  } catch (err) {
    return { why: `no home folder: ${(err as Error).message}` };
  }
  const dir = join(berth, "node-compile");
  try {
    makePrivate(berth, true);
    const refused = unsafeFolder(berth, p.uid);
    if (refused) return { why: refused };
    makePrivate(dir);
    const why = unsafeFolder(dir, p.uid);
    return why ? { why } : { dir };
  } catch (err) {
    return { why: `${dir} cannot be made: ${(err as Error).message}` };
  }
}

/** The cache under BERTH_HOME, the fallback; undefined in a shared BERTH_HOME (main.ts refuses it). */
function homeCache(home: string): string | undefined {
  makePrivate(home, true);
  // a shared folder (sticky, as /tmp) is refused by main.ts: nothing is made in it
  if (statSync(home).mode & 0o1000) return undefined;
  makePrivate(join(home, "cache"));
  return join(home, "cache", "node-compile");
}

/** The compile cache's folder for this process, made where missing (BERTH_HOME is `home`). */
export function chooseCompileCache(p: Process, home: string): CompileCache {
  if (p.env.NODE_DISABLE_COMPILE_CACHE)
    return { kind: "node", why: "disabled by NODE_DISABLE_COMPILE_CACHE" };
  if (p.env.NODE_COMPILE_CACHE)
    return { kind: "node", why: `NODE_COMPILE_CACHE=${p.env.NODE_COMPILE_CACHE}` };
  const user = userCache(p);
  if ("dir" in user) return { kind: "user", dir: user.dir };
  try {
    const dir = homeCache(home);
    return dir
      ? { kind: "home", dir, why: user.why }
      : { kind: "none", why: `${user.why}; BERTH_HOME is shared` };
  } catch (err) {
    // an unwritable BERTH_HOME: main.ts reports it
    return { kind: "none", why: `${user.why}; ${(err as Error).message}` };
  }
}

/** Turn Node's compile cache on in the folder chosen (nothing to do when Node's variables decided). */
export function enableCompileCache(p: Process, home: string): CompileCache {
  const cache = chooseCompileCache(p, home);
  switch (cache.kind) {
    case "user":
    case "home":
      module.enableCompileCache?.(cache.dir);
      return cache;
    case "node":
    case "none":
      return cache;
  }
}
