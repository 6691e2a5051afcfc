/**
 * `npm run executable`: berth as one self-contained executable, dist/berth-linux-<arch> — a Node single
 * executable application (SEA): the project's Node 24 binary (its debug information stripped when `strip` is
 * there) with berth's CLI bundled into one CommonJS script (undici included) and V8's code cache for it
 * injected by postject, and berth's run-time files (builders/, launcher.c, the launchers prebuilt by
 * scripts/lib/launchers.ts) as its assets, which src/cli/executable.ts unpacks on first use. It needs only
 * glibc (the libraries `ldd` lists for Node) at run time: no node_modules, no npm, no compiler.
 *
 *   node scripts/executable.ts [--out FILE]     (default: dist/berth-linux-<arch>)
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { build } from "esbuild";
import type { ExecutableFiles } from "../src/cli/executable.ts";
import { prebuildLaunchers } from "./lib/launchers.ts";
import { lazyHttp2 } from "./lib/undici.ts";

const pexec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..");
const ARCH = process.arch === "x64" ? "amd64" : process.arch;
const { values } = parseArgs({
  options: { out: { type: "string", default: join(ROOT, "dist", `berth-linux-${ARCH}`) } },
});
const out = resolve(values.out!);
/** postject's marker in Node's binary: where the SEA blob goes (Node's documentation). */
const FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) found.push(...(await filesUnder(p)));
    else if (e.isFile()) found.push(p);
  }
  return found;
}

const work = await mkdtemp(join(tmpdir(), "berth-executable-"));
try {
  // The run-time files, by their path in berth's package.
  const launchers = join(work, "dist", "launcher");
  await prebuildLaunchers(launchers);
  const sources = [
    ...(await filesUnder(join(ROOT, "builders"))),
    join(ROOT, "src", "cnb", "launch", "launcher.c"),
    join(ROOT, "src", "cnb", "group-runner.c"),
    ...(await filesUnder(launchers)),
  ];
  const assets: Record<string, string> = {};
  const files: ExecutableFiles["files"] = [];
  const digest = createHash("sha256");
  for (const file of sources) {
    const path = relative(file.startsWith(work) ? work : ROOT, file);
    const mode = (await stat(file)).mode & 0o111 ? 0o755 : 0o644;
    assets[path] = file;
    files.push({ path, mode });
    digest.update(`${path}\0${mode}\0`).update(await readFile(file));
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const list = join(work, "files.json");
  await writeFile(list, JSON.stringify({ digest: digest.digest("hex"), files } satisfies ExecutableFiles));
  assets["files.json"] = list;

  const main = join(work, "berth.cjs");
  await build({
    entryPoints: [join(ROOT, "src", "cli", "executable.ts")],
    outfile: main,
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node24",
    sourcemap: false,
    legalComments: "none",
    logLevel: "warning",
    // import.meta.url is read only where the executable's entry has given the answer (package.ts, http.ts)
    logOverride: { "empty-import-meta": "silent" },
    // undici's HTTP/2 client (and node:http2) loaded on the first HTTP/2 connection, as in the bundle
    plugins: [lazyHttp2],
  });
  // Paths relative to the work folder (its name is random; the main script's is kept in the blob). No V8 code
  // cache: it differs from build to build (the executable would not be reproducible) and saves little.
  const blob = join(work, "sea.blob");
  await writeFile(
    join(work, "sea.json"),
    JSON.stringify({
      main: "berth.cjs",
      output: "sea.blob",
      disableExperimentalSEAWarning: true,
      useCodeCache: false,
      assets: Object.fromEntries(Object.entries(assets).map(([k, v]) => [k, relative(work, v)])),
    }),
  );
  await pexec(process.execPath, ["--experimental-sea-config", "sea.json"], { cwd: work });

  const exe = join(work, "berth");
  await copyFile(await realpath(process.execPath), exe);
  await chmod(exe, 0o755);
  // Node's symbols and debug information (18 MiB) serve only profilers and debuggers of Node itself.
  await pexec("strip", [exe]).catch(() => undefined);
  await pexec(process.execPath, [
    join(ROOT, "node_modules", "postject", "dist", "cli.js"),
    exe,
    "NODE_SEA_BLOB",
    blob,
    "--sentinel-fuse",
    FUSE,
  ]);
  await mkdir(dirname(out), { recursive: true });
  await rename(exe, out).catch(async () => {
    await copyFile(exe, out);
    await chmod(out, 0o755);
  });
  process.stdout.write(`${out} (${((await stat(out)).size / 2 ** 20).toFixed(1)} MiB)\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
