/**
 * `npm run build` (also `prepack`, so `npm pack` and `npm publish` build; `npm ci` does not): tsc compiles src/ into dist/ (the library, with its type declarations),
 * then esbuild bundles the CLI into dist/bundle/ (one file per command module, loaded lazily), which is what
 * bin/berth.js runs: one bundle loads several times faster than the ~100 files a command would otherwise
 * import, most of `berth run`'s own start time. rolldown then re-chunks esbuild's output (scripts/lib/rechunk.ts):
 * what each entry (the CLI, a command, a module loaded on first use) imports statically is one chunk; their
 * top-level functions are then made to compile with their chunk, into Node's compile cache (scripts/lib/eager.ts). undici is bundled apart, into chunks/undici.cjs (scripts/lib/undici.ts),
 * which src/registry/http.ts loads on first use.
 *
 *   node scripts/build.ts [--out DIR] [--metafile FILE]     (default: dist; FILE: esbuild's account of the CLI bundle,
 *   which source modules each of its chunks holds, before rolldown merges them)
 */
import { execFile } from "node:child_process";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build, type Plugin } from "esbuild";
import { builtinReads } from "./lib/builtins.ts";
import { eagerBundle } from "./lib/eager.ts";
import { closureGroups, rechunk } from "./lib/rechunk.ts";
import { lazyHttp2, UNDICI_ENTRY } from "./lib/undici.ts";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: { out: { type: "string", default: join(ROOT, "dist") }, metafile: { type: "string" } },
});
const out = resolve(values.out!);

/**
 * commander's imports of Node's modules (node:process, node:util, node:child_process, node:fs…) as the modules
 * themselves (`process.getBuiltinModule`), not their ES module facades: a facade reads every export when it is
 * made, so getters load what nobody asked for (node:process's create stdin and the diagnostic report;
 * node:util's load its argument parser and diff). commander is loaded by every command, and for `berth
 * --version` it is the only importer of node:process, node:util and (cli/userns.ts importing it lazily)
 * node:child_process. Each name is read when the module is loaded (the names imported
 * only: esbuild drops the unused pure reads); one that is a getter, or that this Node lacks, fails the build.
 */
/**
 * node:child_process for commander, loaded on first use: commander spawns only executable subcommands, which
 * berth has none of, and the module brings 37 of Node's (net, dgram…). A named import of it fails the build.
 */
const LAZY_CHILD_PROCESS = `let m;
export default new Proxy({}, { get: (_, k) => (m ??= process.getBuiltinModule("node:child_process"))[k] });`;

const commanderBuiltins: Plugin = {
  name: "commander-builtins",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) =>
      a.kind === "import-statement" && /[\\/]node_modules[\\/]commander[\\/]/.test(a.importer)
        ? { path: a.path, namespace: "commander-builtin" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "commander-builtin" }, (a) => {
      if (a.path === "node:child_process") return { contents: LAZY_CHILD_PROCESS, loader: "js" };
      const m = process.getBuiltinModule(a.path) as Record<string, unknown>;
      const names = Object.entries(Object.getOwnPropertyDescriptors(m))
        .filter(([k, d]) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== "default" && !d.get)
        .map(([k]) => `export const ${k} = /* @__PURE__ */ (() => m.${k})();`);
      return {
        contents: [
          `const m = process.getBuiltinModule(${JSON.stringify(a.path)});`,
          "export default m;",
          ...names,
        ].join("\n"),
        loader: "js",
      };
    });
  },
};

/**
 * The chunks' imports of each other resolved by a module hook (`module.registerHooks`, in-thread), registered by
 * the entry before it loads the CLI: a relative specifier from a file in the bundle is the URL it
 * names, an ES module. Node's own resolution checks each (specifier, importer) pair on disk (a stat and the
 * realpath of the file, URL work), and a no-change rebuild resolves ~160 of them: resolveSync was
 * ~9–13 ms of a no-change rebuild's ~100. The chunks are berth's own files, named by esbuild.
 */
const CHUNK_RESOLVE = `const __berthBundle = new URL("./", import.meta.url).href;
process.getBuiltinModule("node:module").registerHooks?.({
  resolve: (s, c, next) =>
    s.startsWith("./") && c.parentURL?.startsWith(__berthBundle)
      ? { url: new URL(s, c.parentURL).href, format: "module", shortCircuit: true }
      : next(s, c),
});
`;

