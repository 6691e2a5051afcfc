import module from "node:module";
import { type CacheFolder, type CacheProcess, cacheFolder } from "../util/user-cache.ts";

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
export type CompileCache = CacheFolder | { kind: "node"; why: string };

/** The compile cache's folder for this process, made where missing (BERTH_HOME is `home`). */
export function chooseCompileCache(p: CacheProcess, home: string): CompileCache {
  if (p.env.NODE_DISABLE_COMPILE_CACHE)
    return { kind: "node", why: "disabled by NODE_DISABLE_COMPILE_CACHE" };
  if (p.env.NODE_COMPILE_CACHE)
    return { kind: "node", why: `NODE_COMPILE_CACHE=${p.env.NODE_COMPILE_CACHE}` };
  return cacheFolder(p, home, "node-compile");
}

/** Turn Node's compile cache on in the folder chosen (nothing to do when Node's variables decided). */
export function enableCompileCache(p: CacheProcess, home: string): CompileCache {
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
