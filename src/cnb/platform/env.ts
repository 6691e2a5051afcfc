/**
 * Platform environment (pack's `-e/--env` and `--env-file`): `K=V`, or a bare `K` taking the value the
 * caller passes from the host; written as `<platform>/env/K` files with the value verbatim.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../../errors.ts";
import { writeFileAtomic } from "../../util/fs.ts";

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parse one `-e` value. A bare name takes `hostEnv[name]`; absent there, it is dropped (as pack does). */
export function parseEnvArg(
  arg: string,
  hostEnv: Record<string, string | undefined>,
  where = "--env",
): [string, string] | undefined {
  const i = arg.indexOf("=");
  const name = i < 0 ? arg : arg.slice(0, i);
  if (!NAME_RE.test(name)) {
    throw new BerthError(
      "USAGE",
      `${where} ${JSON.stringify(arg)}: ${JSON.stringify(name)} is not a variable name`,
    );
  }
  if (name.startsWith("CNB_")) {
    throw new BerthError(
      "USAGE",
      `${where} ${JSON.stringify(arg)}: CNB_ variables are reserved for the platform`,
    );
  }
  if (i >= 0) return [name, arg.slice(i + 1)];
  const v = hostEnv[name];
  return v === undefined ? undefined : [name, v];
}

/** An env file: one `K=V` or bare `K` per line; blank lines and `#` comments skipped. */
export function parseEnvFile(
  text: string,
  file: string,
  hostEnv: Record<string, string | undefined>,
): [string, string][] {
  const out: [string, string][] = [];
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const kv = parseEnvArg(line, hostEnv, `${file} line ${n + 1}:`);
    if (kv) out.push(kv);
  }
  return out;
}

export async function readEnvFile(
  file: string,
  hostEnv: Record<string, string | undefined>,
): Promise<[string, string][]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new BerthError("USAGE", `--env-file ${file} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseEnvFile(text, file, hostEnv);
}

/** Merge env sources in order (later wins): env files first, then `-e` flags, as pack does. */
export function mergePlatformEnv(...sources: Iterable<[string, string]>[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of sources) for (const [k, v] of s) out.set(k, v);
  return out;
}

/** Write `<platformDir>/env/<K>` for each variable. */
export async function writePlatformEnv(platformDir: string, env: ReadonlyMap<string, string>): Promise<void> {
  for (const [k, v] of env) await writeFileAtomic(join(platformDir, "env", k), v);
}

/**
 * The platform's env as pack builds it: project.toml's `[[build.env]]`, then the `--env-file`s, then `-e`
 * (later wins), written to `<platformDir>/env/`.
 */
export async function writeBuildPlatformEnv(
  platformDir: string,
  o: {
    projectEnv?: readonly { name: string; value: string }[] | undefined;
    envFiles?: readonly string[] | undefined;
    env?: readonly string[] | undefined;
    hostEnv: Record<string, string | undefined>;
  },
): Promise<void> {
  const pairs: [string, string][] = [];
  for (const e of o.projectEnv ?? []) pairs.push([e.name, e.value]);
  for (const f of o.envFiles ?? []) pairs.push(...(await readEnvFile(f, o.hostEnv)));
  for (const e of o.env ?? []) {
    const kv = parseEnvArg(e, o.hostEnv);
    if (kv) pairs.push(kv);
  }
  await writePlatformEnv(platformDir, mergePlatformEnv(pairs));
}
