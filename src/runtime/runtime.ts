/**
 * Find the OCI runtime to use: runc, else crun, or the one forced by name or path. The search is synchronous (an
 * access(2) per PATH entry, once a process): a RUN waits for it, and each asynchronous check was a trip through
 * libuv's pool behind whatever the build's thread was doing (a one-file rebuild's RUN waited up to 58 ms).
 */
import { basename } from "node:path";
import { BerthError } from "../errors.ts";
import { isExecutableSync, SYSTEM_PATH, whichSync } from "../util/which.ts";

export type RuntimeName = "runc" | "crun";

export interface OciRuntime {
  name: RuntimeName;
  /** Absolute path of the binary. */
  path: string;
}

export interface FindRuntimeOptions {
  /** "runc", "crun" or a path to either; default: the first of runc, crun found on `path`. */
  want?: string | undefined;
  /** The PATH to search (a `:`-separated list). */
  path?: string | undefined;
}

export const RUNTIMES: readonly RuntimeName[] = ["runc", "crun"];

const cache = new Map<string, OciRuntime>();

export async function findRuntime(options: FindRuntimeOptions = {}): Promise<OciRuntime> {
  const searchPath = options.path || SYSTEM_PATH;
  const want = options.want?.trim() || undefined;
  const key = `${want ?? ""}\0${searchPath}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let found: OciRuntime | undefined;
  if (want?.includes("/")) {
    const name = basename(want).startsWith("crun") ? "crun" : "runc";
    if (!isExecutableSync(want)) {
      throw new BerthError("RUNTIME_NOT_FOUND", `the OCI runtime ${want} is not an executable file`, {
        hint: "give --runtime runc|crun or a path to one",
      });
    }
    found = { name, path: want };
  } else if (want) {
    if (!RUNTIMES.includes(want as RuntimeName)) {
      throw new BerthError("USAGE", `unknown OCI runtime ${JSON.stringify(want)}: use runc or crun`);
    }
    const p = whichSync(want, searchPath);
    if (!p) {
      throw new BerthError("RUNTIME_NOT_FOUND", `the OCI runtime ${want} is not installed (not on PATH)`, {
        hint: `install it (Debian/Ubuntu: apt-get install ${want}; Fedora: dnf install ${want})`,
      });
    }
    found = { name: want as RuntimeName, path: p };
  } else {
    for (const name of RUNTIMES) {
      const p = whichSync(name, searchPath);
      if (p) {
        found = { name, path: p };
        break;
      }
    }
    if (!found) {
      throw new BerthError(
        "RUNTIME_NOT_FOUND",
        "no OCI runtime found: berth runs containers with runc or crun",
        {
          hint: "install one (Debian/Ubuntu: apt-get install runc; Fedora: dnf install crun), or set BERTH_RUNTIME to its path",
        },
      );
    }
  }
  cache.set(key, found);
  return found;
}
