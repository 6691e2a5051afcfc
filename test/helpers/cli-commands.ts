/**
 * One berth command run in this process, for the mirror tests of src/cli/commands/: the program main.ts
 * builds for the command's words (`buildProgram`, loading only the command's module), given a real BERTH_HOME
 * and captured output. What main.ts adds around it (the leftovers sweep, the error sentence and exit code) is
 * left out: the test sees the command's own error (its code, message and hint) or its output.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import type { Command } from "commander";
import type { Cli } from "../../src/cli/env.ts";
import { buildProgram } from "../../src/cli/main.ts";
import { closeContext, type TransportContext } from "../../src/transport/context.ts";
import { tempDir } from "./temp.ts";

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** What the command threw (a BerthError, or commander's error for a usage mistake), if anything. */
  error: unknown;
  /** The exit code the command set (a container's), if any. */
  exitCode: number | undefined;
}

interface CommandOptions {
  home: string;
  cwd?: string | undefined;
  env?: Record<string, string> | undefined;
  stdin?: string | Buffer | undefined;
}

/**
 * A command's Cli as main.ts makes one: `env` as given (no defaults), stdout and stderr captured, no terminal,
 * this process's user unless `uid`/`gid`; `ctx` adds to the transport context (the global flags' part).
 */
export function testCli(o: {
  home: string;
  env: Record<string, string | undefined>;
  cwd?: string | undefined;
  stdin?: string | Buffer | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  ctx?: Partial<TransportContext> | undefined;
}): { cli: Cli; stdout: PassThrough; stderr: PassThrough; exitCode: () => number | undefined } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let exitCode: number | undefined;
  const cli: Cli = {
    ctx: { home: o.home, env: o.env, shared: {}, ...o.ctx },
    out: { stdout, stderr, quiet: false },
    env: o.env,
    cwd: o.cwd ?? process.cwd(),
    uid: o.uid ?? process.geteuid?.() ?? 0,
    gid: o.gid ?? process.getegid?.() ?? 0,
    terminal: { stdin: false, stdout: false, stderr: false },
    stdin: () => Readable.from([o.stdin ?? ""]),
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  return { cli, stdout, stderr, exitCode: () => exitCode };
}

export async function runCommand(argv: string[], o: CommandOptions): Promise<CommandResult> {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: o.home, BERTH_HOME: o.home, ...o.env };
  const { cli, stdout, stderr, exitCode } = testCli({ home: o.home, env, cwd: o.cwd, stdin: o.stdin });
  const program = await buildProgram(() => cli, argv);
  const quietly = (c: Command): void => {
    c.configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });
    for (const sub of c.commands) quietly(sub);
  };
  quietly(program);
  let error: unknown;
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    error = err;
  } finally {
    await closeContext(cli.ctx);
  }
  const text = (s: PassThrough) => String(s.read() ?? "");
  return { stdout: text(stdout), stderr: text(stderr), error, exitCode: exitCode() };
}

/**
 * An image of one layer (`files` under /app) made by `berth append scratch` in process and stored as `name`
 * in `home`'s store, with `mutate`'s config (`--env`, `--cmd`, `--label`…) when given; returns its digest.
 */
export async function storedImage(
  home: string,
  name: string,
  files: Record<string, string>,
  mutate: string[] = [],
): Promise<string> {
  const dir = await tempDir();
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await must(runCommand(["append", "scratch", `${dir}:/app`, "-t", name], { home }));
  if (mutate.length) await must(runCommand(["mutate", name, ...mutate, "-t", name], { home }));
  return (await must(runCommand(["digest", name], { home }))).stdout.trim();
}

async function must(p: Promise<CommandResult>): Promise<CommandResult> {
  const r = await p;
  if (r.error) throw r.error;
  return r;
}
