/**
 * Container folders under `$BERTH_HOME/run/containers`, and the sweep of those a dead berth left behind.
 *
 * A berth killed while its container ran (SIGKILL, OOM, a lost CI runner) cannot unmount the container's root
 * or remove its folder and runtime state. So each folder records its owner, the pid and start time of the
 * process that made it (`owner`), and every new container first sweeps the folders whose owner is gone:
 * the orphaned container is killed and its runtime state deleted, its root unmounted and its folder removed.
 * Kept containers (`--keep`) drop their owner file and are never swept.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cleanupState } from "./exec.ts";
import { unmount } from "./mount.ts";
import type { OciRuntime } from "./runtime.ts";

const OWNER = "owner";

export interface ContainerDir {
  id: string;
  /** The container's folder (bundle dir: config.json, rootfs/, upper/, work/). */
  dir: string;
  /** The runtime's state root (`--root`). */
  stateDir: string;
}

export function containerId(): string {
  return `berth-${randomBytes(8).toString("hex")}`;
}

export function runDirs(home: string): { state: string; containers: string } {
  return { state: join(home, "run", "state"), containers: join(home, "run", "containers") };
}

/** A process's identity that survives pid reuse: its pid and its start time (field 22 of /proc/PID/stat). */
async function processIdentity(pid: string): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const started = fields[22 - 3];
    return started ? `${text.slice(0, text.indexOf(" "))} ${started}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Make a new container folder owned by this process, after sweeping the folders of dead owners. `runtime`
 * deletes the runtime state an orphaned container left.
 */
export async function makeContainerDir(home: string, runtime: OciRuntime): Promise<ContainerDir> {
  const dirs = runDirs(home);
  await sweepContainers(home, runtime);
  const id = containerId();
  const dir = join(dirs.containers, id);
  await mkdir(dirs.state, { recursive: true });
  await mkdir(dir, { recursive: true });
  const self = await processIdentity("self");
  if (self) await writeFile(join(dir, OWNER), `${self}\n`);
  return { id, dir, stateDir: dirs.state };
}

/** Keep a container's folder for good: it is no longer swept when this process ends. */
export async function disownContainerDir(c: ContainerDir): Promise<void> {
  await rm(join(c.dir, OWNER), { force: true });
}

/**
 * Remove what the containers of dead berth processes left: runtime state (killing a container still running),
 * the mounted root, the folder. Returns the ids swept. Folders without an owner file (kept ones) stay.
 */
export async function sweepContainers(home: string, runtime: OciRuntime): Promise<string[]> {
  const dirs = runDirs(home);
  let ids: string[];
  try {
    ids = await readdir(dirs.containers);
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const id of ids) {
    const dir = join(dirs.containers, id);
    const owner = await readFile(join(dir, OWNER), "utf8").catch(() => undefined);
    if (owner === undefined) continue;
    const [pid] = owner.trim().split(" ");
    if (pid && (await processIdentity(pid)) === owner.trim()) continue;
    await cleanupState({ runtime, stateDir: dirs.state, id });
    const rootfs = join(dir, "rootfs");
    if (await isMountPoint(rootfs, dir)) await unmount(rootfs);
    await rm(dir, { recursive: true, force: true });
    swept.push(id);
  }
  return swept;
}

/** Whether `path` is a mount point over `parent`'s filesystem (an overlay root left mounted). */
async function isMountPoint(path: string, parent: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(path), stat(parent)]);
    return a.dev !== b.dev;
  } catch {
    return false;
  }
}
