/**
 * The bundle's top-level functions compiled when their chunk is, so that they are in Node's compile cache.
 * Node serializes a module's V8 code cache right after compiling it (`CompileCacheHandler::MaybeSave`): a
 * function V8 compiles lazily, on its first call, is not in it and is compiled again by every run. A
 * parenthesised function expression is compiled eagerly (V8's PIFE heuristic), so each top-level
 * `function f(…){…}` becomes `var f = (function f(…){…});`, moved to the start of the chunk's body, and a
 * top-level `var f=(a)=>…` or `var f=function(…){…}` is parenthesised (the same expression, in any chunk).
 *
 * Equivalent only where nothing can tell the two apart, which is proved per chunk and per function, else the
 * code is left as it is:
 * - a declaration is initialised when its module is instantiated, the variable when the module starts to run:
 *   only a module that imports this one in a loop (a cycle of static imports, or a chunk importing itself) can
 *   run before it and see the difference, so a chunk in such a cycle is left alone. A dynamic `import()` of a
 *   chunk runs it, and what it imports, to the end before anything sees its bindings;
 * - inside the chunk, the variables are set before any other statement runs (creating a closure runs no code);
 * - the expression keeps the name (its `name` and `toString()` are the same); its own name inside it is a
 *   read-only binding of the function, the same object as the module's as long as nothing assigns the name:
 *   a name written anywhere in the chunk (assignment, `++`, a `for (… in/of …)` target, conservatively by name,
 *   whatever the scope), or a chunk that mentions `eval`, keeps its declaration;
 * - `this`, `arguments`, `new.target`, default parameters, generators and async functions: the function's own
 *   text is unchanged, and a function expression has the same of each as a declaration.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseAst } from "rolldown/parseAst";
import { cycles } from "./graph.ts";

type Program = ReturnType<typeof parseAst>;
type Statement = Program["body"][number];

/** What was done to one chunk. */
export interface EagerChunk {
  readonly file: string;
  /** functions made eagerly compiled */
  readonly eager: number;
  /** why functions kept their declaration: the chunk's cycle, or each name written */
  readonly kept: readonly string[];
}

/** The names a write target binds: an identifier, or those of a destructuring pattern (a property write binds none). */
function targetNames(node: unknown, into: Set<string>): void {
  if (node === null || typeof node !== "object") return;
  const o = node as Record<string, unknown>;
  switch (o.type) {
    case "Identifier":
      into.add(o.name as string);
      return;
    case "ArrayPattern":
      for (const e of o.elements as unknown[]) targetNames(e, into);
      return;
    case "ObjectPattern":
      for (const p of o.properties as { type: string; value?: unknown; argument?: unknown }[]) {
        targetNames(p.type === "RestElement" ? p.argument : p.value, into);
      }
      return;
    case "AssignmentPattern":
      targetNames(o.left, into);
      return;
    case "RestElement":
      targetNames(o.argument, into);
      return;
    case "ParenthesizedExpression":
      targetNames(o.expression, into);
      return;
    case "MemberExpression":
      return;
    default:
      throw new Error(
        `scripts/lib/eager.ts does not know the write target ${String(o.type)}: teach targetNames it`,
      );
  }
}

/** The names the chunk writes anywhere (assignments, updates, for-in/of targets), and whether it names eval. */
function writtenNames(program: Program): { written: Set<string>; evals: boolean } {
  const written = new Set<string>();
  let evals = false;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (node === null || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    if (o.type === "Identifier" && o.name === "eval") evals = true;
    if (o.type === "AssignmentExpression") targetNames(o.left, written);
    if (o.type === "UpdateExpression") targetNames(o.argument, written);
    if (
      (o.type === "ForInStatement" || o.type === "ForOfStatement") &&
      (o.left as { type?: string })?.type !== "VariableDeclaration"
    ) {
      targetNames(o.left, written);
    }
    for (const v of Object.values(o)) if (v !== null && typeof v === "object") walk(v);
  };
  walk(program.body);
  return { written, evals };
}

/** The relative specifiers a chunk imports statically (imports and re-exports). */
function staticImports(program: Program): string[] {
  const out: string[] = [];
  for (const s of program.body) {
    if (
      (s.type === "ImportDeclaration" ||
        s.type === "ExportNamedDeclaration" ||
        s.type === "ExportAllDeclaration") &&
      s.source !== null &&
      s.source !== undefined &&
      s.source.value.startsWith(".")
    ) {
      out.push(s.source.value);
    }
  }
  return out;
}

