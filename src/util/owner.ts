/**
 * Process identities that survive pid reuse: a pid and its start time (field 22 of /proc/PID/stat, in clock
 * ticks since boot). Leftovers (container folders, temp files, store leases, lock folders) record their
 * owner's identity, so the next berth can tell at once whether the process that made them is gone: a
 * killed berth (SIGKILL, OOM, a lost CI runner) cannot clean up after itself.
 */
import { readFileSync } from "node:fs";
import { lstat, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

/** `"<pid> <starttime>"` of a /proc/PID/stat text, or undefined. */
function parseStat(text: string): string | undefined {
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const started = fields[22 - 3];
  return started ? `${text.slice(0, text.indexOf(" "))} ${started}` : undefined;
}

/** The identity (`"<pid> <starttime>"`) of a running process, or undefined when there is none with that pid. */
export async function processIdentity(pid: string | number): Promise<string | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

let self: string | undefined;

/** This process's identity, `"<pid> <starttime>"` (read once). */
export function selfIdentity(): string {
  if (self === undefined) {
    self = parseStat(readFileSync("/proc/self/stat", "utf8"));
    if (self === undefined) throw new Error("cannot read this process's start time from /proc/self/stat");
  }
  return self;
}

/** Whether the process of an identity (as `selfIdentity` gives it) still runs. */
export async function isAlive(identity: string): Promise<boolean> {
  const id = identity.trim();
  const [pid] = id.split(" ");
  if (!pid || !/^\d+$/.test(pid)) return false;
  return (await processIdentity(pid)) === id;
}

/** The owner's identity in a file name: `p<pid>t<starttime>`. */
export function ownerTag(identity = selfIdentity()): string {
  const [pid, start] = identity.split(" ");
  return `p${pid}t${start}`;
}

const TAG = /(?:^|[-.])p(\d+)t(\d+)(?=[-.]|$)/;

/** The owner identity a file name made with `ownerTag` carries, or undefined for a name without one. */
export function ownerOfName(name: string): string | undefined {
  const m = TAG.exec(name);
  return m ? `${m[1]} ${m[2]}` : undefined;
}

export interface SweepOptions {
  /** Entries without an owner in their name older than this many ms are removed too (default: kept). */
  untaggedOlderThan?: number;
  /** Runs before an entry is removed (to unmount what is mounted in it); false keeps the entry. */
  beforeRemove?: (path: string) => Promise<boolean>;
  /** The current time in ms, for `untaggedOlderThan` (default: the clock). */
  now?: number;
}

/**
 * Remove the entries of `dir` whose name carries the owner tag of a process that is gone (and, with
 * `untaggedOlderThan`, old entries without a tag). Returns the names removed. A missing `dir` is nothing to do.
 */
export async function sweepDeadOwners(dir: string, options: SweepOptions = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const alive = new Map<string, boolean>();
  for (const name of names) {
    const owner = ownerOfName(name);
    const path = join(dir, name);
    if (owner === undefined) {
      if (options.untaggedOlderThan === undefined) continue;
      const st = await lstat(path).catch(() => undefined);
      const now = options.now ?? Date.now();
      if (!st || st.mtimeMs >= now - options.untaggedOlderThan) continue;
    } else {
      let live = alive.get(owner);
      if (live === undefined) {
        live = await isAlive(owner);
        alive.set(owner, live);
      }
      if (live) continue;
    }
    if (options.beforeRemove && !(await options.beforeRemove(path))) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}
