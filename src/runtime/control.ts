/**
 * What `berth stop`, `kill`, `rm` and `exec` do to a container another berth process runs (state.ts finds
 * it): signals go through the runtime that runs it (`runc kill`, with its state root), a further process
 * through `runc exec --process` with the container's own process settings (env, capabilities, user).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { BerthError } from "../errors.ts";
import { type ProcessResult, runBundle, type StdioOptions } from "./exec.ts";
import type { RuntimeSpec } from "./spec.ts";
import { mergeEnv } from "./spec.ts";
import { type ContainerInfo, readContainer, removeContainerFiles, shortId } from "./state.ts";
import { resolveUser } from "./user.ts";

const pexec = promisify(execFile);

/** A signal as the runtimes take it (`TERM`), from `SIGTERM`, `TERM`, `term` or `15`. */
export function signalName(text: string): string {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    const name = Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
    if (name) return name.slice(3);
  } else {
    const name = t.startsWith("SIG") ? t : `SIG${t}`;
    if (name in constants.signals) return name.slice(3);
  }
  throw new BerthError("USAGE", `unknown signal ${JSON.stringify(text)}`, {
    hint: "give a name (TERM, SIGKILL, HUP…) or a number",
  });
}

function label(c: ContainerInfo): string {
  return c.record.name ?? shortId(c.record.id);
}

function notRunning(c: ContainerInfo): BerthError {
  return new BerthError("CONTAINER_CONFLICT", `container ${label(c)} is not running`, {
    hint:
      c.status === "exited"
        ? `berth logs ${label(c)} shows its output; berth rm ${label(c)} removes it`
        : undefined,
  });
}

/** Send a signal to the container's process (its init) through the runtime that runs it. */
export async function killContainer(c: ContainerInfo, signal = "KILL"): Promise<void> {
  if (c.status !== "running") throw notRunning(c);
  const sig = signalName(signal);
  try {
    await pexec(c.record.runtime.path, ["--root", c.record.stateDir, "kill", c.record.id, sig]);
  } catch (err) {
    const now = await readContainer(c.dir);
    if (now?.status !== "running") throw notRunning(c);
    const why = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    throw new BerthError("RUNTIME_FAILED", `${c.record.runtime.name} could not signal ${label(c)}: ${why}`);
  }
}

/** Whether the container has ended and its runner has cleaned up (exit recorded, or folder removed). */
async function ended(c: ContainerInfo): Promise<boolean> {
  const now = await readContainer(c.dir);
  return !now || now.status === "exited" || now.status === "dead";
}

/** Wait until the container has ended; false when `ms` passed first. */
export async function waitEnded(c: ContainerInfo, ms = Number.POSITIVE_INFINITY): Promise<boolean> {
  const until = Date.now() + ms;
  while (!(await ended(c))) {
    if (Date.now() >= until) return false;
    await delay(50);
  }
  return true;
}

/** docker stop: the image's StopSignal (else SIGTERM), then SIGKILL after `timeoutSeconds`. */
export async function stopContainer(c: ContainerInfo, timeoutSeconds = 10): Promise<void> {
  if (c.status !== "running") return;
  await killContainer(c, c.record.stopSignal ?? "TERM").catch(async (err: unknown) => {
    if (!(await ended(c))) throw err;
  });
  if (await waitEnded(c, timeoutSeconds * 1000)) return;
  await killContainer(c, "KILL").catch(() => undefined);
  await waitEnded(c);
}

/** docker rm: a container that runs is refused unless `force` (then killed first). */
export async function removeContainer(home: string, c: ContainerInfo, force = false): Promise<void> {
  if (c.status === "running" || c.status === "created") {
    if (!force) {
      throw new BerthError(
        "CONTAINER_CONFLICT",
        `cannot remove container ${label(c)}: it is running (stop it before removing, or force remove)`,
        { hint: `berth stop ${label(c)}, or berth rm -f ${label(c)}` },
      );
    }
    if (c.status === "running") await killContainer(c, "KILL").catch(() => undefined);
    await waitEnded(c);
  }
  await removeContainerFiles(home, c);
}

export interface ExecOptions {
  args: string[];
  /** `K=V` over the container's environment. */
  env?: string[];
  /** NAME, UID, NAME:GROUP…; default: the container's user. */
  user?: string;
  cwd?: string;
  terminal?: boolean;
}

/** docker exec: run a further process in the running container, in the foreground. */
export async function execInContainer(
  c: ContainerInfo,
  o: ExecOptions & StdioOptions,
): Promise<ProcessResult> {
  if (c.status !== "running") throw notRunning(c);
  if (o.args.length === 0) throw new BerthError("USAGE", "exec needs a command to run");
  const spec = JSON.parse(await readFile(join(c.dir, "config.json"), "utf8")) as RuntimeSpec;
  const user =
    o.user !== undefined ? await resolveUser(join(c.dir, "rootfs"), o.user, c.record.image) : undefined;
  const { consoleSize: _, ...base } = spec["process"] as RuntimeSpec["process"] & { consoleSize?: unknown };
  const proc = {
    ...base,
    terminal: o.terminal === true,
    args: o.args,
    env: mergeEnv(
      [...base.env, ...(o.terminal && !base.env.some((e) => e.startsWith("TERM=")) ? ["TERM=xterm"] : [])],
      o.env ?? [],
    ),
    cwd: o.cwd ?? base.cwd,
    ...(user
      ? {
          user: {
            uid: user.uid,
            gid: user.gid,
            ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}),
          },
        }
      : {}),
  };
  const tag = randomBytes(4).toString("hex");
  const processFile = join(c.dir, `exec-${tag}.json`);
  const log = join(c.dir, `exec-${tag}.log`);
  await writeFile(processFile, JSON.stringify(proc));
  try {
    return await runBundle(
      {
        runtime: c.record.runtime,
        stateDir: c.record.stateDir,
        bundleDir: c.dir,
        id: c.record.id,
        command: o.args,
        exec: { processFile, log },
      },
      o,
    );
  } finally {
    await rm(processFile, { force: true });
    await rm(log, { force: true });
  }
}
