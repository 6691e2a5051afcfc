/**
 * The owner-naming lock (util/lock.ts): a holder that is gone is taken over at once (no stale timeout), a live
 * holder is waited for, and processes contending for it exclude each other.
 */
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { LockTimeout, withOwnedLock } from "../../src/util/lock.ts";
import { processIdentity } from "../../src/util/owner.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-lock-");
});

/** A lock folder as a holder leaves it. */
async function heldBy(path: string, owner: string): Promise<void> {
  await mkdir(`${path}.lock`, { recursive: true });
  await writeFile(join(`${path}.lock`, "owner"), `${owner}\n`);
}

describe("withOwnedLock", () => {
  it("takes over at once a lock whose holder is gone (waiting no time at all)", async () => {
    const path = join(dir, "dead");
    // pid 4194399 is above the kernel's largest pid_max: no such process.
    await heldBy(path, "4194399 12345");
    expect(await withOwnedLock(path, async () => "ran", { waitMs: 0 })).toBe("ran");
    expect((await readdir(dir)).filter((n) => n.includes("dead"))).toEqual([]);
  });

  it("takes over a lock whose pid lives on in another process (start time differs)", async () => {
    const path = join(dir, "reused");
    const parent = (await processIdentity(process.ppid))!;
    await heldBy(path, `${parent.split(" ")[0]} 1`);
    expect(await withOwnedLock(path, async () => "ran", { waitMs: 0 })).toBe("ran");
  });

  it("waits for a live holder, then gives up with LockTimeout naming it", async () => {
    const path = join(dir, "live");
    const parent = (await processIdentity(process.ppid))!;
    await heldBy(path, parent);
    const waited: string[] = [];
    const err = await withOwnedLock(path, async () => "ran", {
      waitMs: 50,
      onWait: (h) => waited.push(h),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeout);
    expect(waited).toEqual([parent]);
    expect((await readFile(join(`${path}.lock`, "owner"), "utf8")).trim()).toBe(parent);
  });

  it("4 processes incrementing a counter 25 times each under the lock lose no increment", async () => {
    const counter = join(dir, "counter");
    const worker = join(dir, "worker.ts");
    await writeFile(
      worker,
      `import { readFile, writeFile } from "node:fs/promises";
import { withOwnedLock } from ${JSON.stringify(resolve(import.meta.dirname, "../../src/util/lock.ts"))};
const f = process.argv[2];
for (let i = 0; i < 25; i++) {
  await withOwnedLock(f, async () => {
    const n = Number(await readFile(f, "utf8").catch(() => "0"));
    await new Promise((r) => setImmediate(r));
    await writeFile(f, String(n + 1));
  });
}
`,
    );
    const codes = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<number | null>((res, rej) => {
            const c = spawn(process.execPath, [worker, counter], { stdio: "inherit" });
            c.on("error", rej);
            c.on("close", res);
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(await readFile(counter, "utf8")).toBe("100");
    expect((await readdir(dir)).filter((n) => n.startsWith(".counter.lock"))).toEqual([]);
  });
});
