/**
 * Whether `sweepLeftovers` (./sweep.ts) could find anything in a BERTH_HOME, answered with one synchronous
 * directory read per folder it sweeps and no module loaded: every command sweeps first, and almost always
 * finds nothing (a no-change rebuild spent ~3 ms loading the sweep's modules and reading through libuv's pool
 * to find out). The answer errs on the side of sweeping: any entry where the sweep removes entries, any name in
 * the store's folder besides the layout's own, any error but a missing folder.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";

/** The store layout's own names (`oci/layout/layout.ts`: its temp folder and `lease.ts`'s leases folder too). */
const STORE_OWN = new Set(["oci-layout", "index.json", "blobs", ".berth-tmp", ".berth-leases"]);

/** The names in `dir`, none when it does not exist; undefined when it cannot be read (the sweep then looks). */
function names(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? [] : undefined;
  }
}

/** Whether something in `home` may be a leftover of a berth that is gone: false means a sweep would find nothing. */
export function mayHaveLeftovers(home: string): boolean {
  const store = join(home, "store");
  const anyIn = [
    join(home, "run", "containers"),
    join(home, "tmp"),
    join(home, "cache", "dockerfile", "tmp"),
    join(home, "snapshots", "tmp"),
    join(store, ".berth-tmp"),
    join(store, ".berth-leases"),
  ];
  for (const dir of anyIn) if (names(dir)?.length !== 0) return true;
  return names(store)?.every((n) => STORE_OWN.has(n)) !== true;
}
