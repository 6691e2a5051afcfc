/**
 * Container folders under `$BERTH_HOME/run/containers`, and the sweep of those a dead berth left behind.
 *
 * A berth killed while its container ran (SIGKILL, OOM, a lost CI runner) cannot unmount the container's root
 * or remove its folder and runtime state. So each folder records its owner, the pid and start time of the
 * process that made it (`owner`), and every new container first sweeps the folders whose owner is gone:
 * the orphaned container is killed and its runtime state deleted, its slirp4netns ended, its root unmounted and its
 * folder removed.
 * Kept containers (`--keep`) drop their owner file and are never swept.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OciLayout } from "../oci/layout/layout.ts";
import { isAlive, selfIdentity, sweepDeadOwners } from "../util/owner.ts";
import type { OciRuntime } from "./runtime.ts";

/**
 * What removing a dead container's leftovers needs (runtime state, network, name, mounts): loaded only when
 * there is one to remove. Every command sweeps, and finds nothing almost always (a no-change rebuild then
 * loaded these four modules, ~35 KB of source, for nothing).
 */
async function removal() {
  const [exec, mount, network, state] = await Promise.all([
    import("./exec.ts"),
    import("./mount.ts"),
    import("./network.ts"),
    import("./state.ts"),
  ]);
  return {
    cleanupState: exec.cleanupState,
    unmount: mount.unmount,
    stopNetwork: network.stopNetwork,
    readContainer: state.readContainer,
    releaseName: state.releaseName,
  };
}

const OWNER = "owner";

export interface ContainerDir {
  id: string;
  /** The container's folder (bundle dir: config.json, rootfs/, upper/, work/). */
  dir: string;
  /** The runtime's state root (`--root`). */
  stateDir: string;
}

function containerId(): string {
  return `berth-${randomBytes(8).toString("hex")}`;
}

function runDirs(home: string): { state: string; containers: string } {
  return { state: join(home, "run", "state"), containers: join(home, "run", "containers") };
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
  // synchronous: two folders and a small file, before each RUN's runtime (trips through libuv's pool wait for
  // a busy main thread)
  mkdirSync(dirs.state, { recursive: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, OWNER), `${selfIdentity()}\n`);
  return { id, dir, stateDir: dirs.state };
}

/** Make this process the owner of a container's folder (the detached supervisor taking over from `berth run -d`). */
export async function adoptContainerDir(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER), `${selfIdentity()}\n`);
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
    if (await isAlive(owner)) continue;
    const { cleanupState, stopNetwork, readContainer, releaseName, unmount } = await removal();
    await cleanupState({ runtime, stateDir: dirs.state, id });
    await stopNetwork(dir);
    const record = await readContainer(dir);
    if (record) await releaseName(home, record.record.name, id);
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

/**
 * Mount points at or under `dir`, deepest first (from this process's mount table): a running container's root,
 * a build's overlay. Sweeps unmount them; prune and store gc leave a tree with one inside alone.
 */
export async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const found: string[] = [];
  for (const line of table.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    if (point === dir || point.startsWith(`${dir}/`)) found.push(point);
  }
  return found.sort((a, b) => b.length - a.length);
}

/** Unmount everything mounted in `dir`; false when something stays mounted (the folder must not be removed). */
async function unmountAll(dir: string): Promise<boolean> {
  const points = await mountsUnder(dir);
  if (points.length > 0) {
    const { unmount } = await removal();
    for (const point of points) await unmount(point);
  }
  return (await mountsUnder(dir)).length === 0;
}

export interface LeftoversSwept {
  containers: string[];
  /** Temp folders and files (under `tmp/`, the Dockerfile cache's `tmp/`, `snapshots/tmp/`, the store). */
  temp: number;
}

/**
 * Sweep what berth processes that are gone (kill -9, OOM) left in `home`, by the owner pid and start time
 * each leftover records: container folders (with `runtime`: their runtime state is deleted, their root
 * unmounted), temp folders under `tmp/`, the Dockerfile cache's `tmp/` and `snapshots/tmp/` (anything mounted in them is
 * unmounted first; a folder that stays mounted is kept), and the store's leases and temp files. Entries
 * of live processes are never touched. Cheap when there is nothing to do: a few directory reads.
 */
export async function sweepLeftovers(
  home: string,
  options: { runtime?: () => Promise<OciRuntime | undefined> } = {},
): Promise<LeftoversSwept> {
  let containers: string[] = [];
  if (options.runtime && (await hasDeadContainers(home))) {
    const runtime = await options.runtime().catch(() => undefined);
    if (runtime) containers = await sweepContainers(home, runtime);
  }
  const beforeRemove = unmountAll;
  const swept = await Promise.all([
    sweepDeadOwners(join(home, "tmp"), { beforeRemove }),
    sweepDeadOwners(join(home, "cache", "dockerfile", "tmp"), { beforeRemove }),
    sweepDeadOwners(join(home, "snapshots", "tmp"), { beforeRemove }),
    OciLayout.open(join(home, "store")).then(
      (layout) => layout.sweep(),
      () => 0,
    ),
  ]);
  return { containers, temp: swept[0].length + swept[1].length + swept[2].length + swept[3] };
}

async function hasDeadContainers(home: string): Promise<boolean> {
  const dir = runDirs(home).containers;
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const owner = await readFile(join(dir, id, OWNER), "utf8").catch(() => undefined);
    if (owner !== undefined && !(await isAlive(owner))) return true;
  }
  return false;
}
