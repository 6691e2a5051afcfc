// Checks that tests mirror src/ (issue 17 §6): every module of src/ that has logic — a function, method,
// accessor, constructor or class body, an arrow function — has its own test file at the same path under test/
// (`src/a/b.ts` → `test/a/b.test.ts`). Modules of types, constants and re-exports need none. The TypeScript
// compiler's parser decides what is logic, so a type like `(x: T) => U` is not mistaken for a function.
// A module no test process can load is listed in ELSEWHERE with the test that covers it.
// Exits non-zero naming each module without its test. `--src DIR --test DIR` checks other trees (its own test).
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? resolve(process.argv[i + 1]!) : resolve(import.meta.dirname, fallback);
};
const SRC = arg("--src", "../src");
const TEST = arg("--test", "../test");

async function modules(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await modules(p)));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Whether the module runs code of its own: any function-like node with a body. */
function hasLogic(file: string, text: string): boolean {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const visit = (node: ts.Node): boolean => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) return true;
    if (ts.isClassStaticBlockDeclaration(node)) return true;
    return ts.forEachChild(node, visit) ?? false;
  };
  return visit(source);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Modules whose code a vitest worker cannot load, each with the test that runs it where it can run. Kept short:
 * a module that can be imported gets its mirror test.
 */
const ELSEWHERE: Record<string, { test: string; why: string }> = {
  "cli/executable.ts": {
    test: "executable/executable.test.ts",
    why: "runs only inside the single executable (node:sea's assets); the test builds the executable and runs it",
  },
};

const missing: string[] = [];
for (const file of (await modules(SRC)).sort()) {
  const rel = relative(SRC, file);
  if (!hasLogic(rel, await readFile(file, "utf8"))) continue;
  const elsewhere = ELSEWHERE[rel];
  if (elsewhere) {
    if (!(await exists(join(TEST, elsewhere.test))))
      missing.push(
        `src/${rel}: test/${elsewhere.test}, its test in scripts/check-tests.ts's ELSEWHERE, is gone`,
      );
    continue;
  }
  const test = join(TEST, rel.replace(/\.ts$/, ".test.ts"));
  if (!(await exists(test)))
    missing.push(`src/${rel}: has logic and no ${relative(resolve(TEST, ".."), test)}`);
}
if (missing.length > 0) {
  process.stderr.write(`${missing.join("\n")}\n${missing.length} module(s) without their mirror test\n`);
  process.exit(1);
}
console.log("mirror tests: ok");
