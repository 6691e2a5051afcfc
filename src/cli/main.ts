import { Command, CommanderError, Help, type Option } from "commander";
import { BerthError } from "../errors.ts";
import { mayHaveLeftovers } from "../runtime/leftovers.ts";
import { closeContext } from "../transport/context.ts";
import { secureHome } from "../util/home.ts";
import { berthHome, type Cli } from "./env.ts";
import { renderError } from "./errno.ts";
import { EXIT, exitCodeFor } from "./exit.ts";
import type { Output } from "./output.ts";
import { TransferProgress } from "./progress.ts";
import { selfCommand } from "./self.ts";
import { stdio } from "./stdio.ts";
import { needsNamespace } from "./userns.ts";

type Register = (program: Command, cli: () => Cli) => void;

/**
 * Command modules, loaded only when their command runs (or all of them for the overview help), so that a
 * command pays only for the library code it uses.
 */
const MODULES: Record<string, () => Promise<Register[]>> = {
  copy: async () => [(await import("./commands/copy.ts")).registerCopy],
  build: async () => [(await import("./commands/build.ts")).registerBuild],
  inspect: async () => [(await import("./commands/inspect.ts")).registerInspect],
  history: async () => [(await import("./commands/history.ts")).registerHistory],
  images: async () => [(await import("./commands/images.ts")).registerImages],
  archive: async () => [(await import("./commands/archive.ts")).registerArchive],
  edit: async () => [(await import("./commands/edit.ts")).registerEdit],
  registry: async () => [(await import("./commands/registry.ts")).registerRegistry],
  store: async () => [(await import("./commands/store.ts")).registerStore],
  builder: async () => [
    (await import("./commands/builder.ts")).registerBuilder,
    (await import("./commands/default-builder.ts")).registerDefaultBuilder,
  ],
  detect: async () => [(await import("./commands/detect.ts")).registerDetect],
  run: async () => [(await import("./commands/run.ts")).registerRun],
  bundle: async () => [(await import("./commands/bundle.ts")).registerBundle],
  rebase: async () => [(await import("./commands/rebase.ts")).registerRebase],
  stack: async () => [(await import("./commands/stack.ts")).registerStack],
  buildpack: async () => [(await import("./commands/buildpack.ts")).registerBuildpack],
  containers: async () => [(await import("./commands/containers.ts")).registerContainers],
  system: async () => [(await import("./commands/system.ts")).registerSystem],
  image: async () => [(await import("./commands/image.ts")).registerImage],
};

/** The module defining each command name. */
const COMMANDS: Record<string, string> = {
  digest: "inspect",
  tag: "images",
  rmi: "images",
  save: "archive",
  load: "archive",
  append: "edit",
  mutate: "edit",
  export: "edit",
  pull: "registry",
  push: "registry",
  tags: "registry",
  delete: "registry",
  login: "registry",
  logout: "registry",
  ps: "containers",
  stop: "containers",
  kill: "containers",
  logs: "containers",
  rm: "containers",
  exec: "containers",
  _supervise: "containers",
};

const GLOBAL_WITH_VALUE = new Set(["--insecure-registry", "--ca-cert", "--jobs"]);

/**
 * The command an argument list names (the first word that is not a global option), if any; for `help CMD`,
 * CMD (so that `berth help build` loads only build's module).
 */
function commandOf(argv: readonly string[]): string | undefined {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i]!;
    if (GLOBAL_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith("-")) words.push(a);
  }
  return words[0] === "help" && words[1] !== undefined ? words[1] : words[0];
}

/** Help without commander's noise: an empty list default (`(default: [])`) says nothing. */
const HELP = {
  optionDescription(this: Help, option: Option): string {
    const empty = Array.isArray(option.defaultValue) && option.defaultValue.length === 0;
    const shown = empty
      ? Object.assign(Object.create(option) as Option, { defaultValue: undefined })
      : option;
    return Help.prototype.optionDescription.call(this, shown);
  },
};

