/**
 * berth's own imports of Node's modules, bundled as `process.getBuiltinModule` reads instead of ES module
 * imports (scripts/build.ts). An `import { readFile } from "node:fs/promises"` costs the loader a resolution
 * per chunk and specifier, and the module's ES facade, which reads every export when it is made (node:fs's
 * getters load fs/promises and its streams, node:util's its argument parser and diff, node:stream's its
 * promises…). The rewrite binds the names imported, read once when the module is evaluated; the bundle runs
 * only on the project's Node (≥ 22.3 has `process.getBuiltinModule`).
 *
 * The rewrite works on esbuild's own printing of the module (types gone, one import per line). A name that the
 * module lacks fails the build, as it would fail the ES import; an import it does not understand fails too.
 */
import { readFile } from "node:fs/promises";
import { type Plugin, transform } from "esbuild";

/** `import <clause> from "node:x";` (the clause over several lines maybe) and `import "node:x";` as esbuild prints them. */
const IMPORT =
  /^import\s+(?:([\w$]+(?:\s*,\s*(?:\*\s+as\s+[\w$]+|\{[^}]*\}))?|\*\s+as\s+[\w$]+|\{[^}]*\})\s+from\s+)?"(node:[\w/]+)";?$/gm;

/** One binding list of a named import (`a, b as c`) as a destructuring pattern (`a, b: c`), each name checked. */
function pattern(names: string, specifier: string, file: string): string {
  const module = process.getBuiltinModule(specifier) as Record<string, unknown> | undefined;
  return names
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n.length > 0)
    .map((n) => {
      const [name, local] = n.split(/\s+as\s+/) as [string, string | undefined];
      if (!module || !(name in module)) {
        throw new Error(`${file}: ${specifier} has no export ${JSON.stringify(name)}`);
      }
      return local === undefined ? name : `${name}: ${local}`;
    })
    .join(", ");
}

/** A clause (`def`, `* as ns`, `{ a, b as c }`, `def, { a }`, `def, * as ns`) as declarations. */
function declarations(clause: string, specifier: string, file: string): string {
  const read = `process.getBuiltinModule(${JSON.stringify(specifier)})`;
  const m = /^(?:([\w$]+)\s*,?\s*)?(?:\*\s+as\s+([\w$]+)|\{([^}]*)\})?$/.exec(clause.trim());
  if (!m || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) {
    throw new Error(`${file}: cannot rewrite the import of ${specifier}: ${clause}`);
  }
  const [, def, ns, named] = m;
  const out: string[] = [];
  if (def !== undefined) out.push(`const ${def} = ${read};`);
  if (ns !== undefined) out.push(`const ${ns} = ${read};`);
  if (named !== undefined && named.trim() !== "") {
    out.push(`const { ${pattern(named, specifier, file)} } = ${read};`);
  }
  return out.join(" ");
}

/** A module's static imports of `node:*` as reads of the modules themselves. */
export function rewriteBuiltinImports(js: string, file: string): string {
  const rewritten = js.replace(IMPORT, (_, clause: string | undefined, specifier: string) =>
    clause === undefined
      ? `process.getBuiltinModule(${JSON.stringify(specifier)});`
      : declarations(clause, specifier, file),
  );
  const left = /\bfrom\s*"node:|^import\s*"node:/m.exec(rewritten);
  if (left) throw new Error(`${file}: an import of Node's modules left as it was: ${left[0]}`);
  return rewritten;
}

/** The esbuild plugin: berth's TypeScript modules under `dir` compiled, then their imports rewritten. */
export function builtinReads(dir: string): Plugin {
  return {
    name: "builtin-reads",
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (a) => {
        if (!a.path.startsWith(dir)) return undefined;
        const ts = await readFile(a.path, "utf8");
        const { code } = await transform(ts, {
          loader: "ts",
          format: "esm",
          target: "esnext",
          sourcefile: a.path,
          // as the bundle reads tsconfig.json: class fields defined, imports kept as written
          tsconfigRaw: { compilerOptions: { target: "es2023", verbatimModuleSyntax: true } },
        });
        return { contents: rewriteBuiltinImports(code, a.path), loader: "js" };
      });
    },
  };
}
