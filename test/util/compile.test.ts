/**
 * util/compile.ts: a C program compiled static once per source and compiler into the per-user programs cache
 * (BERTH_HOME's when that is unsafe), reused from any BERTH_HOME without starting the compiler, verified by its
 * sha256 before use, written atomically; the compiler's absence or a compile error said in one sentence with
 * the code the caller gives.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { appendFile, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { type CompileOptions, type CProgram, compiledProgram, sourceHash } from "../../src/util/compile.ts";
import { tempDir } from "../helpers/temp.ts";

const run = promisify(execFile);
const uid = process.geteuid?.() ?? 0;
let dir: string;
let program: CProgram;

beforeAll(async () => {
  dir = await tempDir("berth-compile-");
  await writeFile(join(dir, "hello.c"), '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n');
  program = {
    source: join(dir, "hello.c"),
    folder: "test/hello",
    file: "hello",
    what: "the hello program",
    code: "INTERNAL",
    hint: "install gcc",
  };
});

/** A user (HOME) of its own, a `gcc` first on PATH that logs its arguments and runs the real one. */
async function setup(version = "wrapper 1") {
  const root = await tempDir("berth-compile-user-");
  const user = join(root, "user");
  const bin = join(root, "bin");
  mkdirSync(user);
  mkdirSync(bin);
  const log = join(root, "gcc.log");
  await writeFile(log, "");
  const gcc = join(bin, "gcc");
  const wrap = async (v: string) => {
    await writeFile(
      gcc,
      `#!/bin/sh\necho "$@" >> ${log}\nif [ "$1" = --version ]; then echo "${v}"; exit 0; fi\nPATH=${process.env.PATH} exec gcc "$@"\n`,
    );
    chmodSync(gcc, 0o755);
  };
  await wrap(version);
  let homes = 0;
  let compiled = 0;
  const opts = (): CompileOptions => ({
    home: join(root, `home${++homes}`),
    env: { PATH: `${bin}:${process.env.PATH}` },
    user: { env: { HOME: user }, uid },
    onCompile: () => compiled++,
  });
  const calls = async () => (await readFile(log, "utf8")).split("\n").filter(Boolean);
  return { root, user, opts, calls, wrap, compiled: () => compiled };
}

describe("compiledProgram", () => {
  it("compiles once into ~/.cache/berth/programs; a fresh BERTH_HOME then starts no compiler", async () => {
    const t = await setup();
    const path = await compiledProgram(program, t.opts());
    expect(path).toMatch(new RegExp(`^${t.user}/\\.cache/berth/programs/test/hello/[0-9a-f]{32}/hello$`));
    expect((await run(path)).stdout).toBe("hello\n");
    expect((await stat(path)).mode & 0o777).toBe(0o755);
    const sha = createHash("sha256").update(readFileSync(path)).digest("hex");
    expect(readFileSync(`${path}.sha256`, "utf8")).toBe(`${sha}\n`);
    expect(await t.calls()).toEqual(["--version", expect.stringMatching(/^-static .* -o .*hello\.c$/)]);
    // Again, in another BERTH_HOME: no compile, no `gcc --version`, nothing in BERTH_HOME.
    const again = t.opts();
    expect(await compiledProgram(program, again)).toBe(path);
    expect(t.compiled()).toBe(1);
    expect(await t.calls()).toHaveLength(2);
    expect(existsSync(again.home)).toBe(false);
    // Another source, another key (the compiler still known).
    await writeFile(join(dir, "hello2.c"), "int main(void) { return 3; }\n");
    const other = await compiledProgram({ ...program, source: join(dir, "hello2.c") }, t.opts());
    expect(other).not.toBe(path);
    expect(await t.calls()).toHaveLength(3);
    expect(sourceHash(Buffer.from("a"))).not.toBe(sourceHash(Buffer.from("b")));
  });

  it("a changed compiler (its file rewritten) is asked its version again, and a new one gives a new binary", async () => {
    const t = await setup();
    const path = await compiledProgram(program, t.opts());
    await t.wrap("wrapper 1");
    // The same output, another file: asked again, the same key.
    expect(await compiledProgram(program, t.opts())).toBe(path);
    expect((await t.calls()).filter((c) => c === "--version")).toHaveLength(2);
    await t.wrap("wrapper 2 (upgraded)");
    const upgraded = await compiledProgram(program, t.opts());
    expect(upgraded).not.toBe(path);
    expect((await run(upgraded)).stdout).toBe("hello\n");
    expect((await t.calls()).filter((c) => c === "--version")).toHaveLength(3);
    expect(t.compiled()).toBe(2);
  });

  it("a binary that does not match its recorded sha256 is refused and compiled again", async () => {
    const t = await setup();
    const path = await compiledProgram(program, t.opts());
    await appendFile(path, "x");
    expect(await compiledProgram(program, t.opts())).toBe(path);
    expect(t.compiled()).toBe(2);
    expect((await run(path)).stdout).toBe("hello\n");
    expect(createHash("sha256").update(readFileSync(path)).digest("hex")).toBe(
      readFileSync(`${path}.sha256`, "utf8").trim(),
    );
    // A binary with no record is not taken either.
    await writeFile(`${path}.sha256`, "");
    expect(await compiledProgram(program, t.opts())).toBe(path);
    expect(t.compiled()).toBe(3);
  });

  it("a shared folder others can write is not used: BERTH_HOME's cache/programs is", async () => {
    const t = await setup();
    mkdirSync(join(t.user, ".cache", "berth"), { recursive: true });
    chmodSync(join(t.user, ".cache", "berth"), 0o777);
    const o = t.opts();
    const path = await compiledProgram(program, o);
    expect(path).toMatch(new RegExp(`^${o.home}/cache/programs/test/hello/[0-9a-f]{32}/hello$`));
    expect(readdirSync(join(t.user, ".cache", "berth"))).toEqual([]);
    expect((await run(path)).stdout).toBe("hello\n");
  });

  it("berths compiling at once: one binary, whole, and no temporary left", async () => {
    const t = await setup();
    const paths = await Promise.all([1, 2, 3].map(() => compiledProgram(program, t.opts())));
    expect(new Set(paths).size).toBe(1);
    expect((await run(paths[0]!)).stdout).toBe("hello\n");
    const folder = join(t.user, ".cache", "berth", "programs", "test", "hello");
    expect(readdirSync(folder)).toHaveLength(1);
    expect(readdirSync(join(folder, readdirSync(folder)[0]!)).sort()).toEqual(["hello", "hello.sha256"]);
  });

  it("names a missing compiler, and a source that does not compile, with the caller's code and hint", async () => {
    const t = await setup();
    await expect(compiledProgram(program, { ...t.opts(), cc: "no-such-cc" })).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringMatching(
        /^building the hello program needs a C compiler \(no-such-cc\), which is not available: /,
      ),
      hint: "install gcc",
    });
    await writeFile(join(dir, "broken.c"), "int main(void) { return }\n");
    await expect(
      compiledProgram({ ...program, source: join(dir, "broken.c") }, t.opts()),
    ).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringMatching(/^compiling the hello program failed: .*error/s),
      hint: "a static build needs libc6-dev (the static libc)",
    });
    const folder = join(t.user, ".cache", "berth", "programs", "test", "hello");
    expect(readdirSync(folder)).toEqual([]);
  });
});