/** A replacement of `source.slice(from, to)` by `text`. */
type Edit = readonly [from: number, to: number, text: string];

/** The source with the edits made (in order of `from`; at one place, in the order given). */
function edited(source: string, edits: readonly Edit[]): string {
  let text = "";
  let at = 0;
  for (const [from, to, t] of [...edits].sort((a, b) => a[0] - b[0])) {
    text += source.slice(at, from) + t;
    at = to;
  }
  return text + source.slice(at);
}

/**
 * Top-level `var f=(a)=>…` and `var f=function(…){…}` parenthesised: the same expression (the variable still
 * names the function), compiled eagerly; an async arrow is not, parenthesised or not.
 */
function wraps(program: Program): Edit[] {
  const out: Edit[] = [];
  for (const s of program.body) {
    if (s.type !== "VariableDeclaration") continue;
    for (const { init } of s.declarations) {
      if (init?.type === "FunctionExpression" || (init?.type === "ArrowFunctionExpression" && !init.async)) {
        out.push([init.start, init.start, "("], [init.end, init.end, ")"]);
      }
    }
  }
  return out;
}

/**
 * The top-level function declarations moved and made expressions (module doc), those that can be: none when
 * the chunk is in a loop of static imports (`cyclic`) or names eval.
 */
function declarations(program: Program, source: string, cyclic: boolean): { edits: Edit[]; kept: string[] } {
  if (cyclic) return { edits: [], kept: ["in a cycle of static imports"] };
  const { written, evals } = writtenNames(program);
  if (evals) return { edits: [], kept: ["names eval"] };
  const kept: string[] = [];
  const moved: string[] = [];
  const cuts: Edit[] = [];
  let first: Statement | undefined;
  for (const s of program.body) {
    if (first === undefined && s.type !== "ImportDeclaration") first = s;
    if (s.type !== "FunctionDeclaration" || s.id === null) continue;
    const name = s.id.name;
    if (written.has(name)) {
      kept.push(`${name} is written`);
      continue;
    }
    moved.push(`var ${name}=(${source.slice(s.start, s.end)});`);
    cuts.push([s.start, s.end, ""]);
  }
  if (first === undefined || moved.length === 0) return { edits: [], kept };
  return { edits: [[first.start, first.start, `${moved.join("\n")}\n`], ...cuts], kept };
}

/** One chunk's source with its top-level functions made eager where that is proved equivalent (module doc). */
export function eagerSource(
  file: string,
  source: string,
  cyclic: boolean,
): { text: string; eager: number; kept: string[] } {
  const program = parseAst(source, { sourceType: "module" }, file);
  const { edits, kept } = declarations(program, source, cyclic);
  const wrapped = wraps(program);
  const all = [...edits, ...wrapped];
  return {
    text: all.length === 0 ? source : edited(source, all),
    eager: Math.max(0, edits.length - 1) + wrapped.length / 2,
    kept,
  };
}

/** The chunks in a cycle of static imports (a chunk importing itself is one). */
function cyclicChunks(edges: ReadonlyMap<string, readonly string[]>): Set<string> {
  const cyclic = new Set(cycles([...edges.keys()], (v) => edges.get(v) ?? []).flat());
  for (const [v, to] of edges) if (to.includes(v)) cyclic.add(v);
  return cyclic;
}

/** Every ES module chunk (`.js`) under `dir` made eager where that is proved equivalent; returns what was done. */
export async function eagerBundle(dir: string): Promise<EagerChunk[]> {
  const files = (await readdir(dir, { recursive: true }))
    .filter((f) => f.endsWith(".js"))
    .map((f) => resolve(dir, f));
  const sources = new Map<string, string>();
  const edges = new Map<string, string[]>();
  for (const f of files) {
    const source = await readFile(f, "utf8");
    sources.set(f, source);
    edges.set(
      f,
      staticImports(parseAst(source, { sourceType: "module" }, f)).map((s) => resolve(dirname(f), s)),
    );
  }
  const cyclic = cyclicChunks(edges);
  const done: EagerChunk[] = [];
  for (const [f, source] of sources) {
    const r = eagerSource(f, source, cyclic.has(f));
    if (r.text !== source) await writeFile(f, r.text);
    done.push({ file: join(f).slice(resolve(dir).length + 1), eager: r.eager, kept: r.kept });
  }
  return done;
}
