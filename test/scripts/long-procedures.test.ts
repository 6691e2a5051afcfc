/** scripts/long-procedures.ts: which procedures it finds, how it names and measures them; --check's exit code. */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { longProcedures } from "../../scripts/long-procedures.ts";
import { tempDir } from "../helpers/temp.ts";

const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};`).join("\n");

const MODULE = `type F = (x: number) => number; // a function type is no procedure
export function long(x: number): number {
${body(4)}
  const inner = () => {
${body(3)}
  };
  return x;
}
function short() {
  return 1;
}
class C {
  method(x: number) {
${body(4)}
    return x;
  }
  get prop() {
    return 2;
  }
}
const assigned = function (x: number) {
${body(4)}
  return x;
};
`;

it("lists functions, methods, arrow functions and function expressions over the limit, named by where they are", () => {
  const found = longProcedures("m.ts", MODULE, 4);
  expect(found.map((p) => [p.name, p.line, p.lines])).toEqual([
    ["long", 2, 12],
    ["long.inner", 7, 5],
    ["C.method", 18, 7],
    ["assigned", 29, 7],
  ]);
  expect(longProcedures("m.ts", MODULE, 12).map((p) => p.name)).toEqual([]);
  expect(longProcedures("m.ts", MODULE, 11).map((p) => p.name)).toEqual(["long"]);
});

it("prints them longest first, from the folders it is given", async () => {
  const dir = await tempDir("berth-long-procedures-");
  await writeFile(join(dir, "m.ts"), MODULE);
  await writeFile(join(dir, "notes.md"), "not a module");
  const script = resolve(import.meta.dirname, "../../scripts/long-procedures.ts");
  const { stdout } = await promisify(execFile)(process.execPath, [script, "--max", "5", dir], { cwd: dir });
  expect(stdout).toBe("  12 m.ts:2 long\n   7 m.ts:18 C.method\n   7 m.ts:29 assigned\n");
});

it("with --check, exits 1 when it lists any, and 0 when it lists none", async () => {
  const dir = await tempDir("berth-long-procedures-");
  await writeFile(join(dir, "m.ts"), MODULE);
  const script = resolve(import.meta.dirname, "../../scripts/long-procedures.ts");
  const run = (max: string) =>
    promisify(execFile)(process.execPath, [script, "--check", "--max", max, dir], { cwd: dir }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
  expect(await run("12")).toEqual({ code: 0, stderr: "" });
  expect(await run("11")).toEqual({
    code: 1,
    stderr:
      "long-procedures: 1 procedure is over 11 lines (STYLE: procedures under 100 lines); split it into named steps\n",
  });
});
