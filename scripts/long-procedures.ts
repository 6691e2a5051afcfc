// Lists the procedures longer than a limit (STYLE: procedures under 100 lines): every function, method,
// accessor, constructor and function expression or arrow function with a body, longest first, as
// `LINES FILE:LINE NAME`. The TypeScript compiler's parser finds them; a nested procedure is listed on its own
// and also counts in the one around it. `node scripts/long-procedures.ts [--max N] [--check] [FILE|DIR...]`
// (default: 100 lines, src/). Exits 0: it reports, it does not judge; with --check (`npm run procs`, part of
// `npm test`) it exits 1 when it lists any.
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

export interface Procedure {
  file: string;
  /** 1-based line of its first line. */
  line: number;
  lines: number;
  /** `Class.method`, `outer.inner`, a variable's name for a function assigned to it, else `<anonymous>`. */
  name: string;
}

async function files(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return path.endsWith(".ts") ? [path] : [];
  const out: string[] = [];
  for (const e of (await readdir(path)).sort()) out.push(...(await files(join(path, e))));
  return out;
}

function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string | undefined {
  if (node.name) return node.name.getText(source);
  if (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent)) {
    return node.parent.name.getText(source);
  }
  if (ts.isConstructorDeclaration(node)) return "constructor";
  return undefined;
}

/** The procedures of one module longer than `max` lines. */
export function longProcedures(file: string, text: string, max: number): Procedure[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Procedure[] = [];
  const visit = (node: ts.Node, owner: string): void => {
    let inner = owner;
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const own = nameOf(node as ts.FunctionLikeDeclaration, source) ?? "<anonymous>";
      inner = owner ? `${owner}.${own}` : own;
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (last - first + 1 > max) out.push({ file, line: first + 1, lines: last - first + 1, name: inner });
    } else if (ts.isClassLike(node) && node.name) {
      inner = node.name.text;
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, "");
  return out;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--max");
  const max = at >= 0 ? Number(args.splice(at, 2)[1]) : 100;
  const check = args.includes("--check");
  if (check) args.splice(args.indexOf("--check"), 1);
  if (!Number.isInteger(max) || max < 1) throw new Error("--max takes a whole number of lines");
  const paths = args.length ? args : [resolve(import.meta.dirname, "../src")];
  const found: Procedure[] = [];
  for (const path of paths) {
    for (const file of await files(path)) {
      found.push(...longProcedures(relative(process.cwd(), file), await readFile(file, "utf8"), max));
    }
  }
  for (const p of found.sort((a, b) => b.lines - a.lines)) {
    console.log(`${String(p.lines).padStart(4)} ${p.file}:${p.line} ${p.name}`);
  }
  if (check && found.length) {
    console.error(
      `long-procedures: ${found.length} procedure${found.length > 1 ? "s are" : " is"} over ${max} lines (STYLE: procedures under 100 lines); split ${found.length > 1 ? "them" : "it"} into named steps`,
    );
    process.exitCode = 1;
  }
}
