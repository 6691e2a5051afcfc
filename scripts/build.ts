/**
 * `npm run build` (also `prepack`, so `npm pack` and `npm publish` build; `npm ci` does not): tsc compiles src/ into dist/ (the library, with its type declarations),
 * then esbuild bundles the CLI into dist/bundle/ (one file per command module, loaded lazily), which is what
 * bin/berth.js runs: one bundle loads several times faster than the ~100 files a command would otherwise
 * import, most of `berth run`'s own start time. undici stays outside (src/registry loads it on first use).
 *
 *   node scripts/build.ts [--out DIR]     (default: dist)
 */
import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build, type Plugin } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { out: { type: "string", default: join(ROOT, "dist") } } });
const out = resolve(values.out!);

/**
 * `import process from "node:process"` (commander's) as the global it is. Node's ES module facade of
 * node:process reads every property when it is made, so its getters create stdin, the report, the finalization
 * registry… in every berth process: 3 ms of CPU (`berth --version` is 45 ms in all). Only the default export is
 * given: a named import from node:process fails the build.
 */
const globalProcess: Plugin = {
  name: "global-process",
  setup(b) {
    b.onResolve({ filter: /^(node:)?process$/ }, (a) =>
      a.kind === "import-statement" ? { path: "process", namespace: "global-process" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "global-process" }, () => ({
      contents: "export default globalThis.process;",
      loader: "js",
    }));
  },
};

await rm(out, { recursive: true, force: true });
await new Promise<void>((done, fail) =>
  execFile(
    join(ROOT, "node_modules", ".bin", "tsc"),
    ["-p", join(ROOT, "tsconfig.build.json"), "--outDir", out],
    (err, stdout) => (err ? fail(new Error(`tsc failed:\n${stdout}`)) : done()),
  ),
);
await build({
  entryPoints: { berth: join(ROOT, "src", "cli", "bin.ts") },
  outdir: join(out, "bundle"),
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
  logLevel: "warning",
  plugins: [globalProcess],
  // The CommonJS packages bundled in (commander, proper-lockfile) call require() for Node's modules.
  banner: {
    js: 'import { createRequire as __berthRequire } from "node:module";\nconst require = __berthRequire(import.meta.url);',
  },
});

// The bundle's files are ES modules wherever the folder is copied: Node reads that here instead of compiling
// each file a second time to find out (its module-syntax detection, when no package.json above says so).
await writeFile(join(out, "bundle", "package.json"), '{ "type": "module" }\n');

// berth's launcher, prebuilt per architecture (scripts/lib/launchers.ts): a build step needs no compiler.
{
  const { prebuildLaunchers } = await import("./lib/launchers.ts");
  await prebuildLaunchers(join(out, "launcher"));
}