/** The full name of a command (`berth builder create`). */
function pathOf(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Every command's settings that commander does not pass to commands registered later: a bad flag or unknown
 * command prints one line (with commander's "Did you mean") and the usage line, not the whole help.
 */
function finish(command: Command): void {
  const path = pathOf(command);
  command
    .configureHelp(HELP)
    .showHelpAfterError(
      `Usage: ${path} ${command.usage()}\nRun '${path} --help' for ${command.commands.length ? "its commands" : "the options and examples"}.`,
    )
    .exitOverride();
  for (const sub of command.commands) finish(sub);
}

function known(name: string): boolean {
  return name in COMMANDS || name in MODULES;
}

export async function buildProgram(cli: () => Cli, argv: readonly string[] = []): Promise<Command> {
  const program = new Command("berth")
    .description("Build, store, move and run OCI images with no Docker daemon.")
    .version("0.1.0")
    .option(
      "--insecure-registry <host>",
      "reach this registry over plain HTTP or unverified TLS (repeatable)",
      // flags.ts's collect, written out: `berth --version` loads no more than main's own modules
      (v: string, p: string[] = []) => [...p, v],
    )
    .option("--ca-cert <file>", "trust this CA certificate file for registries (default: $SSL_CERT_FILE)")
    .option("--jobs <n>", "blobs transferred at once (default 4)", (v) => Number.parseInt(v, 10))
    .addHelpText(
      "after",
      "\nRun 'berth help COMMAND' or 'berth COMMAND --help' for a command's options and examples.\n\nExamples:\n  berth pull 127.0.0.1:5000/team/app:1\n  berth build . -t app:1\n  berth run app:1",
    )
    .exitOverride();
  const name = commandOf(argv);
  const module = name === undefined ? undefined : (COMMANDS[name] ?? (name in MODULES ? name : undefined));
  const versionOnly = name === undefined && argv.some((a) => a === "-V" || a === "--version");
  const load = module ? [MODULES[module]!] : versionOnly ? [] : Object.values(MODULES);
  for (const register of (await Promise.all(load.map((l) => l()))).flat()) register(program, cli);
  finish(program);
  return program;
}

/** `argv` run by berth again in a user namespace; undefined when `system` finds none to be made. */
async function rerunInNamespace(
  command: string,
  argv: readonly string[],
  env: Record<string, string | undefined>,
): Promise<number | undefined> {
  const { namespaceCommand, runInNamespace } = await import("./userns.ts");
  const self = [...selfCommand(), ...argv];
  const uid = process.geteuid?.() ?? 0;
  // system df/prune measure and remove what builds left: where no namespace can be made, no build made one
  const ns = await namespaceCommand(
    command,
    self,
    { uid, gid: process.getegid?.() ?? uid },
    env.PATH ?? "",
  ).catch((err) => {
    if (command === "system") return undefined;
    throw err;
  });
  if (!ns) return undefined;
  const nsEnv = { ...env, BERTH_USERNS: ns.mapping, ...(ns.why ? { BERTH_USERNS_WHY: ns.why } : {}) };
  return runInNamespace(ns.argv, nsEnv, process);
}

/** The Cli of this process before the global flags are read; `setExitCode` sets `code.exit`. */
function processCli(env: Record<string, string | undefined>, out: Output, code: { exit: number }): Cli {
  return {
    env,
    out,
    cwd: process.cwd(),
    uid: process.geteuid?.() ?? 0,
    gid: process.getegid?.() ?? 0,
    terminal: {
      // read when asked (berth run): process.stdin is made on first use, a stream Node sets up (~0.6 ms)
      get stdin() {
        return Boolean(process.stdin.isTTY);
      },
      stdout: Boolean(out.stdout.isTTY),
      stderr: Boolean(out.stderr.isTTY),
    },
    // `shared`: one registry client for every source and sink of the command, closed when it ends.
    ctx: { home: berthHome(env), env, shared: {} },
    stdin: () => process.stdin,
    setExitCode: (c) => {
      code.exit = c;
    },
  };
}

/** The Cli a command gets: the process's, with the transport context of the global flags and env. */
function commandCli(program: Command, base: Cli): Cli {
  const { env, out } = base;
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
      progress: () => new TransferProgress(out),
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
}

/**
 * Every command first sweeps what killed berths left (temp folders, store leases and temp files, container
 * folders), by the owner pid and start time each records; a failure to sweep never fails the command. When
 * there is nothing (`mayHaveLeftovers`: a few directory reads), the sweep's modules are not even loaded.
 */
async function sweep(base: Cli): Promise<void> {
  const { env, out } = base;
  try {
    if (!mayHaveLeftovers(base.ctx.home)) return;
    const { sweepLeftovers } = await import("../runtime/sweep.ts");
    const swept = await sweepLeftovers(base.ctx.home, {
      runtime: async () =>
        (await import("../runtime/runtime.ts")).findRuntime({ path: env.PATH || undefined }),
    });
    if (env.BERTH_DEBUG && (swept.temp > 0 || swept.containers.length > 0)) {
      out.stderr.write(
        `debug: swept ${swept.temp} leftovers and ${swept.containers.length} containers of killed berths\n`,
      );
    }
  } catch (err) {
    if (env.BERTH_DEBUG) out.stderr.write(`debug: sweeping leftovers: ${(err as Error).message}\n`);
  }
}

/**
 * The sweep, done before the command's action. `early`: the sweep already under way (started while the
 * command's module loads, so that its reads wait beside that work, not before the command).
 */
function sweepFirst(program: Command, base: Cli, early: Promise<void> | undefined): void {
  program.hook("preAction", () => early ?? sweep(base));
}

/** Whether `argv` runs a known command (no help asked): its sweep can start before its module is loaded. */
function runsCommand(argv: readonly string[]): boolean {
  const command = commandOf(argv);
  return (
    command !== undefined &&
    known(command) &&
    !helpAsked(argv) &&
    !argv.some((a) => a === "-h" || a === "--help")
  );
}

/** Every command's output goes to `out`; berth's own errors and commander's usage errors start with "berth: ". */
function routeOutput(command: Command, out: Output): void {
  command.configureOutput({
    writeOut: (s: string) => out.stdout.write(s),
    writeErr: (s: string) => out.stderr.write(s),
    outputError: (s: string, write: (s: string) => void) => write(s.replace(/^error: /, "berth: ")),
  });
  for (const sub of command.commands) routeOutput(sub, out);
}

/** Whether `help` in `argv` is the help command (`berth help build`), not an argument (`berth run img help`). */
function helpAsked(argv: readonly string[]): boolean {
  const at = argv.indexOf("help");
  return at >= 0 && commandOf(argv.slice(0, at + 1)) === "help";
}

/**
 * The arguments commander is given: `berth help builder create` as `berth builder create --help` (commander's
 * help command takes one word), and bare `berth` (or only global options) as `berth --help`.
 */
function helpArgv(argv: string[]): string[] {
  const helped = commandOf(argv);
  if (helpAsked(argv) && helped && helped !== "help") {
    const at = argv.indexOf("help");
    // an unknown one is answered as `berth NAME` is: unknown command, the nearest one
    argv = [...argv.slice(0, at), ...argv.slice(at + 1), ...(known(helped) ? ["--help"] : [])];
  }
  if (commandOf(argv) === undefined && !argv.some((a) => /^(-h|--help|-V|--version)$/.test(a))) {
    argv = [...argv, "--help"];
  }
  return argv;
}

/** An error as berth says it: `berth: SENTENCE` and its hint; the exit code of its kind. */
function printError(err: unknown, out: Output, home: string): number {
  const { message, hint } = renderError(err as BerthError, home);
  out.stderr.write(`berth: ${message}\n`);
  if (hint) out.stderr.write(`hint: ${hint}\n`);
  if (!(err instanceof BerthError)) return EXIT.failure;
  return typeof err.details.exitCode === "number" ? err.details.exitCode : exitCodeFor(err.code);
}

/** The exit code of a command that failed, after saying why on stderr. */
function failed(err: unknown, argv: readonly string[], base: Cli): number {
  const { env, out } = base;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof BerthError) && !(e && typeof e.code === "string" && typeof e.syscall === "string")) {
    out.stderr.write(`berth: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT.failure;
  }
  // raw system errors (ENOENT, ENOSPC, ECONNREFUSED…) become a sentence naming the path or host
  const code = printError(err, out, base.ctx.home);
  const build = commandOf(argv) === "build" || commandOf(argv) === "detect";
  if (build && env.BERTH_USERNS === "single" && !(err instanceof BerthError && err.code === "ID_UNMAPPED")) {
    // a build without subordinate ids: a chown to another id fails in it, whatever step it is in
    out.stderr.write(
      `note: this build ran in a user namespace holding only your own id (${env.BERTH_USERNS_WHY ?? "no subordinate ids"}), so files cannot be given other owners in it\n`,
    );
  }
  if (env.BERTH_DEBUG) out.stderr.write(`${e.stack}\n`);
  return code;
}

/** Run the CLI; returns the exit code. Only this module and bin/ touch `process`. */
async function main(argv: string[], env: Record<string, string | undefined>, out: Output): Promise<number> {
  const code = { exit: EXIT.ok as number };
  const base = processCli(env, out, code);
  // Not root: a build runs again inside a user namespace of the caller's (./userns.ts), before any command's
  // module is loaded (`berth help build` is help, not a build)
  const command = commandOf(argv);
  if (!helpAsked(argv) && needsNamespace(command, argv, process.geteuid?.() ?? 0)) {
    try {
      const rerun = await rerunInNamespace(command!, argv, env);
      if (rerun !== undefined) return rerun;
    } catch (err) {
      return printError(err, out, base.ctx.home);
    }
  }
  try {
    const tightened = await secureHome(base.ctx.home);
    if (tightened.length) {
      out.stderr.write(
        `warning: ${tightened.join(", ")} ${tightened.length > 1 ? "were" : "was"} open to other users (image roots with setuid files live there); made 0700\n`,
      );
    }
    // only in a home found private (a shared one is refused above)
    const early = runsCommand(argv) ? sweep(base) : undefined;
    const program: Command = await buildProgram(() => commandCli(program, base), argv);
    sweepFirst(program, base, early);
    routeOutput(program, out);
    argv = helpArgv(argv);
    await program.parseAsync(argv, { from: "user" });
    return code.exit;
  } catch (err) {
    return failed(err, argv, base);
  } finally {
    // The command's sources and sinks are done: end the registry client they shared (if one was made).
    await closeContext(base.ctx).catch(() => undefined);
  }
}

/** Wire the CLI to this process: argv, env, stdio and the exit code. */
export async function run(): Promise<void> {
  // `berth … | head`: the reader has what it wanted; stop quietly (as a command killed by SIGPIPE does,
  // without the trace Node prints for an unhandled EPIPE)
  const stdout = stdio(
    1,
    () => process.stdout,
    (s) =>
      s.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "EPIPE") process.exit(EXIT.ok);
        throw err;
      }),
  );
  const out: Output = { stdout, stderr: stdio(2, () => process.stderr), quiet: false };
  process.exitCode = await main(process.argv.slice(2), process.env, out);
  exitWhenIdle(process);
}

/**
 * Exit as soon as the event loop has emptied (when Node would exit by itself: nothing left to run, every
 * `exit` listener still called), without Node's teardown after that (freeing the environment and V8's heap),
 * which berth does not need: a no-change rebuild's last mark to its exit 3.7 → 3.1 ms (medians of 21). Node
 * still writes its compile cache and any profile or coverage on this way out. Another `beforeExit` listener
 * (which may start more work) leaves the exit to Node.
 */
export function exitWhenIdle(proc: Pick<NodeJS.Process, "once" | "listenerCount" | "exit">): void {
  proc.once("beforeExit", () => {
    if (proc.listenerCount("beforeExit") === 0) proc.exit();
  });
}
