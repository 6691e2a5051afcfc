/**
 * `berth ps`, `stop`, `kill`, `logs`, `rm` and `exec`: docker's commands for the containers `berth run`
 * runs (state in `$BERTH_HOME/run`, runtime/state.ts), and `_supervise`, the detached supervisor of
 * `berth run -d` (hidden).
 */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { environment } from "../../api/run.ts";
import { BerthError } from "../../errors.ts";
import { Container } from "../../runtime/container.ts";
import { execInContainer, killContainer, removeContainer, stopContainer } from "../../runtime/control.ts";
import { LogWriter, readLog } from "../../runtime/logs.ts";
import {
  type ContainerInfo,
  type ExitRecord,
  findContainer,
  LOG_FILE,
  listContainers,
  readContainer,
  shortId,
} from "../../runtime/state.ts";
import type { Cli } from "../env.ts";
import { collect, jsonOption } from "../flags.ts";
import { humanDuration, table } from "../output.ts";
import { containerSignals, ownFailure } from "./run.ts";

/** How long ago `iso` was at `now` (ms), in docker's words (go-units HumanDuration). */
function ago(iso: string, now: number): string {
  return humanDuration(Math.max(0, (now - Date.parse(iso)) / 1000));
}

function statusText(c: ContainerInfo, now: number): string {
  switch (c.status) {
    case "running":
      return `Up ${ago(c.record.created, now)}`;
    case "created":
      return "Created";
    case "exited":
      return `Exited (${c.exit!.exitCode}) ${ago(c.exit!.finishedAt, now)} ago`;
    default:
      return "Dead";
  }
}

function portsText(c: ContainerInfo): string {
  return c.record.ports
    .map((p) => `${p.hostIp ?? "0.0.0.0"}:${p.hostPort}->${p.containerPort}/${p.protocol}`)
    .join(", ");
}

function quoteCommand(argv: string[]): string {
  const text = argv.join(" ");
  return JSON.stringify(text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

async function each(c: Cli, refs: string[], act: (info: ContainerInfo) => Promise<void>): Promise<void> {
  let failed: unknown;
  for (const ref of refs) {
    try {
      await act(await findContainer(c.ctx.home, ref));
      c.out.stdout.write(`${ref}\n`);
    } catch (err) {
      // docker goes on with the other containers and fails at the end
      if (failed !== undefined && err instanceof BerthError) {
        c.out.stderr.write(`berth: ${err.message}\n`);
        continue;
      }
      if (failed !== undefined) throw err;
      failed = err;
    }
  }
  if (failed !== undefined) throw failed;
}

export function registerContainers(program: Command, cli: () => Cli): void {
  // Options after exec's command belong to it (`berth exec web ls -l`).
  program.enablePositionalOptions();
  registerPs(program, cli);
  registerStop(program, cli);
  registerKill(program, cli);
  registerRm(program, cli);
  registerLogs(program, cli);
  registerExec(program, cli);
  registerSupervise(program, cli);
}

function registerPs(program: Command, cli: () => Cli): void {
  program
    .command("ps")
    .description("list containers (running ones; -a: all)")
    .option("-a, --all", "also containers that have ended (kept: -d without --rm, or --keep)")
    .option("-q, --quiet", "only the ids")
    .addOption(jsonOption("the list"))
    .addHelpText(
      "after",
      `
--json prints {"schemaVersion": 1, "containers": [{id, name, image, imageDigest, command, created, status,
exitCode, finishedAt, ports, runtime, detached}]} (status: created, running, exited or dead).

Examples:
  berth ps
  berth ps -a
  berth ps -q | xargs berth stop`,
    )
    .action(async (opts: { all?: boolean; quiet?: boolean; json?: boolean }) => {
      const c = cli();
      const all = (await listContainers(c.ctx.home)).filter(
        (x) => opts.all || x.status === "running" || x.status === "created",
      );
      if (opts.json) {
        const containers = all.map((x) => ({
          id: x.record.id,
          name: x.record.name ?? null,
          image: x.record.image,
          imageDigest: x.record.imageDigest,
          command: x.record.command,
          created: x.record.created,
          status: x.status,
          exitCode: x.exit?.exitCode ?? null,
          finishedAt: x.exit?.finishedAt ?? null,
          ports: x.record.ports,
          runtime: x.record.runtime.name,
          detached: x.record.detached,
        }));
        c.out.stdout.write(`${JSON.stringify({ schemaVersion: 1, containers }, null, 2)}\n`);
        return;
      }
      if (opts.quiet) {
        for (const x of all) c.out.stdout.write(`${shortId(x.record.id)}\n`);
        return;
      }
      const now = Date.now();
      const rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]];
      for (const x of all) {
        rows.push([
          shortId(x.record.id),
          x.record.image,
          quoteCommand(x.record.command),
          `${ago(x.record.created, now)} ago`,
          statusText(x, now),
          portsText(x),
          x.record.name ?? "",
        ]);
      }
      c.out.stdout.write(`${table(rows)}\n`);
    });
}

