import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestBytes } from "../../../src/oci/digest.ts";
import { deadLeases, Lease, leasedDigests } from "../../../src/oci/layout/lease.ts";
import { tempDir } from "../../helpers/temp.ts";

const a = digestBytes("a");
const b = digestBytes("b");
const c = digestBytes("c");
/** A lease file name of a process that is not running (pid 0 never is a user process). */
const deadName = "p0t1.abcdef.lease";

describe("Lease", () => {
  it("appends each digest once to its file, made on first use, and removes file and folder on release", async () => {
    const dir = join(await tempDir(), "leases");
    const lease = new Lease(dir);
    expect(lease.name).toMatch(/^p\d+t\d+\.[0-9a-f]{12}\.lease$/);
    await lease.add(a, b);
    await Promise.all([lease.add(b, c), lease.add(a)]);
    expect(await readFile(lease.path, "utf8")).toBe(`${a}\n${b}\n${c}\n`);
    expect([lease.has(c), lease.has(digestBytes("d"))]).toEqual([true, false]);
    await lease.release();
    expect(await readdir(join(dir, "..")).then((names) => names.includes("leases"))).toBe(false);
    await expect(lease.add(digestBytes("late"))).rejects.toThrow(/was released/);
  });

  it("releases without a file when nothing was added", async () => {
    const dir = join(await tempDir(), "leases");
    await new Lease(dir).release();
    expect(await readdir(dir).catch((e: NodeJS.ErrnoException) => e.code)).toBe("ENOENT");
  });
});

describe("leasedDigests", () => {
  it("reads the live leases but the caller's own, skipping dead owners, other files and half-written lines", async () => {
    const dir = await tempDir();
    const mine = new Lease(dir);
    const theirs = new Lease(dir);
    await mine.add(a);
    await theirs.add(b);
    await writeFile(join(dir, theirs.name), `${b}\nsha256:12`, { flag: "a" });
    await writeFile(join(dir, deadName), `${c}\n`);
    await writeFile(join(dir, "notes.txt"), `${c}\n`);
    expect([...(await leasedDigests(dir, mine.name))].sort()).toEqual([b, "sha256:12"].sort());
    expect([...(await leasedDigests(dir))].sort()).toEqual([a, b, "sha256:12"].sort());
    expect(await leasedDigests(join(dir, "none"))).toEqual(new Set());
  });

  it("holds what a live lease created too", async () => {
    const dir = await tempDir();
    const lease = new Lease(dir);
    await lease.add(a);
    await lease.creating(a);
    expect(await readFile(lease.path, "utf8")).toBe(`${a}\n+${a}\n`);
    expect([...(await leasedDigests(dir))]).toEqual([a]);
    await lease.release();
    await expect(lease.creating(b)).rejects.toThrow(/was released/);
  });
});

describe("deadLeases", () => {
  it("lists the leases of processes that are gone, and only those, with the blobs each created", async () => {
    const dir = await tempDir();
    await mkdir(dir, { recursive: true });
    const live = new Lease(dir);
    await live.add(a);
    await live.creating(a);
    // relied on b, created a and c; a line the kill cut short (no newline) names nothing
    await writeFile(join(dir, deadName), `${b}\n${a}\n+${a}\n${c}\n+${c}\n+${a}\n+${b.slice(0, 20)}`);
    await writeFile(join(dir, "p0t2.fedcba.lease"), `${b}\n`);
    const dead = await deadLeases(dir);
    dead.sort((x, y) => x.path.localeCompare(y.path));
    expect(dead).toEqual([
      { path: join(dir, deadName), created: [a, c] },
      { path: join(dir, "p0t2.fedcba.lease"), created: [] },
    ]);
    expect((await readdir(dir)).sort()).toEqual([deadName, live.name, "p0t2.fedcba.lease"].sort());
    expect(await deadLeases(join(dir, "none"))).toEqual([]);
  });
});
