/**
 * Small C programs berth ships as source and compiles static with the host's gcc on the machine that uses
 * them, once per source, flags and compiler: the CNB launcher (cnb/launch/launcher.c) and the detect phase's
 * group runner (cnb/group-runner.c). The binaries are kept per user (./user-cache.ts: `${XDG_CACHE_HOME:-
 * ~/.cache}/berth/programs/<folder>/<key>/<file>`, else `$BERTH_HOME/cache/programs/...`), so that a fresh
 * BERTH_HOME compiles nothing, each with its sha256 beside it, checked before use (the binary is copied into
 * containers and images). The compiler is known by its resolved path and stat, remembered in `compilers/`:
 * `cc --version` runs only when that changed (a new or upgraded compiler, which then gives a new key).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { realpathSync, statSync } from "node:fs";
import { chmod, lstat, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { BerthError, type ErrorCode } from "../errors.ts";
import { writeFileAtomic } from "./fs.ts";
import { makePrivateHome } from "./home.ts";
import { type CacheProcess, cacheFolder } from "./user-cache.ts";
import { whichSync } from "./which.ts";

const run = promisify(execFile);

/** Static, small, and the same bytes from the same source and compiler. */
const STATIC_FLAGS = ["-static", "-Os", "-s", "-Wl,--build-id=none", "-fno-ident"];

/** A program of berth's, as its source and where its binary is cached. */
export interface CProgram {
  /** The C source (in berth's package). */
  source: string;
  /** Its folder in the programs cache (e.g. `cnb/launcher`) and the binary's name there. */
  folder: string;
  file: string;
  /** For messages: "berth's launcher". */
  what: string;
  /** The code of the errors thrown, and the hint when no compiler is found. */
  code: ErrorCode;
  hint: string;
}

export interface CompileOptions {
  /** BERTH_HOME. */
  home: string;
  /** The compiler (default `gcc`, found on PATH). */
  cc?: string | undefined;
  env?: Record<string, string | undefined> | undefined;
  /** Whose per-user cache holds the binaries (HOME, XDG_CACHE_HOME, uid); default `env`'s and this user's. */
  user?: CacheProcess | undefined;
  /** Called before the program is compiled (its first use with this source and compiler: a pause to announce). */
  onCompile?: (() => void) | undefined;
}

/** The hash of a source and the flags it is compiled with. */
export function sourceHash(source: Buffer): string {
  return createHash("sha256").update(source).update(STATIC_FLAGS.join(" ")).digest("hex");
}

/** Compile `source` statically into `out` with `cc` (gcc, or a cross compiler such as aarch64-linux-gnu-gcc). */
export async function compileStatic(
  cc: string,
  source: string,
  out: string,
  env?: Record<string, string | undefined>,
): Promise<void> {
  const tmp = `${out}.tmp-${uniqueSuffix()}`;
  try {
    await run(cc, [...STATIC_FLAGS, "-o", tmp, source], { env: envOf(env) });
    await chmod(tmp, 0o755);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The program's binary: compiled on first use with this source and compiler, then taken from the cache. */
export async function compiledProgram(p: CProgram, o: CompileOptions): Promise<string> {
  const source = await readFile(p.source);
  const cc = o.cc ?? "gcc";
  const env = envOf(o.env);
  const root = await programsCache(o);
  let version: string;
  try {
    version = await compilerVersion(cc, env, join(root, "compilers"));
  } catch (err) {
    throw new BerthError(
      p.code,
      `building ${p.what} needs a C compiler (${cc}), which is not available: ${(err as Error).message}`,
      { cause: err, hint: p.hint },
    );
  }
  const key = createHash("sha256")
    .update(source)
    .update(STATIC_FLAGS.join(" "))
    .update(version)
    .digest("hex")
    .slice(0, 32);
  const dir = join(root, p.folder, key);
  const path = join(dir, p.file);
  if (await verified(path)) return path;
  o.onCompile?.();
  const tmp = `${dir}.tmp-${uniqueSuffix()}`;
  try {
    // 0755: the folder is mounted into containers (the group runner), whose user must reach the binary
    await mkdir(tmp, { recursive: true });
    await chmod(tmp, 0o755);
    const built = join(tmp, p.file);
    await compileStatic(cc, p.source, built, env);
    await writeFile(`${built}.sha256`, `${await sha256Of(built)}\n`);
    await install(tmp, dir, p.file);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new BerthError(p.code, `compiling ${p.what} failed: ${(e.stderr ?? e.message).trim()}`, {
      cause: err,
      hint: "a static build needs libc6-dev (the static libc)",
    });
  }
  return path;
}

/** The programs cache: per user when its folder is safe, else under BERTH_HOME (made private first). */
async function programsCache(o: CompileOptions): Promise<string> {
  const folder = cacheFolder(o.user ?? { env: o.env ?? {}, uid: userInfo().uid }, o.home, "programs");
  switch (folder.kind) {
    case "user":
    case "home":
      return folder.dir;
    case "none":
      // a shared BERTH_HOME (main.ts refuses it) with no user cache: BERTH_HOME's place, as before
      await makePrivateHome(o.home);
      return join(o.home, "cache", "programs");
  }
}

/**
 * The compiler's `--version` output (hashed), remembered in `records` under its resolved path with its stat
 * (device, inode, size, mtime, ctime): the compiler is started only when it is new or changed.
 */
async function compilerVersion(cc: string, env: Record<string, string>, records: string): Promise<string> {
  const found = whichSync(cc, env.PATH ?? "", { regularFile: true, emptyIsCwd: true });
  const real = found && realpathSync(found);
  const st = real && statSync(real, { bigint: true });
  const stamp = st && `${real}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  const record = real && join(records, createHash("sha256").update(real).digest("hex").slice(0, 32));
  if (record) {
    const known = (await readFile(record, "utf8").catch(() => "")).split("\n");
    if (known[0] === stamp && known[1]) return known[1];
  }
  const version = createHash("sha256")
    .update((await run(cc, ["--version"], { env })).stdout)
    .digest("hex");
  if (record) await writeFileAtomic(record, `${stamp}\n${version}\n`, 0o644, { sync: false });
  return version;
}

async function sha256Of(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

/** Whether `path` is a plain file whose sha256 is the one recorded beside it when it was compiled. */
async function verified(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isFile()) return false;
  const recorded = (await readFile(`${path}.sha256`, "utf8").catch(() => "")).trim();
  return recorded !== "" && recorded === (await sha256Of(path));
}

/**
 * Move the folder `tmp` (binary and its hash) to `dir` in one rename: of berths compiling at once one wins and
 * the others take its binary; a `dir` holding a binary that fails its check is replaced.
 */
async function install(tmp: string, dir: string, file: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(tmp, dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || attempt === 3) throw err;
    }
    if (await verified(join(dir, file))) {
      await rm(tmp, { recursive: true, force: true });
      return;
    }
    const old = `${dir}.old-${uniqueSuffix()}`;
    await rename(dir, old).catch(() => undefined);
    await rm(old, { recursive: true, force: true });
  }
}

function envOf(given: Record<string, string | undefined> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) env[k] = v;
  if (!env.PATH) env.PATH = "/usr/local/bin:/usr/bin:/bin";
  return env;
}

let seq = 0;
/** A suffix for a temporary file beside its final path. */
export function uniqueSuffix(): string {
  seq++;
  return `${Date.now().toString(36)}${seq}${Math.random().toString(36).slice(2, 6)}`;
}