function registerStop(program: Command, cli: () => Cli): void {
  program
    .command("stop")
    .description(
      "stop running containers: the image's StopSignal (else SIGTERM), then SIGKILL after a grace time",
    )
    .argument("<container...>", "names or ids (a unique prefix is enough)")
    .option("-t, --time <seconds>", "seconds to wait before SIGKILL", "10")
    .addHelpText("after", "\nExamples:\n  berth stop web\n  berth stop -t 0 web 3f2a")
    .action(async (refs: string[], opts: { time: string }) => {
      const c = cli();
      const t = Number(opts.time);
      if (!Number.isInteger(t) || t < 0) {
        throw new BerthError(
          "USAGE",
          `-t ${JSON.stringify(opts.time)}: the time must be a whole number of seconds`,
        );
      }
      await each(c, refs, (x) => stopContainer(x, t));
    });
}

function registerKill(program: Command, cli: () => Cli): void {
  program
    .command("kill")
    .description("send a signal (default SIGKILL) to running containers")
    .argument("<container...>", "names or ids (a unique prefix is enough)")
    .option("-s, --signal <signal>", "the signal (KILL, TERM, HUP, SIGUSR1, 15…)", "KILL")
    .addHelpText("after", "\nExamples:\n  berth kill web\n  berth kill -s HUP web")
    .action(async (refs: string[], opts: { signal: string }) => {
      const c = cli();
      await each(c, refs, (x) => killContainer(x, opts.signal));
    });
}

function registerRm(program: Command, cli: () => Cli): void {
  program
    .command("rm")
    .description("remove containers that have ended (-f: kill running ones first)")
    .argument("<container...>", "names or ids (a unique prefix is enough)")
    .option("-f, --force", "kill and remove a running container")
    .addHelpText("after", "\nExamples:\n  berth rm web\n  berth rm -f $(berth ps -aq)")
    .action(async (refs: string[], opts: { force?: boolean }) => {
      const c = cli();
      await each(c, refs, (x) => removeContainer(c.ctx.home, x, Boolean(opts.force)));
    });
}

function registerLogs(program: Command, cli: () => Cli): void {
  program
    .command("logs")
    .description("print the output of a detached container (berth run -d)")
    .argument("<container>", "name or id (a unique prefix is enough)")
    .option("-f, --follow", "follow the output until the container ends")
    .option("-n, --tail <lines>", 'only the last lines ("all": everything)', "all")
    .option("-t, --timestamps", "prefix each line with its time")
    .addHelpText("after", "\nExamples:\n  berth logs web\n  berth logs -f --tail 20 web")
    .action(async (ref: string, opts: { follow?: boolean; tail: string; timestamps?: boolean }) => {
      const c = cli();
      const x = await findContainer(c.ctx.home, ref);
      if (!x.record.detached) {
        throw new BerthError(
          "USAGE",
          `container ${x.record.name ?? shortId(x.record.id)} runs in the foreground of a berth run: its output goes there, not to a log`,
          { hint: "run it with -d to keep its output" },
        );
      }
      let tail: number | undefined;
      if (opts.tail !== "all") {
        tail = Number(opts.tail);
        if (!Number.isInteger(tail) || tail < 0) {
          throw new BerthError(
            "USAGE",
            `--tail ${JSON.stringify(opts.tail)}: give a number of lines or "all"`,
          );
        }
      }
      const ended = async () => {
        const now = await readContainer(x.dir);
        return now?.status !== "running";
      };
      for await (const e of readLog(join(x.dir, LOG_FILE), {
        tail,
        follow: Boolean(opts.follow),
        ended,
      })) {
        const line = opts.timestamps ? `${e.time} ${e.log}` : e.log;
        (e.stream === "stderr" ? c.out.stderr : c.out.stdout).write(line);
      }
    });
}

