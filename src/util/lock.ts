/**
 * A cross-process lock that knows its owner: a folder `<path>.lock` holding a file `owner` with the holder's
 * identity (pid and start time, `owner.ts`). The folder is made whole in a temp place and renamed into place,
 * so a lock folder without its owner is never seen. A waiter whose lock's owner is gone takes it over at once
 * (the folder is renamed away, checked to be the dead owner's, and removed), instead of waiting out a
 * staleness timeout. Why not proper-lockfile: it can tell a dead holder only by an old mtime (10 s and
 * more), and refreshes that mtime on a timer while held.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isAlive, ownerTag, selfIdentity } from "./owner.ts";

const OWNER = "owner";
/** A lock folder without an owner file (made by an older berth through proper-lockfile) is stale after this. */
const LEGACY_STALE_MS = 10_000;

export interface LockOptions {
  /** Give up after waiting this many ms for a live holder (default 60 s; Infinity waits as long as it lives). */
  waitMs?: number;
  /** Called once when the lock is held by another live process and this one starts waiting. */
  onWait?: (holder: string) => void;
}

export class LockTimeout extends Error {
  readonly holder: string | undefined;
  constructor(path: string, holder: string | undefined) {
    super(`${path} is held by ${holder ? `process ${holder.split(" ")[0]}` : "another process"}`);
    this.holder = holder;
  }
}

/** A hidden name beside the lock folder, carrying this process's tag (for `sweepDeadOwners`). */
function aside(lockDir: string, what: string): string {
  return join(
    dirname(lockDir),
    `.${basename(lockDir)}.${ownerTag()}.${randomBytes(6).toString("hex")}.${what}`,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readOwner(lockDir: string): Promise<string | undefined> {
  return (await readFile(join(lockDir, OWNER), "utf8").catch(() => undefined))?.trim();
}

/** Try once to make the lock folder; true when this process now holds it. */
async function tryAcquire(lockDir: string, self: string): Promise<boolean> {
  const staged = aside(lockDir, "new");
  await mkdir(staged, { recursive: true });
  try {
    await writeFile(join(staged, OWNER), `${self}\n`);
    try {
      await rename(staged, lockDir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTEMPTY" || code === "EEXIST") return false;
      if (code === "ENOENT") {
        await mkdir(dirname(lockDir), { recursive: true });
        return false;
      }
      throw err;
    }
  } finally {
    await rm(staged, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Remove a lock folder whose owner is gone. The folder is first renamed to a unique name, so that of several
 * waiters only one removes it; if what was renamed turns out to be a live holder's (another waiter took over
 * and locked in between), it is put back.
 */
async function takeOver(lockDir: string, dead: string | undefined): Promise<void> {
  const away = aside(lockDir, "dead");
  try {
    await rename(lockDir, away);
  } catch {
    return; // someone else took it over first
  }
  const owner = await readOwner(away);
  if (owner !== dead && owner !== undefined && (await isAlive(owner))) {
    await rename(away, lockDir).catch(() => undefined);
    return;
  }
  await rm(away, { recursive: true, force: true }).catch(() => undefined);
}

/** Whether the lock folder's holder is gone: its owner process died, or it is an old folder without owner. */
async function holderGone(lockDir: string, owner: string | undefined, now: number): Promise<boolean> {
  if (owner !== undefined) return !(await isAlive(owner));
  const st = await stat(lockDir).catch(() => undefined);
  return st !== undefined && st.mtimeMs < now - LEGACY_STALE_MS;
}

/**
 * Hold the lock `<path>.lock` while `fn` runs. Waits (polling, 5–100 ms apart) while a live process holds
 * it (this one included: the lock is not reentrant); takes it over at once when its holder is gone. Throws
 * `LockTimeout` after `waitMs`. Temp names beside the lock carry this process's tag, for `sweepDeadOwners`.
 */
export async function withOwnedLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const lockDir = `${path}.lock`;
  const self = selfIdentity();
  const waitMs = options.waitMs ?? 60_000;
  const started = Date.now();
  let delay = 5;
  let told = false;
  for (;;) {
    if (await tryAcquire(lockDir, self)) break;
    const owner = await readOwner(lockDir);
    if (await holderGone(lockDir, owner, Date.now())) {
      await takeOver(lockDir, owner);
      continue;
    }
    if (Date.now() - started > waitMs) throw new LockTimeout(lockDir, owner);
    if (!told && owner !== undefined) {
      told = true;
      options.onWait?.(owner);
    }
    await sleep(delay * (0.5 + Math.random()));
    delay = Math.min(100, delay * 1.5);
  }
  try {
    return await fn();
  } finally {
    await release(lockDir, self);
  }
}

async function release(lockDir: string, self: string): Promise<void> {
  if ((await readOwner(lockDir)) !== self) return; // taken from us (we were thought dead): not ours to remove
  const away = aside(lockDir, "done");
  await rename(lockDir, away).catch(() => undefined);
  await rm(away, { recursive: true, force: true }).catch(() => undefined);
}
