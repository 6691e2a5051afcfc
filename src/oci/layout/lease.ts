/**
 * Leases, as containerd has them: a process that writes blobs into a layout, or relies on blobs it found
 * there, first records their digests in a lease of its own; garbage collection and the cleanup of a failed
 * copy never remove a blob a live lease holds. A lease is one file in `<layout>/.berth-leases/`, named after
 * its owner (`<ownerTag>.<random>.lease`, see util/owner.ts), one digest per line, appended (O_APPEND) before
 * the blob is checked for or written. A blob the owner is about to create (it found it absent) gets a second
 * line, `+<digest>`, appended after that check and before the blob is written: what it created is what the
 * cleanup of a killed owner may remove; a blob it only relied on was there before it came, and stays.
 * A lease ends when its owner releases it (the file is removed) or when its owner process is gone (pid + start
 * time): the file of a killed berth is then ignored, and read once more by the sweep that removes what it
 * created (`OciLayout.sweep`) before it is removed itself.
 * No fsync: a lease only matters while its owner lives, and a living owner's writes are in the page cache
 * every other process reads; after a crash of the machine, every owner is gone (and a `+` line lost with the
 * page cache leaves a blob behind, never removes one).
 */
import { randomBytes } from "node:crypto";
import { appendFile, mkdir, readdir, readFile, rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isAlive, ownerOfName, ownerTag } from "../../util/owner.ts";

export const LEASES_DIR = ".berth-leases";
const SUFFIX = ".lease";
/** A held digest, or (with `+`) one the owner created. */
const DIGEST_LINE = /^(\+?)([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/;
const CREATED = "+";

export class Lease {
  readonly path: string;
  readonly #held = new Set<string>();
  #created = false;
  #released = false;
  #tail: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.path = join(dir, `${ownerTag()}.${randomBytes(6).toString("hex")}${SUFFIX}`);
  }

  get name(): string {
    return this.path.slice(this.path.lastIndexOf("/") + 1);
  }

  has(digest: string): boolean {
    return this.#held.has(digest);
  }

  /**
   * Record digests in the lease; resolves once they are in its file, where every other process reads them
   * (a digest added before resolves when its own write has landed). Writes are appended one at a time.
   */
  add(...digests: string[]): Promise<void> {
    const fresh = digests.filter((d) => !this.#held.has(d));
    if (fresh.length === 0) return this.#tail;
    if (this.#released) return Promise.reject(new Error(`lease ${this.path} was released`));
    for (const d of fresh) this.#held.add(d);
    const write = this.#tail.then(() => this.#append(fresh));
    this.#tail = write.catch(() => undefined);
    return write;
  }

  /**
   * Record that this owner is about to create the blob `digest` (held already: `add` came first, then the
   * check that found it absent). Resolves once the line is in the file.
   */
  creating(digest: string): Promise<void> {
    if (this.#released) return Promise.reject(new Error(`lease ${this.path} was released`));
    const write = this.#tail.then(() => this.#append([`${CREATED}${digest}`]));
    this.#tail = write.catch(() => undefined);
    return write;
  }

  async #append(digests: string[]): Promise<void> {
    // The folder is made on first use and removed when the last lease in it ends (another process may
    // remove it between our mkdir and our write: then it is made again).
    for (let attempt = 0; ; attempt++) {
      try {
        await appendFile(this.path, `${digests.join("\n")}\n`);
        this.#created = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw err;
        await mkdir(dirname(this.path), { recursive: true });
      }
    }
  }

  /** End the lease: its blobs are no longer protected by it. The folder goes when it is left empty. */
  async release(): Promise<void> {
    this.#released = true;
    await this.#tail;
    if (!this.#created) return;
    await rm(this.path, { force: true });
    await rmdir(dirname(this.path)).catch(() => undefined);
  }
}

/**
 * Digests held by the live leases in `dir`, except the lease named `except` (the caller's own). Leases of
 * processes that are gone are skipped (and removed by `sweepLeases`).
 */
export async function leasedDigests(dir: string, except?: string): Promise<Set<string>> {
  const held = new Set<string>();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith(SUFFIX) || name === except) continue;
    const owner = ownerOfName(name);
    if (owner === undefined || !(await isAlive(owner))) continue;
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    // A line being appended may be read half: it is not a digest, and the commit's re-check covers that race.
    for (const line of text.split("\n")) {
      const m = DIGEST_LINE.exec(line);
      if (m) held.add(m[2]!);
    }
  }
  return held;
}

/** The lease of a process that is gone: its file, and the blobs it created. */
export interface DeadLease {
  path: string;
  created: string[];
}

/**
 * The leases in `dir` of processes that are gone, with the digests each created (`+` lines ended by their
 * newline: a line cut short by the kill names no blob). Their files are left for the caller to remove once it
 * has dealt with what they created.
 */
export async function deadLeases(dir: string): Promise<DeadLease[]> {
  const dead: DeadLease[] = [];
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const owner = ownerOfName(name);
    if (!name.endsWith(SUFFIX) || owner === undefined || (await isAlive(owner))) continue;
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    const created = new Set<string>();
    for (const line of text.split("\n").slice(0, -1)) {
      const m = DIGEST_LINE.exec(line);
      if (m?.[1] === CREATED) created.add(m[2]!);
    }
    dead.push({ path: join(dir, name), created: [...created] });
  }
  return dead;
}
