/**
 * A sandbox for malicious layers: `root/` to apply into, and beside it `outside/` with a sentinel file of
 * known content and inode. `assertUntouched()` checks that nothing outside the root was written, deleted or
 * linked.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { tempDirSync } from "../../helpers/temp.ts";

export interface Sandbox {
  base: string;
  root: string;
  outside: string;
  sentinel: string;
  assertUntouched(): void;
}

export function sandbox(): Sandbox {
  const base = tempDirSync("berth-sec-");
  const root = join(base, "root");
  const outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  const sentinel = join(outside, "sentinel");
  writeFileSync(sentinel, "precious\n");
  const st = lstatSync(sentinel);
  const baseListing = readdirSync(base).sort();
  const outsideListing = readdirSync(outside).sort();
  const ino = st.ino;
  return {
    base,
    root,
    outside,
    sentinel,
    assertUntouched() {
      expect(readdirSync(base).sort()).toEqual(baseListing);
      expect(readdirSync(outside).sort()).toEqual(outsideListing);
      const now = lstatSync(sentinel);
      expect(now.ino).toBe(ino);
      expect(now.nlink).toBe(1);
      expect(now.isFile()).toBe(true);
      expect(readFileSync(sentinel, "utf8")).toBe("precious\n");
    },
  };
}

/** Run an apply expected to fail; return the error. */
export async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("the layer was applied, but it should have been refused");
}
