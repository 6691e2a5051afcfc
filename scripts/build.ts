/**
 * `npm run build` (also `prepack`, so `npm pack` and `npm publish` build; `npm ci` does not): tsc compiles src/ into dist/ (the library, with its type declarations),
 * then esbuild bundles the CLI into dist/bundle/ (one file per command module, loaded lazily), which is what
 * bin/berth.js runs: one bundle loads several times faster than the ~100 files a command would otherwise
 * import, most of `berth run`'s own start time. undici stays outside (src/registry loads it on first use).
 *
 *   node scripts/build.ts [--out DIR]     (default: dist)
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { out: { type: "string", default: join(ROOT, "dist") } } });
const out = resolve(values.out!);

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
  // The CommonJS packages bundled in (commander, proper-lockfile) call require() for Node's modules.
  banner: {
    js: 'import { createRequire as __berthRequire } from "node:module";\nconst require = __berthRequire(import.meta.url);',
  },
});

// berth's launcher, prebuilt per architecture into dist/launcher/<arch> (with the hash of the source it was
// built from in dist/launcher/source.sha256), so that a build step needs no compiler: amd64 with the host's
// gcc on amd64 (x86_64-linux-gnu-gcc elsewhere), arm64 with aarch64-linux-gnu-gcc; each only when present.
{
  const { compileLauncher, launcherSourceHash, launcherSourcePath } = await import(
    "../src/cnb/launch/index.ts"
  );
  const { mkdir, readFile, writeFile } = await import("node:fs/promises");
  const dir = join(out, "launcher");
  await mkdir(dir, { recursive: true });
  const compilers: [string, string[]][] = [
    ["amd64", process.arch === "x64" ? ["gcc", "x86_64-linux-gnu-gcc"] : ["x86_64-linux-gnu-gcc"]],
    ["arm64", process.arch === "arm64" ? ["gcc", "aarch64-linux-gnu-gcc"] : ["aarch64-linux-gnu-gcc"]],
  ];
  for (const [arch, ccs] of compilers) {
    for (const cc of ccs) {
      try {
        await compileLauncher(cc, join(dir, arch), process.env);
        break;
      } catch {
        // not installed, or no static libc for it: the next compiler, else none for this architecture
      }
    }
  }
  await writeFile(
    join(dir, "source.sha256"),
    `${launcherSourceHash(await readFile(launcherSourcePath()))}\n`,
  );
}
