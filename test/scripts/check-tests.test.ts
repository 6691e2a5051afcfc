/** scripts/check-tests.ts on scratch src/ and test/ trees: what counts as logic, and the sentence for a module left without its test. */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { beforeEach, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.ts";

const pexec = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, "../../scripts/check-tests.ts");

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-check-tests-");
});

async function check(files: Record<string, string>): Promise<{ code: number; output: string }> {
  await mkdir(join(dir, "src"), { recursive: true });
  await mkdir(join(dir, "test"), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  try {
    const r = await pexec(process.execPath, [SCRIPT, "--src", join(dir, "src"), "--test", join(dir, "test")]);
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

const logicFree = {
  // types (a function type is not a function), constants, re-exports
  "src/oci/types.ts":
    "export interface A { run(x: number): string; f: (y: string) => void }\nexport type B = () => void;\n",
  "src/oci/consts.ts": 'export const MEDIA = "application/json";\nexport const LIST = [1, 2] as const;\n',
  "src/oci/index.ts": 'export * from "./types.ts";\nexport { MEDIA } from "./consts.ts";\n',
};

it("needs no test for types, constants and re-exports", async () => {
  expect(await check(logicFree)).toEqual({ code: 0, output: "mirror tests: ok\n" });
});

it.each([
  ["a function", "export function f() { return 1; }\n"],
  ["an arrow function in a constant", "export const f = (x: number) => x + 1;\n"],
  ["a class method", "export class C { m() { return 1; } }\n"],
  ["a getter", "export const o = { get x() { return 1; } };\n"],
])("names a module with %s and no test at the mirrored path", async (_, text) => {
  const r = await check({ ...logicFree, "src/layer/walk.ts": text, "test/layer/other.test.ts": "" });
  expect(r.code).toBe(1);
  expect(r.output).toContain("src/layer/walk.ts: has logic and no test/layer/walk.test.ts");
  expect(r.output).toContain("1 module(s) without their mirror test");
});

it("passes a module with logic whose test sits at the mirrored path", async () => {
  const r = await check({
    ...logicFree,
    "src/layer/walk.ts": "export function f() { return 1; }\n",
    "test/layer/walk.test.ts": "",
  });
  expect(r).toEqual({ code: 0, output: "mirror tests: ok\n" });
});

it("takes a module no test process can load from ELSEWHERE, while its named test exists", async () => {
  const executable = { ...logicFree, "src/cli/executable.ts": "export function main() { return 1; }\n" };
  const r = await check(executable);
  expect(r.code).toBe(1);
  expect(r.output).toContain(
    "src/cli/executable.ts: test/executable/executable.test.ts, its test in scripts/check-tests.ts's ELSEWHERE, is gone",
  );
  // the same tree once the named test exists (check writes into the same scratch tree)
  expect(await check({ "test/executable/executable.test.ts": "" })).toEqual({
    code: 0,
    output: "mirror tests: ok\n",
  });
});
