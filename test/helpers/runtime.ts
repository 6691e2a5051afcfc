/** Container folders as berth's runtime leaves them in `$BERTH_HOME/run`, made by hand for state, control and sweep tests. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ContainerRecord, writeExit, writeRecord } from "../../src/runtime/state.ts";

export interface FolderOptions {
  name?: string | undefined;
  /** ISO 8601 (listing order); default 2026-01-01. */
  created?: string;
  /** The owner file's content (`selfIdentity()`, a dead one…); none: a kept container. */
  owner?: string;
  /** Write `exit.json` with this code. */
  exit?: number;
  /** Make the runtime's state folder (`run/state/<id>`): the container counts as running while its owner lives. */
  running?: boolean;
  /** Claim `name` with its link in `run/names`. */
  claim?: boolean;
}

/** A container's folder with its record (runc, network none, not removed at exit); returns the folder. */
export async function containerFolder(home: string, id: string, o: FolderOptions = {}): Promise<string> {
  const dir = join(home, "run", "containers", id);
  const stateDir = join(home, "run", "state");
  await mkdir(join(dir, "rootfs"), { recursive: true });
  await mkdir(stateDir, { recursive: true });
  if (o.running) await mkdir(join(stateDir, id), { recursive: true });
  const record: ContainerRecord = {
    schemaVersion: 1,
    id,
    ...(o.name ? { name: o.name } : {}),
    image: "oci:/x:latest",
    imageDigest: `sha256:${"0".repeat(64)}`,
    command: ["sh"],
    created: o.created ?? "2026-01-01T00:00:00Z",
    runtime: { name: "runc", path: "/usr/sbin/runc" },
    stateDir,
    detached: false,
    autoRemove: false,
    terminal: false,
    network: "none",
    ports: [],
    mounted: false,
  };
  await writeRecord(dir, record);
  if (o.owner !== undefined) await writeFile(join(dir, "owner"), `${o.owner}\n`);
  if (o.exit !== undefined) await writeExit(dir, { exitCode: o.exit, finishedAt: "2026-01-01T00:00:00Z" });
  if (o.name && o.claim) {
    await mkdir(join(home, "run", "names"), { recursive: true });
    await symlink(id, join(home, "run", "names", o.name));
  }
  return dir;
}
