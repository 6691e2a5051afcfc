/**
 * util/compile.ts: a C program compiled static once per source and compiler into BERTH_HOME's cache, reused
 * after, and the compiler's absence or a compile error said in one sentence with the code the caller gives.
 */
import { execFile } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { type CProgram, compiledProgram, sourceHash } from "../../src/util/compile.ts";
import { tempDir } from "../helpers/temp.ts";

const run = promisify(execFile);
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

describe("compiledProgram", () => {
  it("compiles once into $BERTH_HOME/cache/<folder>/<key>/<file>, then takes the cached binary", async () => {
    const home = join(dir, "home");
    let compiled = 0;
    const path = await compiledProgram(program, { home, onCompile: () => compiled++ });
    expect(path).toMatch(new RegExp(`^${home}/cache/test/hello/[0-9a-f]{32}/hello$`));
    expect((await run(path)).stdout).toBe("hello\n");
    expect((await stat(path)).mode & 0o777).toBe(0o755);
    expect(await compiledProgram(program, { home, onCompile: () => compiled++ })).toBe(path);
    expect(compiled).toBe(1);
    // Another source, another key.
    await writeFile(join(dir, "hello2.c"), "int main(void) { return 3; }\n");
    const other = await compiledProgram({ ...program, source: join(dir, "hello2.c") }, { home });
    expect(other).not.toBe(path);
    expect(sourceHash(Buffer.from("a"))).not.toBe(sourceHash(Buffer.from("b")));
  });

  it("names a missing compiler, and a source that does not compile, with the caller's code and hint", async () => {
    const home = join(dir, "home2");
    await expect(compiledProgram(program, { home, cc: "no-such-cc" })).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringMatching(
        /^building the hello program needs a C compiler \(no-such-cc\), which is not available: /,
      ),
      hint: "install gcc",
    });
    await writeFile(join(dir, "broken.c"), "int main(void) { return }\n");
    await expect(
      compiledProgram({ ...program, source: join(dir, "broken.c") }, { home }),
    ).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringMatching(/^compiling the hello program failed: .*error/s),
      hint: "a static build needs libc6-dev (the static libc)",
    });
  });
});
