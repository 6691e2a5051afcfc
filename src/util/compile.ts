/**
 * Small C programs berth ships as source and compiles static with the host's gcc on the machine that uses
 * them, once per source, flags and compiler, into `$BERTH_HOME/cache/<folder>/<key>/<file>`: the CNB launcher
 * (cnb/launch/launcher.c) and the detect phase's group runner (cnb/group-runner.c).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BerthError, type ErrorCode } from "../errors.ts";
import { makePrivateHome } from "./home.ts";

const run = promisify(execFile);

/** Static, small, and the same bytes from the same source and compiler. */
const STATIC_FLAGS = ["-static", "-Os", "-s", "-Wl,--build-id=none", "-fno-ident"];

/** A program of berth's, as its source and where its binary is cached. */
export interface CProgram {
  /** The C source (in berth's package). */
  source: string;
  /** Its cache folder under `$BERTH_HOME/cache` (e.g. `cnb/launcher`) and the binary's name there. */
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
  let version: string;
  try {
    version = (await run(cc, ["--version"], { env: envOf(o.env) })).stdout;
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
  const dir = join(o.home, "cache", p.folder, key);
  const path = join(dir, p.file);
  if (existsSync(path)) return path;
  o.onCompile?.();
  await makePrivateHome(o.home);
  await mkdir(dir, { recursive: true });
  try {
    await compileStatic(cc, p.source, path, o.env);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new BerthError(p.code, `compiling ${p.what} failed: ${(e.stderr ?? e.message).trim()}`, {
      cause: err,
      hint: "a static build needs libc6-dev (the static libc)",
    });
  }
  return path;
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
