import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-help-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("help", () => {
  // The overview loads every command module; two of them register into `berth builder` (it crashed with
  // "cannot add command 'builder' as already have command 'builder'").
  it("berth --help lists every command and exits 0", async () => {
    const r = await berth(["--help"], { home: join(dir, "home") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const commands = [...r.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    for (const c of ["copy", "build", "builder", "inspect", "run", "rebase", "detect", "store", "stack"]) {
      expect(commands).toContain(c);
    }
    expect(commands.filter((c) => c === "builder")).toHaveLength(1);
  });

  it("berth builder --help lists create, inspect and default once each", async () => {
    const r = await berth(["builder", "--help"], { home: join(dir, "home") });
    expect(r.code).toBe(0);
    const sub = [...r.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(sub.filter((c) => c === "create" || c === "inspect" || c === "default").sort()).toEqual([
      "create",
      "default",
      "inspect",
    ]);
  });
});
