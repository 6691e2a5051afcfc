import { mkdirSync, type Stats, statSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../errors.ts";

/**
 * BERTH_HOME's folders that hold image roots as files (setuid binaries, device nodes): applied layers
 * (`snapshots/`), containers' roots and state (`run/`), build caches and stack trees (`cache/`), edits and
 * builds in progress (`tmp/`). With BERTH_HOME they are `0700`: any other local user who could reach a setuid
 * root binary of an image there could run it as root. The store holds blobs only (compressed tars, nothing
 * executable as it lies) and is kept private by BERTH_HOME's own mode.
 */
const PRIVATE_DIRS = ["snapshots", "run", "cache", "tmp"] as const;

/**
 * Create BERTH_HOME and its PRIVATE_DIRS `0700` where they are missing (modes of existing ones are left to
 * `secureHome`, which the CLI runs): library entry points that make folders under BERTH_HOME call it first, so
 * that a home a library user's first call creates is private too.
 */
export async function makePrivateHome(home: string): Promise<void> {
  privateDir(home, true);
  for (const name of PRIVATE_DIRS) privateDir(join(home, name));
}

/**
 * `dir`'s stat, made `0700` first when it is missing (undefined when something that is not there, a dangling
 * link, holds the name). A stat first: the folders are there on every run but the first, and each mkdir failing
 * with EEXIST cost an exception (a build made ~30).
 */
export function privateDir(dir: string, recursive = false): Stats | undefined {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st) return st;
  try {
    mkdirSync(dir, { recursive, mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return statSync(dir, { throwIfNoEntry: false });
}

/**
 * Make BERTH_HOME and its PRIVATE_DIRS `0700`, creating what is missing; returns the folders that were open to
 * other users and have been tightened (the caller says so). A shared folder (sticky bit, as /tmp) is refused
 * as BERTH_HOME rather than changed.
 */
export async function secureHome(home: string): Promise<string[]> {
  const st = privateDir(home, true) ?? statSync(home);
  if (st.mode & 0o1000) {
    throw new BerthError(
      "USAGE",
      `BERTH_HOME ${home} is a shared folder (sticky bit set, as /tmp): berth keeps image roots there that must not be reachable by other users`,
      { hint: "point BERTH_HOME at a folder of its own, e.g. /var/lib/berth or ~/.local/share/berth" },
    );
  }
  const tightened: string[] = [];
  const tighten = async (dir: string, mode: number) => {
    if ((mode & 0o077) === 0) return;
    try {
      await chmod(dir, mode & 0o7700);
    } catch (err) {
      throw new BerthError(
        "IO",
        `${dir} is open to other users (mode ${(mode & 0o7777).toString(8)}) and could not be made 0700: ${(err as Error).message}`,
        { cause: err, hint: `chmod 700 ${dir}` },
      );
    }
    tightened.push(dir);
  };
  await tighten(home, st.mode);
  for (const name of PRIVATE_DIRS) {
    const dir = join(home, name);
    await tighten(dir, (privateDir(dir) ?? statSync(dir)).mode);
  }
  return tightened;
}
