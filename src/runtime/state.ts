/**
 * What `berth ps`, `stop`, `kill`, `logs`, `rm` and `exec` know of a container: its record
 * (`container.json`: id, name, image, command, runtime, how it runs), its exit (`exit.json`, written once
 * it has ended), its output (`log.json`, for detached containers) and its owner (the berth process that
 * runs it: the foreground `berth run`, or the detached supervisor), all in its folder under
 * `$BERTH_HOME/run/containers/<id>`. Names are links in `$BERTH_HOME/run/names`: claiming one is a single
 * `symlink`, so two containers never get the same name.
 */
import { mkdir, readdir, readFile, readlink, rm, symlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../errors.ts";
import { exists, writeFileAtomic } from "../util/fs.ts";
import { isAlive } from "../util/owner.ts";
import type { PortMapping } from "./network.ts";
import type { RuntimeName } from "./runtime.ts";
import type { NetworkMode } from "./spec.ts";

const RECORD_FILE = "container.json";
const EXIT_FILE = "exit.json";
export const LOG_FILE = "log.json";
const OWNER_FILE = "owner";

/** Where container folders live (sweep.ts's `containersDir(home)`). */
function containersDir(home: string): string {
  return join(home, "run", "containers");
}

export interface ContainerRecord {
  schemaVersion: 1;
  id: string;
  /** `--name`; undefined: none (ps shows the short id). */
  name?: string;
  /** The image as given, and its digest. */
  image: string;
  imageDigest: string;
  /** The argv run (after the init, when there is one). */
  command: string[];
  /** ISO 8601. */
  created: string;
  runtime: { name: RuntimeName; path: string };
  /** The runtime's state root (`--root`). */
  stateDir: string;
  /** Run by a detached supervisor (`-d`): its output is in `log.json`. */
  detached: boolean;
  /** Removed once it ends (`--rm`; always for a foreground run without `--keep`). */
  autoRemove: boolean;
  terminal: boolean;
  /** The image's StopSignal (`berth stop` sends it, else SIGTERM). */
  stopSignal?: string;
  network: NetworkMode;
  ports: PortMapping[];
  /** The root is an overlay mount (to undo when it ends). */
  mounted: boolean;
}

export interface ExitRecord {
  exitCode: number;
  /** ISO 8601. */
  finishedAt: string;
  /** Why it never ran, when berth or the runtime failed to start it. */
  error?: string;
}

export type ContainerStatus = "created" | "running" | "exited" | "dead";

export interface ContainerInfo {
  record: ContainerRecord;
  dir: string;
  status: ContainerStatus;
  exit?: ExitRecord | undefined;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker's rule for container names. */
export function checkName(name: string): void {
  if (!NAME.test(name) || name.length > 128) {
    throw new BerthError(
      "USAGE",
      `invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (two characters at least)`,
    );
  }
}

function namesDir(home: string): string {
  return join(home, "run", "names");
}

/**
 * Claim `name` for the container `id`. A name whose container is gone (removed, swept) is taken over; one
 * in use is refused with docker's sentence.
 */
export async function claimName(home: string, name: string, id: string): Promise<void> {
  checkName(name);
  const dir = namesDir(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const link = join(dir, name);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await symlink(id, link);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = await readlink(link).catch(() => undefined);
    if (holder !== undefined && (await exists(join(containersDir(home), holder, RECORD_FILE)))) {
      throw new BerthError(
        "CONTAINER_CONFLICT",
        `the container name "${name}" is already in use by container ${shortId(holder)}: you have to remove (or rename) that container to be able to reuse that name`,
        { hint: `berth rm -f ${name}, or choose another --name` },
      );
    }
    await unlink(link).catch(() => undefined);
  }
  throw new BerthError(
    "CONTAINER_CONFLICT",
    `the container name "${name}" is being claimed by another berth`,
  );
}

/** Let go of `name` if `id` holds it. */
export async function releaseName(home: string, name: string | undefined, id: string): Promise<void> {
  if (!name) return;
  const link = join(namesDir(home), name);
  if ((await readlink(link).catch(() => undefined)) === id) await unlink(link).catch(() => undefined);
}

/** The id as ps shows it: 12 hex digits. */
export function shortId(id: string): string {
  return id.replace(/^berth-/, "").slice(0, 12);
}

async function readJson<T>(p: string): Promise<T | undefined> {
  const text = await readFile(p, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export async function writeRecord(dir: string, record: ContainerRecord): Promise<void> {
  await writeFileAtomic(join(dir, RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
}

export async function writeExit(dir: string, exit: ExitRecord): Promise<void> {
  await writeFileAtomic(join(dir, EXIT_FILE), `${JSON.stringify(exit)}\n`);
}

/** A container's record and status from its folder; undefined for a folder that is no container (a build step's). */
export async function readContainer(dir: string): Promise<ContainerInfo | undefined> {
  const record = await readJson<ContainerRecord>(join(dir, RECORD_FILE));
  if (record?.schemaVersion !== 1 || typeof record.id !== "string") return undefined;
  const exit = await readJson<ExitRecord>(join(dir, EXIT_FILE));
  let status: ContainerStatus;
  if (exit) status = "exited";
  else {
    const owner = await readFile(join(dir, OWNER_FILE), "utf8").catch(() => undefined);
    if (owner === undefined || !(await isAlive(owner))) status = "dead";
    else status = (await exists(join(record.stateDir, record.id))) ? "running" : "created";
  }
  return { record, dir, status, exit };
}

/** Every container in `home`, newest first. */
export async function listContainers(home: string): Promise<ContainerInfo[]> {
  const root = containersDir(home);
  const ids = await readdir(root).catch(() => [] as string[]);
  const found = await Promise.all(ids.map((id) => readContainer(join(root, id))));
  return found
    .filter((c): c is ContainerInfo => c !== undefined)
    .sort((a, b) => b.record.created.localeCompare(a.record.created));
}

/** The container a name, an id or a unique prefix of an id names (docker's rules). */
export async function findContainer(home: string, ref: string): Promise<ContainerInfo> {
  const all = await listContainers(home);
  const byName = all.find((c) => c.record.name === ref);
  if (byName) return byName;
  const bare = ref.replace(/^berth-/, "");
  const matches = bare ? all.filter((c) => c.record.id.replace(/^berth-/, "").startsWith(bare)) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new BerthError("CONTAINER_NOT_FOUND", `${JSON.stringify(ref)} names ${matches.length} containers`, {
      hint: "give more of the id, or the name",
    });
  }
  throw new BerthError("CONTAINER_NOT_FOUND", `no such container: ${ref}`, {
    hint: "berth ps -a lists the containers",
  });
}

/** Remove a container's folder and name (the container must have ended). */
export async function removeContainerFiles(home: string, c: ContainerInfo): Promise<void> {
  await releaseName(home, c.record.name, c.record.id);
  await rm(c.dir, { recursive: true, force: true });
}
