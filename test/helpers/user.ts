/**
 * The non-root user the rootless tests run berth as: `berthuser`, with subordinate id ranges, as .ci/setup
 * creates it; made here when absent (the tests run as root in CI).
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);
const TEST_USER = "berthuser";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

async function lookup(name: string): Promise<TestUser | undefined> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const entry = passwd.split("\n").find((l) => l.startsWith(`${name}:`));
  if (!entry) return undefined;
  const [, , uid, gid] = entry.split(":");
  return { name, uid: Number(uid), gid: Number(gid) };
}

async function hasRange(file: string, name: string): Promise<boolean> {
  return (await readFile(file, "utf8").catch(() => "")).split("\n").some((l) => l.split(":")[0] === name);
}

/** `berthuser` with /etc/subuid and /etc/subgid ranges (undefined when not root and it does not exist). */
export async function testUser(): Promise<TestUser | undefined> {
  const isRoot = process.geteuid?.() === 0;
  if (!(await lookup(TEST_USER)) && isRoot) {
    // several test files may ask at once: one useradd wins, the others find the user
    await run("useradd", ["-m", TEST_USER]).catch(() => undefined);
  }
  const user = await lookup(TEST_USER);
  if (!user) return undefined;
  if (isRoot && !((await hasRange("/etc/subuid", TEST_USER)) && (await hasRange("/etc/subgid", TEST_USER)))) {
    await run("usermod", [
      "--add-subuids",
      "200000-265535",
      "--add-subgids",
      "200000-265535",
      TEST_USER,
    ]).catch(() => undefined);
  }
  return user;
}
