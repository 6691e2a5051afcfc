import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  isAlive,
  ownerOfName,
  ownerTag,
  processIdentity,
  selfIdentity,
  sweepDeadOwners,
} from "../../src/util/owner.ts";
import { tempDir } from "../helpers/temp.ts";

/** The identity of a process that ran and is gone (its pid may be reused, its start time not). */
function deadIdentity(): string {
  return `${process.pid} 1`;
}

describe("process identities", () => {
  it("are this process's pid and start time, the same as /proc gives for its pid", async () => {
    const id = selfIdentity();
    expect(id).toMatch(new RegExp(`^${process.pid} \\d+$`));
    expect(await processIdentity(process.pid)).toBe(id);
    expect(await isAlive(`${id}\n`)).toBe(true);
  });

  it("reads the start time after a command name holding spaces and parentheses", async () => {
    // a copy of sleep named ") 1 2 (" (the name is field 2 of /proc/PID/stat) beside a plain sleep
    const dir = await tempDir();
    const odd = join(dir, ") 1 2 (");
    await copyFile("/bin/sleep", odd);
    await chmod(odd, 0o755);
    const children = [spawn(odd, ["5"]), spawn("sleep", ["5"])];
    try {
      const [a, b] = await Promise.all(children.map((c) => processIdentity(c.pid!)));
      expect(a).toMatch(new RegExp(`^${children[0]!.pid} \\d+$`));
      expect(b).toMatch(new RegExp(`^${children[1]!.pid} \\d+$`));
      // started together: their start times (clock ticks since boot) are within a second
      expect(Math.abs(Number(a!.split(" ")[1]) - Number(b!.split(" ")[1]))).toBeLessThan(100);
    } finally {
      for (const c of children) c.kill();
    }
  });

  it("tell a gone process from a live one, and refuse an identity that is not one", async () => {
    expect(await isAlive(deadIdentity())).toBe(false);
    expect(await isAlive("")).toBe(false);
    expect(await isAlive("../self 1")).toBe(false);
    expect(await processIdentity("999999999")).toBeUndefined();
  });
});

describe("owner tags in file names", () => {
  it("round-trip through a name", () => {
    expect(ownerTag("12 345")).toBe("p12t345");
    expect(ownerOfName(`.write.${ownerTag("12 345")}.abc.tmp`)).toBe("12 345");
    expect(ownerOfName(`build-${ownerTag("7 8")}-XyZ`)).toBe("7 8");
    expect(ownerOfName(ownerTag(selfIdentity()))).toBe(selfIdentity());
  });

  it("are found only as a whole part of the name", () => {
    expect(ownerOfName("step12t345")).toBeUndefined();
    expect(ownerOfName("a-p12t345x")).toBeUndefined();
    expect(ownerOfName("plain.tmp")).toBeUndefined();
  });
});

describe("sweepDeadOwners", () => {
  it("removes the entries of gone owners only, and old untagged ones when asked", async () => {
    const dir = await tempDir();
    const dead = `x-${ownerTag(deadIdentity())}-a`;
    const live = `x-${ownerTag()}-b`;
    await mkdir(join(dir, dead));
    await writeFile(join(dir, dead, "f"), "");
    await writeFile(join(dir, live), "");
    await writeFile(join(dir, "old"), "");
    await writeFile(join(dir, "new"), "");
    await utimes(join(dir, "old"), 1000, 1000);

    expect(await sweepDeadOwners(dir)).toEqual([dead]);
    expect((await readdir(dir)).sort()).toEqual([live, "new", "old"].sort());
    expect(await sweepDeadOwners(dir, { untaggedOlderThan: 60_000 })).toEqual(["old"]);
    expect((await readdir(dir)).sort()).toEqual([live, "new"].sort());
  });

  it("keeps an entry its beforeRemove refuses, and treats a missing folder as empty", async () => {
    const dir = await tempDir();
    const a = `.t.${ownerTag(deadIdentity())}.1.tmp`;
    const b = `.t.${ownerTag(deadIdentity())}.2.tmp`;
    await writeFile(join(dir, a), "");
    await writeFile(join(dir, b), "");
    const asked: string[] = [];
    const removed = await sweepDeadOwners(dir, {
      beforeRemove: async (p) => {
        asked.push(p);
        return p.endsWith(b);
      },
    });
    expect(removed).toEqual([b]);
    expect(asked.sort()).toEqual([join(dir, a), join(dir, b)].sort());
    expect(await readdir(dir)).toEqual([a]);
    expect(await sweepDeadOwners(join(dir, "missing"))).toEqual([]);
  });
});
