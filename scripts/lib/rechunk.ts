/**
 * esbuild's split ESM bundle re-chunked by rolldown: the chunks a command loads statically, beyond those the
 * entry (bin.js and the CLI's main) loads, become one chunk. esbuild gives every set of entries that shares code
 * a chunk of its own, and loading a chunk (finding, reading, linking it) costs more than its bytes: a no-change
 * rebuild read ~25 chunks past main's. Taken from the bundle's own import graph (esbuild's metafile), so the groups
 * move with the code; a chunk reached only through a dynamic `import()` (code loaded on first use) stays apart.
 */
import { cp, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Metafile } from "esbuild";
import { rolldown } from "rolldown";

/** A chunk of esbuild's output, by absolute path. */
type Chunk = string;

/** A group of esbuild chunks that becomes one chunk. */
export interface Group {
  readonly name: string;
  readonly chunks: ReadonlySet<Chunk>;
}

/** esbuild's outputs by absolute path (a metafile names them relative to its working folder). */
function outputs(meta: Metafile, cwd: string): Map<Chunk, Metafile["outputs"][string]> {
  return new Map(Object.entries(meta.outputs).map(([k, o]) => [resolve(cwd, k), o]));
}

/** The chunks `from` loads before its code runs: itself and its static imports, transitively. */
function staticClosure(
  outs: ReadonlyMap<Chunk, Metafile["outputs"][string]>,
  cwd: string,
  from: Chunk,
): Set<Chunk> {
  const seen = new Set<Chunk>();
  const todo = [from];
  for (let c = todo.pop(); c !== undefined; c = todo.pop()) {
    if (seen.has(c)) continue;
    seen.add(c);
    for (const i of outs.get(c)?.imports ?? []) {
      if (i.kind === "import-statement" && !i.external) todo.push(resolve(cwd, i.path));
    }
  }
  return seen;
}

/**
 * The groups: for each command module (`commands`, source paths relative to `cwd`, in order of priority), the
 * chunks its entry chunk loads statically less those the `base` entries load (always loaded before a command)
 * and those an earlier group took (a chunk is in one group, so every module has one instance). A group of
 * fewer than two chunks changes nothing and is left out.
 */
export function closureGroups(
  meta: Metafile,
  cwd: string,
  base: readonly string[],
  commands: readonly string[],
): Group[] {
  const outs = outputs(meta, cwd);
  const entryOf = new Map<string, Chunk>();
  for (const [k, o] of outs) if (o.entryPoint !== undefined) entryOf.set(o.entryPoint, k);
  const chunkOf = (source: string): Chunk => {
    const c = entryOf.get(source);
    if (c === undefined) throw new Error(`rechunk: ${source} is not an entry of the bundle`);
    return c;
  };
  const taken = new Set<Chunk>();
  for (const b of base) for (const c of staticClosure(outs, cwd, chunkOf(b))) taken.add(c);
  const groups: Group[] = [];
  for (const source of commands) {
    const chunks = new Set([...staticClosure(outs, cwd, chunkOf(source))].filter((c) => !taken.has(c)));
    if (chunks.size < 2) continue;
    for (const c of chunks) taken.add(c);
    const name = /([^/]+)\.[cm]?[jt]s$/.exec(source)?.[1] ?? "group";
    groups.push({ name, chunks });
  }
  return groups;
}

/**
 * Re-chunks esbuild's output folder `from` (entry `entry`, e.g. "bin.js") into `to`: each group's chunks one
 * chunk, every other chunk as it was (rolldown keeps a module's dependencies out of its group:
 * `includeDependenciesRecursively: false`), whitespace removed and ASCII only as esbuild wrote them. Files that
 * are not chunks (legal notices) are copied as they are.
 */
export async function rechunk(
  from: string,
  to: string,
  entry: string,
  groups: readonly Group[],
): Promise<void> {
  const bundle = await rolldown({
    input: { [entry.replace(/\.js$/, "")]: join(from, entry) },
    platform: "node",
    // tree-shaken, so that rolldown's own runtime is left out (esbuild's helpers are already in the chunks)
    external: (id) => !id.startsWith(".") && !id.startsWith("/"),
    logLevel: "warn",
    // a group holds no entry, so entries keep their exports; the option is what `includeDependenciesRecursively`
    // asks to be said
    preserveEntrySignatures: "allow-extension",
  });
  try {
    await bundle.write({
      dir: to,
      format: "esm",
      entryFileNames: "[name].js",
      chunkFileNames: "chunks/[name]-[hash].js",
      minify: { compress: false, mangle: false, codegen: { removeWhitespace: true, asciiOnly: true } },
      comments: { legal: true, annotation: true, jsdoc: false },
      codeSplitting: {
        includeDependenciesRecursively: false,
        groups: groups.map((g) => ({ name: g.name, test: (id: string) => g.chunks.has(id) })),
      },
    });
  } finally {
    await bundle.close();
  }
  for (const file of await readdir(from, { recursive: true })) {
    if (file.endsWith(".LEGAL.txt")) await cp(join(from, file), join(to, file));
  }
}
