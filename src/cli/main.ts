import { Command, CommanderError } from "commander";
import { BerthError } from "../errors.ts";
import { registerArchive } from "./commands/archive.ts";
import { registerBuild } from "./commands/build.ts";
import { registerBuilder } from "./commands/builder.ts";
import { registerBuildpack } from "./commands/buildpack.ts";
import { registerBundle } from "./commands/bundle.ts";
import { registerCopy } from "./commands/copy.ts";
import { registerDefaultBuilder } from "./commands/default-builder.ts";
import { registerDetect } from "./commands/detect.ts";
import { registerEdit } from "./commands/edit.ts";
import { registerImages } from "./commands/images.ts";
import { registerInspect } from "./commands/inspect.ts";
import { registerRebase } from "./commands/rebase.ts";
import { registerRegistry } from "./commands/registry.ts";
import { registerRun } from "./commands/run.ts";
import { registerStack } from "./commands/stack.ts";
import { registerStore } from "./commands/store.ts";
import { berthHome, type Cli } from "./env.ts";
import { EXIT, exitCodeFor } from "./exit.ts";
import type { Output } from "./output.ts";

export function buildProgram(cli: () => Cli, stdin: () => NodeJS.ReadableStream): Command {
  const program = new Command("berth")
    .description("Build, store, move and run OCI images with no Docker daemon.")
    .version("0.1.0")
    .option(
      "--insecure-registry <host>",
      "reach this registry over plain HTTP or unverified TLS (repeatable)",
      (v: string, p: string[] = []) => [...p, v],
    )
    .option("--ca-cert <file>", "trust this CA certificate file for registries (default: $SSL_CERT_FILE)")
    .option("--jobs <n>", "blobs transferred at once (default 4)", (v) => Number.parseInt(v, 10))
    .showHelpAfterError()
    .exitOverride();
  registerCopy(program, cli);
  registerBuild(program, cli);
  registerInspect(program, cli);
  registerImages(program, cli);
  registerArchive(program, cli);
  registerEdit(program, cli);
  registerRegistry(program, cli, stdin);
  registerStore(program, cli);
  registerBuilder(program, cli);
  registerDetect(program, cli);
  registerRun(program, cli);
  registerBundle(program, cli);
  registerRebase(program, cli);
  registerStack(program, cli);
  registerBuildpack(program, cli);
  registerDefaultBuilder(program, cli);
  return program;
}

/** Run the CLI; returns the exit code. Only this module and bin/ touch `process`. */
export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
  out: Output,
): Promise<number> {
  const base: Cli = { env, out, cwd: process.cwd(), ctx: { home: berthHome(env), env } };
  const program = buildProgram(
    () => {
      const g = program.opts<{ insecureRegistry?: string[]; caCert?: string; jobs?: number }>();
      const insecure = [
        ...(env.BERTH_INSECURE_REGISTRIES?.split(",").filter(Boolean) ?? []),
        ...(g.insecureRegistry ?? []),
      ];
      const caCert = g.caCert ?? env.SSL_CERT_FILE;
      return {
        ...base,
        ctx: {
          ...base.ctx,
          ...(insecure.length ? { insecureRegistries: insecure } : {}),
          ...(caCert ? { caCert } : {}),
          ...(g.jobs ? { jobs: g.jobs } : {}),
          ...(env.BERTH_DEBUG
            ? {
                logger: {
                  debug: (l: string) => out.stderr.write(`debug: ${l}\n`),
                  warn: (l: string) => out.stderr.write(`warning: ${l}\n`),
                },
              }
            : {}),
        },
      };
    },
    () => process.stdin,
  );
  program.configureOutput({
    writeOut: (s) => out.stdout.write(s),
    writeErr: (s) => out.stderr.write(s),
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof BerthError) {
      out.stderr.write(`berth: ${err.message}\n`);
      if (err.hint) out.stderr.write(`hint: ${err.hint}\n`);
      if (env.BERTH_DEBUG) out.stderr.write(`${err.stack}\n`);
      return exitCodeFor(err.code);
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === "string" && typeof e.syscall === "string") {
      out.stderr.write(`berth: ${e.message}\n`);
      return EXIT.failure;
    }
    out.stderr.write(`berth: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.failure;
  }
}

/** Wire the CLI to this process: argv, env, stdio and the exit code. */
export async function run(): Promise<void> {
  const out: Output = { stdout: process.stdout, stderr: process.stderr, quiet: false };
  process.exitCode = await main(process.argv.slice(2), process.env, out);
}
