import { BerthError } from "../../errors.ts";
import { LockTimeout, withOwnedLock } from "../../util/lock.ts";

/**
 * Hold an exclusive lock on `path` (a lock folder `path.lock` beside it, naming its holder) while `fn` runs.
 * Safe across processes: a holder that died (kill -9) is seen at once by its pid and start time, and its lock
 * taken over (`util/lock.ts`).
 */
export async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withOwnedLock(path, fn, { waitMs: 60_000 });
  } catch (err) {
    if (!(err instanceof LockTimeout)) throw err;
    throw new BerthError("STORE_LOCKED", `could not lock ${path}: ${err.message}`, {
      cause: err,
      hint: "another berth process holds the lock; retry when it has finished",
    });
  }
}