function registerExec(program: Command, cli: () => Cli): void {
  program
    .command("exec")
    .description("run a command in a running container")
    .argument("<container>", "name or id (a unique prefix is enough)")
    .argument("<command...>", "the command and its arguments")
    .option("-i, --interactive", "pass stdin")
    .option("-t, --tty", "give the command a terminal (-it for a shell)")
    .option("-e, --env <K=V>", "set an environment variable (K alone: take it from here)", collect, [])
    .option("--env-file <file>", "read environment variables from a file (docker's format)", collect, [])
    .option("-u, --user <name|uid[:gid]>", "user to run as (default: the container's)")
    .option("-w, --workdir <dir>", "working directory (default: the container's)")
    .passThroughOptions()
    .addHelpText(
      "after",
      "\nExits with the command's code (126/127 when it cannot be run, 125 when berth fails).\n\nExamples:\n  berth exec web ls /app\n  berth exec -it web sh\n  berth exec -u nobody -w /tmp -e DEBUG=1 web env",
    )
    .action(async (ref: string, command: string[], opts) => {
      const c = cli();
      try {
        const x = await findContainer(c.ctx.home, ref);
        const env = await environment(c, opts.envFile as string[], opts.env as string[]);
        const tty = Boolean(opts.tty);
        const signals = containerSignals(c);
        try {
          const result = await execInContainer(x, {
            args: command,
            env,
            ...(opts.user !== undefined ? { user: opts.user as string } : {}),
            ...(opts.workdir ? { cwd: opts.workdir as string } : {}),
            terminal: tty,
            stdin: opts.interactive ? 0 : "ignore",
            ...(tty
              ? { stdoutFd: 1, stderrFd: 2 }
              : {
                  onStdout: (chunk: Buffer) => c.out.stdout.write(chunk),
                  onStderr: (chunk: Buffer) => c.out.stderr.write(chunk),
                }),
            ownSession: true,
            forwardSignals: signals.forward,
          });
          c.setExitCode(result.exitCode);
        } finally {
          signals.dispose();
        }
      } catch (err) {
        throw ownFailure(err);
      }
    });
}

/** The supervisor of a detached container (berth run -d starts it in a session of its own). */
function registerSupervise(program: Command, cli: () => Cli): void {
  program
    .command("_supervise", { hidden: true })
    .argument("<dir>")
    .action(async (dir: string) => {
      const c = cli();
      const root = join(c.ctx.home, "run", "containers");
      const d = resolve(dir);
      if (!d.startsWith(`${root}/`) || d.slice(root.length + 1).includes("/")) {
        throw new BerthError("USAGE", `${dir} is no container folder of ${c.ctx.home}`);
      }
      const send = (m: object) => {
        if (process.connected) process.send?.(m);
      };
      let container: Container | undefined;
      let exit: ExitRecord | undefined;
      let log: LogWriter | undefined;
      // A signal to the supervisor (a shutdown) goes to the container, as to a foreground berth run.
      const signals = containerSignals({ ...c, out: { ...c.out, stderr: { write: () => true } as never } });
      try {
        container = await Container.attach(c.ctx.home, dir);
        log = new LogWriter(join(dir, LOG_FILE));
        const w = log;
        let started = false;
        const result = await container.run({
          stdin: "ignore",
          onStdout: (chunk) => w.write("stdout", chunk),
          onStderr: (chunk) => w.write("stderr", chunk),
          forwardSignals: signals.forward,
          onStarted: () => {
            started = true;
            send({ type: "started" });
          },
        });
        exit = { exitCode: result.exitCode, finishedAt: new Date().toISOString() };
        if (!started) {
          const { exists } = await import("../../util/fs.ts");
          send({
            type: "exited",
            exitCode: result.exitCode,
            stderr: result.stderrTail,
            started: await exists(join(dir, "started")),
          });
        }
      } catch (err) {
        const e = err instanceof BerthError ? err : undefined;
        exit = {
          exitCode: 125,
          finishedAt: new Date().toISOString(),
          error: (err as Error).message,
        };
        send({
          type: "error",
          code: e?.code ?? "RUNTIME_FAILED",
          message: (err as Error).message,
          ...(e?.hint ? { hint: e.hint } : {}),
        });
        if (!container) throw err;
      } finally {
        log?.close();
        await container?.finish(exit);
        signals.dispose();
        if (process.connected) process.disconnect();
      }
    });
}
