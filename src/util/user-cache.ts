import { lstatSync, type Stats, statSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { privateDir } from "./home.ts";

/**
 * Per-user cache folders for what berth would make the same again in any BERTH_HOME (V8's code for berth's own
 * modules: cli/compile-cache.ts; berth's compiled C helpers: ./compile.ts), so that a fresh BERTH_HOME (every
 * cold build, every CI job) starts warm and is still a fresh berth (they hold no state).
 *
 * - `${XDG_CACHE_HOME:-~/.cache}/berth/<name>`, made `0700`. What is read from there runs as berth (or is
 *   copied into images), so the folder and `berth/` are refused when they are not plain folders of this user's,
 *   or are writable by group or others.
 * - Refused, or the user cache cannot be made (no usable HOME, a read-only one): `$BERTH_HOME/cache/<name>`
 *   (BERTH_HOME and `cache/` made 0700 first), except in a shared (sticky) BERTH_HOME, which main.ts refuses.
 */
export type CacheFolder =
  | { kind: "user"; dir: string }
  | { kind: "home"; dir: string; why: string }
  | { kind: "none"; why: string };

/** Whose cache: the variables that place it (HOME, XDG_CACHE_HOME) and the user that must own it. */
export interface CacheProcess {
  env: Record<string, string | undefined>;
  uid: number;
}

/** Why `dir` may not hold code berth runs; undefined when it may (`refusedFolder`). */
export function unsafeFolder(dir: string, uid: number): string | undefined {
  return refusedFolder(dir, lstatSync(dir), uid);
}

/**
 * Why a folder (`st`: its lstat) may not hold what berth trusts without checking it (code it runs here, the
 * memo that overlayfs works: runtime/mount.ts); undefined when it may: a plain folder of `uid`'s that no one else
 * can write, so no one else can put or replace an entry. Others may read it: nothing such a folder holds is
 * secret (V8's code for berth's own modules, helpers compiled from berth's sources, a marker named by boot id).
 */
export function refusedFolder(dir: string, st: Stats, uid: number): string | undefined {
  if (!st.isDirectory()) return `${dir} is not a folder`;
  if (st.uid !== uid) return `${dir} belongs to user ${st.uid}, not ${uid}`;
  if (st.mode & 0o022) return `${dir} is writable by others (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/**
 * The per-user cache folder `name`, made 0700 where missing (only once berth/ is found safe, so that nothing
 * is made in a folder refused); a sentence when it cannot be used.
 */
function userCache(p: CacheProcess, name: string): { dir: string } | { why: string } {
  const xdg = p.env.XDG_CACHE_HOME;
  let berth: string;
  try {
    berth = join(xdg && isAbsolute(xdg) ? xdg : join(p.env.HOME || homedir(), ".cache"), "berth");
  } catch (err) {
    return { why: `no home folder: ${(err as Error).message}` };
  }
  const dir = join(berth, name);
  try {
    privateDir(berth, true);
    const refused = unsafeFolder(berth, p.uid);
    if (refused) return { why: refused };
    privateDir(dir);
    const why = unsafeFolder(dir, p.uid);
    return why ? { why } : { dir };
  } catch (err) {
    return { why: `${dir} cannot be made: ${(err as Error).message}` };
  }
}

/** The cache under BERTH_HOME, the fallback; undefined in a shared BERTH_HOME (main.ts refuses it). */
function homeCache(home: string, name: string): string | undefined {
  // a shared folder (sticky, as /tmp) is refused by main.ts: nothing is made in it
  if ((privateDir(home, true) ?? statSync(home)).mode & 0o1000) return undefined;
  privateDir(join(home, "cache"));
  return join(home, "cache", name);
}

/** The cache folder `name` for this process, made where missing (BERTH_HOME is `home`). */
export function cacheFolder(p: CacheProcess, home: string, name: string): CacheFolder {
  const user = userCache(p, name);
  if ("dir" in user) return { kind: "user", dir: user.dir };
  try {
    const dir = homeCache(home, name);
    return dir
      ? { kind: "home", dir, why: user.why }
      : { kind: "none", why: `${user.why}; BERTH_HOME is shared` };
  } catch (err) {
    // an unwritable BERTH_HOME: main.ts reports it
    return { kind: "none", why: `${user.why}; ${(err as Error).message}` };
  }
}