await rm(out, { recursive: true, force: true });
await new Promise<void>((done, fail) =>
  execFile(
    join(ROOT, "node_modules", ".bin", "tsc"),
    ["-p", join(ROOT, "tsconfig.build.json"), "--outDir", out],
    (err, stdout) => (err ? fail(new Error(`tsc failed:\n${stdout}`)) : done()),
  ),
);
const split = join(out, "bundle-split");
const cli = await build({
  entryPoints: { bin: join(ROOT, "src", "cli", "bin.ts") },
  absWorkingDir: ROOT,
  outdir: split,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  external: ["undici"],
  // no source maps: they would point at src/, which the package does not ship
  sourcemap: false,
  legalComments: "linked",
  // No comments, no indentation: a no-change rebuild reads 1.41 → 1.05 MB of chunks, and without the
  // comments' arrows and dashes every chunk is ASCII (below). Names are kept, for stack traces.
  minifyWhitespace: true,
  logLevel: "warning",
  plugins: [commanderBuiltins, builtinReads(join(ROOT, "src"))],
  // The CommonJS packages bundled in (commander, proper-lockfile) call require() for Node's modules
  // (node:module read as itself, as ./lib/builtins.ts has berth's imports: no resolution per chunk). Made on
  // first call: the banner is in every chunk, and only the one with esbuild's require shim calls it
  // (createRequire in each of the ~40 chunks a no-change rebuild loads was ~0.8 ms).
  banner: {
    js: 'let __berthRequire; const require = (id) => (__berthRequire ??= process.getBuiltinModule("node:module").createRequire(import.meta.url))(id);',
  },
  metafile: true,
});
if (values.metafile !== undefined) await writeFile(resolve(values.metafile), JSON.stringify(cli.metafile));
// esbuild gives each set of entries sharing code a chunk; what each entry imports statically becomes one chunk
// (scripts/lib/rechunk.ts): the CLI's, main's, then the build and run commands' (past what those load), then
// the other commands' and lazily loaded modules'.
await rechunk(
  split,
  join(out, "bundle"),
  "bin.js",
  closureGroups(cli.metafile, ROOT, [
    "src/cli/bin.ts",
    "src/cli/main.ts",
    "src/cli/commands/build.ts",
    "src/cli/commands/run.ts",
  ]),
);
await rm(split, { recursive: true });
// Every top-level function of the chunks compiled with its chunk, so that it is in Node's compile cache
// (scripts/lib/eager.ts; a function compiled on first call is not, and is compiled again by every run). A chunk
// in a cycle of static imports, or a function whose name is written, is left as it is.
await eagerBundle(join(out, "bundle"));

// undici's Agent and request API, one file, its HTTP/2 client loaded on first use (scripts/lib/undici.ts): loading
// it took ~11 ms instead of ~23 (25 files resolved and read, and node:http2 with 43 more of Node's modules).
await build({
  stdin: { contents: UNDICI_ENTRY, resolveDir: ROOT, loader: "js", sourcefile: "undici-entry.cjs" },
  outfile: join(out, "bundle", "chunks", "undici.cjs"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node22",
  sourcemap: false,
  legalComments: "linked",
  minifyWhitespace: true,
  logLevel: "warning",
  plugins: [lazyHttp2],
});

// Every file of the bundle ASCII: one character beyond makes V8 keep the whole chunk's source two bytes a
// character, and Node's loader decode it the slow way (esbuild escapes strings and names, not regular
// expressions: write those with \u escapes).
for (const file of await readdir(join(out, "bundle"), { recursive: true })) {
  if (!/\.c?js$/.test(file)) continue;
  const text = await readFile(join(out, "bundle", file), "utf8");
  const at = text.search(/[^\x00-\x7f]/);
  if (at >= 0) {
    throw new Error(
      `bundle/${file} is not ASCII: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}`,
    );
  }
}

// The entry (what bin/berth.js imports): the hook, then the CLI, so that every chunk of the CLI's is resolved
// by it (an ES module's static imports are all resolved before its code runs).
await writeFile(join(out, "bundle", "berth.js"), `${CHUNK_RESOLVE}await import("./bin.js");\n`);

// The bundle's files are ES modules wherever the folder is copied: Node reads that here instead of compiling
// each file a second time to find out (its module-syntax detection, when no package.json above says so).
await writeFile(join(out, "bundle", "package.json"), '{ "type": "module" }\n');

// berth's launcher, prebuilt per architecture (scripts/lib/launchers.ts): a build step needs no compiler.
{
  const { prebuildLaunchers } = await import("./lib/launchers.ts");
  await prebuildLaunchers(join(out, "launcher"));
}
