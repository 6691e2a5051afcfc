/**
 * esbuild's split ESM bundle re-chunked by rolldown: the chunks an entry (the CLI's bin.js, main, a command, a
 * module imported on first use) loads statically, past those an earlier entry grouped, become one chunk.
 * esbuild gives every set of entries that shares code a chunk of its own, and loading a chunk (finding, reading,
 * linking it) costs more than its bytes: a no-change rebuild read 42 files, 25 past `--version`'s. Taken from the
 * bundle's own import graph (esbuild's metafile), so the groups move with the code; what an entry imports with
 * `import()` is another entry, with its own group, loaded when it is.
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
 * The groups: for each entry of the bundle (its entry point and every module loaded by a dynamic `import()`),
 * the chunks it loads statically that no earlier group took and that are not entries themselves (an entry
 * stays a file of its own, which imports its group: an entry inside a group that its own dynamic imports
 * reach again would wait for itself, as bin.js's top-level await of main would). A chunk is in one group, so
 * every module has one instance. The entries in `first` (source paths relative to `cwd`: the CLI's entry,
 * then the commands whose start matters most) come first, in order, so that their groups hold all they load;
 * then every other entry, from the fewest bytes left to group up, so that a small entry seldom loads a large
 * group made for another. A group of fewer than two chunks changes nothing and is left out.
 */
export function closureGroups(meta: Metafile, cwd: string, first: readonly string[]): Group[] {
  const outs = outputs(meta, cwd);
  const entryOf = new Map<string, Chunk>();
  for (const [k, o] of outs) if (o.entryPoint !== undefined) entryOf.set(o.entryPoint, k);
  // entries only imported dynamically: one also imported statically is a chunk like any other (left out of
  // groups, it could import a group that imports it, and run before the modules it needs)
  const imported = new Set(
    [...outs.values()].flatMap((o) =>
      o.imports.filter((i) => i.kind === "import-statement").map((i) => resolve(cwd, i.path)),
    ),
  );
  const entries = new Set([...entryOf.values()].filter((e) => !imported.has(e)));
  const taken = new Set<Chunk>();
  const left = (entry: Chunk) =>
    [...staticClosure(outs, cwd, entry)].filter((c) => !entries.has(c) && !taken.has(c));
  const groups: Group[] = [];
  const take = (entry: Chunk, keep: boolean) => {
    const chunks = new Set(left(entry));
    if (keep || chunks.size >= 2) for (const c of chunks) taken.add(c);
    if (chunks.size < 2) return;
    const name = /([^/]+?)(-[A-Z0-9]{8})?\.js$/.exec(entry)?.[1] ?? "group";
    groups.push({ name, chunks });
  };
  for (const source of first) {
    const entry = entryOf.get(source);
    if (entry === undefined) throw new Error(`rechunk: ${source} is not an entry of the bundle`);
    // kept out of later groups even when not grouped: bin's and main's chunk must not import another group
    take(entry, true);
  }
  const bytes = (entry: Chunk) => left(entry).reduce((n, c) => n + (outs.get(c)?.bytes ?? 0), 0);
  const rest = [...entries]
    .map((e) => ({ e, n: bytes(e) }))
    .sort((a, b) => a.n - b.n || (a.e < b.e ? -1 : 1));
  // a lone chunk left may join a later group: the entry then loads that group instead, one file either way
  for (const { e } of rest) take(e, false);
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
    // Node's modules and undici (loaded by path at run time) stay imports
    external: (id) => !id.startsWith(".") && !id.startsWith("/"),
    // tree-shaken (the default), so that rolldown's own runtime is left out: esbuild's helpers are in the
    // chunks already, and the runtime's eager createRequire went through node:module's ESM facade
    treeshake: true,
    logLevel: "warn",
    // an entry keeps the exports it has and may gain some; `includeDependenciesRecursively: false` asks for it
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
