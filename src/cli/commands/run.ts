import { spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { createContainer, type RunImageOptions, runCreated } from "../../api/run.ts";
import { BerthError, type ErrorCode } from "../../errors.ts";
import type { Container } from "../../runtime/container.ts";
import type { SignalForwarder } from "../../runtime/exec.ts";
import { shortId } from "../../runtime/state.ts";
import { type Cli, hostOptions } from "../env.ts";
import { collect } from "../flags.ts";
import { info } from "../output.ts";
import { selfCommand } from "../self.ts";

/** docker's exit code for its own failures in `run` and `exec` (the container's code is passed on as it is). */
const OWN_FAILURE = 125;

/** Mark a failure of berth itself (not of the container) for docker's exit code 125. */
export function ownFailure(err: unknown): unknown {
  if (err instanceof BerthError && typeof err.details.exitCode !== "number") {
    err.details.exitCode = OWN_FAILURE;
  }
  return err;
}

/**
 * Signals for the container while it runs in the foreground: SIGINT and SIGTERM are forwarded, and the
 * second of them kills it (docker compose's Ctrl-C twice); the others (SIGHUP, SIGQUIT, SIGUSR1/2, SIGWINCH)
 * are forwarded as they come. Caught from the start of the command, so that a late signal cannot leave a
 * mounted root behind (they are ignored until the container runs and after it ended).
 */
export function containerSignals(c: Cli): { forward: SignalForwarder; dispose: () => void } {
  const signals: NodeJS.Signals[] = [
    "SIGINT",
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGWINCH",
  ];
  let send: ((s: NodeJS.Signals) => void) | undefined;
  let stops = 0;
  const onSignal = (s: NodeJS.Signals) => {
    if (!send) return;
    if (s === "SIGINT" || s === "SIGTERM") {
      stops++;
      if (stops >= 2) {
        c.out.stderr.write("berth: killing the container\n");
        send("SIGKILL");
        return;
      }
      if (s === "SIGINT") c.out.stderr.write("berth: sent SIGINT to the container (Ctrl-C again kills it)\n");
    }
    send(s);
  };
  for (const s of signals) process.on(s, onSignal);
  return {
    forward: (fn) => {
      send = fn;
      return () => {
        send = undefined;
      };
    },
    dispose: () => {
      for (const s of signals) process.off(s, onSignal);
    },
  };
}

interface SupervisorMessage {
  type: "started" | "exited" | "error";
  exitCode?: number;
  stderr?: string;
  started?: boolean;
  code?: string;
  message?: string;
  hint?: string;
}

/**
 * `berth run -d`: hand the created container to a detached supervisor (`berth _supervise DIR`, its own
 * session) that runs it, keeps its output in its log, records its exit and removes it (`--rm`). Waits
 * until the process runs (then prints the id, as docker does) or failed to start (its error and code).
 */
async function detach(c: Cli, container: Container): Promise<void> {
  const errLog = await open(join(container.dir, "supervise.log"), "a", 0o600);
  const [self, ...selfArgs] = selfCommand();
  const child = spawn(self!, [...selfArgs, "_supervise", container.dir], {
    detached: true,
    stdio: ["ignore", "ignore", errLog.fd, "ipc"],
    env: c.env,
  });
  const msg = await new Promise<SupervisorMessage | undefined>((resolvePromise) => {
    child.on("message", (m) => resolvePromise(m as SupervisorMessage));
    child.on("error", () => resolvePromise(undefined));
    // The channel closes after its last message is read (an exit event may come before it).
    child.on("disconnect", () => resolvePromise(undefined));
  });
  await errLog.close();
  if (child.connected) child.disconnect();
  child.unref();
  if (!msg) {
    await container.finish({
      exitCode: OWN_FAILURE,
      finishedAt: new Date().toISOString(),
      error: "no supervisor",
    });
    throw new BerthError(
      "RUNTIME_FAILED",
      `the supervisor of container ${container.id} ended before starting it`,
      { hint: `its messages are in ${join(container.dir, "supervise.log")}` },
    );
  }
  await container.release();
  if (msg.type === "error") {
    throw new BerthError((msg.code ?? "RUNTIME_FAILED") as ErrorCode, msg.message ?? "the container failed", {
      hint: msg.hint || undefined,
    });
  }
  if (msg.type === "exited" && !msg.started) {
    if (msg.stderr) c.out.stderr.write(msg.stderr.endsWith("\n") ? msg.stderr : `${msg.stderr}\n`);
    c.setExitCode(msg.exitCode || OWN_FAILURE);
    return;
  }
  c.out.stdout.write(`${container.id}\n`);
}

export function registerRun(program: Command, cli: () => Cli): void {
  // Options after the image belong to the container's command (`berth run img ls -l`).
  program.enablePositionalOptions();
  program
    .command("run")
    .description("run a command in a new container from an image (runc or crun, no daemon)")
    .argument("<image>", "image in any transport (a bare name is the local store)")
    .argument("[args...]", "command and arguments, replacing the image's Cmd")
    .option("-e, --env <K=V>", "set an environment variable (K alone: take it from here)", collect, [])
    .option("-v, --volume <HOST:CTR[:ro]>", "bind-mount a host path", collect, [])
    .option("-w, --workdir <dir>", "working directory in the container")
    .option("-u, --user <name|uid[:gid]>", "user to run as")
    .option("--entrypoint <cmd>", "replace the image's Entrypoint (and its Cmd, unless ARGs are given)")
    .option(
      "--network <default|host|none>",
      "default: a private network with outbound access; host: the host's (loopback included); none",
      "default",
    )
    .option("-p, --publish <[IP:]HOST:CTR[/udp]>", "publish a container port on the host", collect, [])
    .option("--cap-add <cap>", "add a Linux capability (NET_RAW, …, ALL)", collect, [])
    .option("--cap-drop <cap>", "drop a Linux capability (…, ALL)", collect, [])
    .option("--hostname <name>", "the container's hostname")
    .option("--runtime <runc|crun|path>", "OCI runtime (default: $BERTH_RUNTIME, else runc, else crun)")
    .option(
      "--security-opt <seccomp=unconfined>",
      "seccomp=unconfined: no seccomp filter (default: Docker's refusals)",
      collect,
      [],
    )
    .option("--platform <os/arch[/variant]>", "from a multi-platform image, run this platform's")
    .option(
      "--pull <missing|always|never>",
      "pull a registry image into the store: when missing (default), always or never",
      "missing",
    )
    .option("-d, --detach", "run in the background and print the container's id (berth ps, logs, stop, rm)")
    .option("--name <name>", "a unique name for the container (berth ps, stop, logs, exec, rm take it)")
    .option("-i, --interactive", "pass stdin to the container")
    .option("-t, --tty", "give the container a terminal (-it for a shell)")
    .option(
      "--init",
      "run tini as PID 1: it passes signals on and reaps zombies (for apps that ignore SIGTERM as PID 1)",
    )
    .option(
      "--env-file <file>",
      "read environment variables from a file (docker's format: K=V a line)",
      collect,
      [],
    )
    .option("--keep", "keep the container (its writable layer and exit) until berth rm")
    .option(
      "--rm",
      "remove the container once it ends (the default in the foreground; -d keeps it unless --rm)",
    )
    .passThroughOptions()
    .addHelpText(
      "after",
      `
The container has a private network by default (a namespace connected by pasta): it reaches the internet
and the host's own addresses, but not the host's loopback (127.0.0.1, ::1) or abstract unix sockets; publish
its ports with -p (docker's syntax; the host address defaults to every address). --network host shares the
host's network, loopback included. Raw sockets need --cap-add NET_RAW.

Ctrl-C (SIGINT) and SIGTERM are forwarded; a second one kills the container (SIGKILL). A process that is
PID 1 ignores signals it has no handler for (sleep, many shell scripts): --init puts tini in front of it.
stdin is passed with -i; -t gives a terminal (with -i, Ctrl-C goes to the container's terminal). berth exits
with the container's code, 126/127 when its command cannot be run, 125 when berth itself fails.

-d runs the container in the background: berth ps lists it, berth logs shows its output, berth stop and
berth kill signal it, berth exec runs more in it, and berth rm removes it once it has ended (or -d --rm).

A buildpacks image starts its default process through the CNB launcher; for a one-off command, go through
the launcher so that the buildpacks' environment is set (as pack's docs do):
  berth run --entrypoint launcher app:1 'echo $PATH'     (a shell command)
  berth run --entrypoint launcher app:1 -- node -v       (an argv, no shell)

A bare reference or docker://REF runs from the local store and is pulled into it first when missing.

Examples:
  berth run oci:./layout:app
  berth run 127.0.0.1:5000/team/app:1
  berth run -e GREETING=hi -v ./data:/data:ro app:1 sh -c 'cat /data/x'
  berth run -p 127.0.0.1:8080:80 app:1
  berth run --user nobody --network none app:1 id
  berth run -it --init --env-file ./app.env app:1 sh
  berth run -d --name web -p 8080:80 app:1 && berth logs -f web`,
    )
    .action(async (image: string, args: string[], opts) => {
      const c = cli();
      try {
        await runAction(c, image, args, opts);
      } catch (err) {
        throw ownFailure(err);
      }
    });
}

async function runAction(
  c: Cli,
  image: string,
  args: string[],
  opts: Record<string, unknown>,
): Promise<void> {
  const detached = Boolean(opts.detach);
  const tty = terminalOf(c, opts);
  // Signals are caught for the whole command: forwarded while the container runs, then ignored until its
  // mounts and state are cleaned up, so that a late SIGTERM cannot leave a mounted root behind.
  const signals = containerSignals(c);
  let container: Container;
  try {
    container = await createContainer(image, runOptions(c, args, opts, tty), {
      detached,
      autoRemove: detached ? Boolean(opts.rm) : !opts.keep,
    });
  } catch (err) {
    signals.dispose();
    throw err;
  }
  if (detached) {
    for (const w of container.warnings) c.out.stderr.write(`berth: warning: ${w}\n`);
    signals.dispose();
    await detach(c, container);
    return;
  }
  await runForeground(c, container, signals, { interactive: Boolean(opts.interactive), tty });
}

/**
 * Whether the container gets a terminal (-t), after refusing the flags that contradict each other: -d with
 * -t or -i, -it without a terminal on stdin, --rm with --keep. -t with no terminal at all is dropped, warning.
 */
function terminalOf(c: Cli, opts: Record<string, unknown>): boolean {
  const detached = Boolean(opts.detach);
  const interactive = Boolean(opts.interactive);
  if (detached && (opts.tty || interactive)) {
    throw new BerthError(
      "USAGE",
      "-d runs the container in the background: -t and -i need it in the foreground",
      {
        hint: "start it with -d, then berth exec -it NAME sh for a terminal in it",
      },
    );
  }
  if (opts.tty && interactive && !c.terminal.stdin) {
    throw new BerthError("USAGE", "the input device is not a TTY: -it needs berth's stdin to be a terminal", {
      hint: "drop -t when stdin is a pipe or file (-i alone passes it)",
    });
  }
  let tty = Boolean(opts.tty);
  if (tty && !detached && !c.terminal.stdin && !c.terminal.stdout && !c.terminal.stderr) {
    // runc and crun proxy a container's terminal to a terminal of theirs, in the foreground
    c.out.stderr.write(
      "berth: warning: -t needs a terminal here (berth's stdin, stdout or stderr): running without one\n",
    );
    tty = false;
  }
  if (opts.rm && opts.keep) throw new BerthError("USAGE", "--rm and --keep contradict each other");
  return tty;
}

/** The library's options for the container: every flag of `berth run` that shapes it. */
function runOptions(c: Cli, args: string[], opts: Record<string, unknown>, tty: boolean): RunImageOptions {
  const { out, env } = c;
  return {
    ...hostOptions(c, { runtime: opts.runtime as string | undefined }),
    logger: {
      info: (l) => info(out, l),
      warn: (l) => out.stderr.write(`${l}\n`),
      ...(env.BERTH_DEBUG ? { debug: (l: string) => out.stderr.write(`${l}\n`) } : {}),
    },
    cmd: args,
    entrypoint: opts.entrypoint as string | undefined,
    env: opts.env as string[],
    envFiles: opts.envFile as string[],
    volumes: opts.volume as string[],
    workdir: opts.workdir as string | undefined,
    user: opts.user as string | undefined,
    network: opts.network as string,
    publish: opts.publish as string[],
    capAdd: opts.capAdd as string[],
    capDrop: opts.capDrop as string[],
    hostname: opts.hostname as string | undefined,
    securityOpt: opts.securityOpt as string[],
    platform: opts.platform as string | undefined,
    pull: opts.pull as string,
    name: opts.name as string | undefined,
    init: Boolean(opts.init),
    tty,
    keep: Boolean(opts.keep),
  };
}

/** Run the created container with berth's stdio, then say what the run left, and exit with its code. */
async function runForeground(
  c: Cli,
  container: Container,
  signals: ReturnType<typeof containerSignals>,
  o: { interactive: boolean; tty: boolean },
): Promise<void> {
  const { out, env } = c;
  let result: Awaited<ReturnType<typeof runCreated>>;
  try {
    result = await runCreated(container, {
      stdin: o.interactive ? 0 : "ignore",
      ...(o.tty
        ? { stdoutFd: 1, stderrFd: 2 }
        : {
            onStdout: (chunk: Buffer) => out.stdout.write(chunk),
            onStderr: (chunk: Buffer) => out.stderr.write(chunk),
          }),
      ownSession: true,
      forwardSignals: signals.forward,
    });
  } finally {
    signals.dispose();
  }
  for (const w of result.warnings) out.stderr.write(`berth: warning: ${w}\n`);
  if (env.BERTH_DEBUG) {
    out.stderr.write(
      `berth: ${result.id} exited ${result.exitCode} (${result.runtime}, ${result.snapshots.mode} snapshots, ${result.snapshots.applied} layers applied, ${result.snapshots.reused} cached)\n`,
    );
  }
  if (result.kept !== undefined) {
    out.stderr.write(
      `berth: kept the container's folder ${container.dir} (berth rm ${container.record.name ?? shortId(container.id)} removes it)\n`,
    );
  }
  c.setExitCode(result.exitCode);
}
