/**
 * Finding a program on a PATH: each `:`-separated folder in turn, the first file of that name this process may
 * execute. A name holding a `/` is not looked up: it is that file (as execvp's). The callers choose how strict
 * "executable" is (a regular file, or anything `access(X_OK)` allows, which for root is any folder) and what an
 * empty PATH entry means; each passes its own PATH (the host's, or the system one when it has none).
 */
import { accessSync, constants, statSync } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join, resolve } from "node:path";

/** The PATH searched when there is none: the system folders. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ExecutableOptions {
  /**
   * Only a regular file (links followed) with an execute bit counts; otherwise whatever `access(X_OK)`
   * allows, a folder included (root may search any).
   */
  regularFile?: boolean;
}

export interface WhichOptions extends ExecutableOptions {
  /**
   * An empty entry (`a::b`, a leading or trailing `:`) is the working directory, as the shell's, and every
   * candidate is made absolute; otherwise empty entries are skipped and a candidate is `join(entry, name)`.
   */
  emptyIsCwd?: boolean;
}

/** Whether `path` may be executed by this process (see ExecutableOptions). */
export async function isExecutable(path: string, o: ExecutableOptions = {}): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    if (!o.regularFile) return true;
    return fileWithExecuteBit(await stat(path));
  } catch {
    return false;
  }
}

/** isExecutable, synchronously. */
export function isExecutableSync(path: string, o: ExecutableOptions = {}): boolean {
  try {
    accessSync(path, constants.X_OK);
    return !o.regularFile || fileWithExecuteBit(statSync(path));
  } catch {
    return false;
  }
}

function fileWithExecuteBit(st: { isFile(): boolean; mode: number }): boolean {
  return st.isFile() && (st.mode & 0o111) !== 0;
}

/** The files `name` may be on `searchPath`, in order. */
function candidates(name: string, searchPath: string, o: WhichOptions): string[] {
  if (name.includes("/")) return [resolve(name)];
  const out: string[] = [];
  for (const dir of searchPath.split(delimiter)) {
    if (o.emptyIsCwd) out.push(resolve(dir || ".", name));
    else if (dir) out.push(join(dir, name));
  }
  return out;
}

/** The first executable `name` on `searchPath`, or undefined. */
export async function which(
  name: string,
  searchPath: string,
  o: WhichOptions = {},
): Promise<string | undefined> {
  for (const c of candidates(name, searchPath, o)) {
    if (await isExecutable(c, o)) return c;
  }
  return undefined;
}

/** which, synchronously (for a caller that must not wait on the event loop between its file checks). */
export function whichSync(name: string, searchPath: string, o: WhichOptions = {}): string | undefined {
  return candidates(name, searchPath, o).find((c) => isExecutableSync(c, o));
}
