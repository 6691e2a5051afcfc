/**
 * berth's tests make their scratch folders here: `tempDir()` (or `tempDirSync()` at the top of a file) gives a
 * fresh folder under the system temp dir, removed when the file's tests are done (test/setup/temp.ts, run
 * after the file's own `afterAll` hooks, so a registry or container using the folder is stopped first).
 */
import { mkdtempSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

/** `keep`: leave the folder for a look after the run. */
export async function tempDir(prefix = "berth-test-", o: { keep?: boolean } = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (!o.keep) made.push(dir);
  return dir;
}

export function tempDirSync(prefix = "berth-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every folder made so far (the setup file calls it after each test file). */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}
