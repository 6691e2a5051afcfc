import { BerthError } from "../../errors.ts";

/**
 * Hold an exclusive lock on `path` (a lock directory `path.lock` beside it) while `fn` runs. Safe across
 * processes: the lock is refreshed while held and taken over when its holder died (stale after 10 s).
 */
export async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    // Loaded on first use: commands that only read (berth run of a stored image) never pay for it.
    const { default: lockfile } = await import("proper-lockfile");
    release = await lockfile.lock(path, {
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: { retries: 400, factor: 1.2, minTimeout: 5, maxTimeout: 100, randomize: true },
    });
  } catch (err) {
    throw new BerthError("STORE_LOCKED", `could not lock ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: "another berth process holds the lock; retry when it has finished",
    });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
