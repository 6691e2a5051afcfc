import { spawn } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { BerthError, type ErrorCode } from "../../errors.ts";
import { type Image, loadRoot, selectImage } from "../../oci/image.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { Store } from "../../oci/store.ts";
// The modules themselves, not runtime/index.ts: `berth run` then loads neither the sandbox nor the layer engine.
import { Container } from "../../runtime/container.ts";
import type { ProcessResult, SignalForwarder } from "../../runtime/exec.ts";
import { parseNetworkMode, parsePublish } from "../../runtime/network.ts";
import { capabilityName, type RootlessIds, type Volume } from "../../runtime/spec.ts";
import { type ExitRecord, shortId } from "../../runtime/state.ts";
import { subordinateIds } from "../../runtime/userns.ts";
import { openSource } from "../../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { info } from "../output.ts";
import { pullIntoStore } from "../pull.ts";

const collect = (v: string, prev: string[]) => [...prev, v];

/** Whether docker's `--security-opt` values turn seccomp off; the only one berth takes is seccomp=unconfined. */
export function seccompOff(values: readonly string[]): boolean {
  for (const v of values) {
    if (v !== "seccomp=unconfined" && v !== "seccomp:unconfined") {
      throw new BerthError(
        "USAGE",
        `--security-opt ${JSON.stringify(v)} is not supported (only seccomp=unconfined)`,
      );
    }
  }
  return values.length > 0;
}

/** When `run` and `bundle` pull from a registry (docker's `--pull`). */
export type PullPolicy = "missing" | "always" | "never";

export function parsePullPolicy(value: string): PullPolicy {
  if (value === "missing" || value === "always" || value === "never") return value;
  throw new BerthError("USAGE", `--pull must be missing, always or never, not ${JSON.stringify(value)}`);
}

/**
 * Open an image argument and select this platform's image. As `docker run` does, a bare reference or
 * `docker://REF` runs from the local store, pulled into it first when it is not there (`pull` "missing"),
 * every time ("always") or never; other transports are read in place.
 */
export async function openImage(
  cli: Cli,
  text: string,
  platform: string | undefined,
  pull: PullPolicy = "missing",
): Promise<{ image: Image; name: string; close: () => Promise<void> }> {
  const given = parseImageArgument(text);
  const arg: ImageArgument =
    given.transport === "docker" ? { transport: "store", ref: given.ref, text: given.ref } : given;
  const wanted = platform ? parsePlatform(platform) : undefined;
  if (arg.transport === "store" && pull === "always") await pullIntoStore(cli, arg.ref, wanted);
  let opened: Awaited<ReturnType<typeof openSource>>;
  try {
    opened = await openSource(arg, cli.ctx);
  } catch (err) {
    if (!(err instanceof BerthError && err.code === "IMAGE_NOT_FOUND" && arg.transport === "store"))
      throw err;
    if (pull !== "missing") {
      throw new BerthError("IMAGE_NOT_FOUND", `no image ${arg.ref} in the local store (--pull ${pull})`, {
        cause: err,
        hint: `pull it first: berth pull ${arg.ref}`,
      });
    }
    info(cli.out, `berth: no image ${Store.normalize(arg.ref)} in the local store, pulling it`);
    await pullIntoStore(cli, arg.ref, wanted);
    opened = await openSource(arg, cli.ctx);
  }
  try {
    const root = await loadRoot(opened.source, opened.root);
    const image = await selectImage(root, wanted);
    return { image, name: text, close: opened.close };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/** The caller's ids when not root (rootless mode), from the process. */
export function rootlessIds(): RootlessIds | undefined {
  const uid = process.geteuid?.() ?? 0;
  return uid === 0 ? undefined : { uid, gid: process.getegid?.() ?? uid };
}

/**
 * `rootlessIds` plus the caller's subordinate ranges (/etc/subuid, /etc/subgid) when newuidmap/newgidmap are
 * installed: the container can then run as the image's non-root user.
 */
export async function rootlessIdsWithSubordinates(
  searchPath: string | undefined,
): Promise<RootlessIds | undefined> {
  const ids = rootlessIds();
  if (!ids) return undefined;
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = undefined; // no passwd entry for this uid: /etc/subuid may still name it by number
  }
  const sub = await subordinateIds(name, ids.uid, ids.gid, searchPath || "/usr/sbin:/usr/bin:/sbin:/bin");
  return sub ? { ...ids, subUids: sub.uids, subGids: sub.gids } : ids;
}

function parseVolume(text: string, cwd: string): Volume {
  const parts = text.split(":");
  let ro = false;
  if (parts.length === 3) {
    if (parts[2] !== "ro" && parts[2] !== "rw")
      throw new BerthError("USAGE", `volume ${JSON.stringify(text)}: the mode must be ro or rw`);
    ro = parts[2] === "ro";
  } else if (parts.length !== 2) {
    throw new BerthError("USAGE", `volume ${JSON.stringify(text)} is not HOST:CONTAINER[:ro]`);
  }
  const [host, ctr] = parts as [string, string];
  if (!host || !ctr.startsWith("/")) {
    throw new BerthError("USAGE", `volume ${JSON.stringify(text)}: the container path must be absolute`);
  }
  return { source: resolve(cwd, host), destination: ctr, readonly: ro };
}

function parseEnv(items: string[], env: Record<string, string | undefined>): string[] {
  return items.map((e) => {
    if (e.includes("=")) return e;
    const v = env[e];
    return v === undefined ? e : `${e}=${v}`;
  });
}

/**
 * docker's `--env-file`: a `K=V` a line, taken as it is (no quotes, no expansion); `K` alone takes K from
 * here (left out when unset); blank lines and lines starting with `#` are skipped.
 */
export function parseEnvFile(text: string, file: string, env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/^[ \t]+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    const at = `${file} line ${i + 1}`;
    if (key === "") throw new BerthError("USAGE", `${at}: no variable name before "="`);
    if (/\s/.test(key)) {
      throw new BerthError("USAGE", `${at}: the variable name ${JSON.stringify(key)} contains whitespace`, {
        hint: "write one VAR=VALUE a line (values are taken as they are, quotes included)",
      });
    }
    if (eq >= 0) out.push(line);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  }
  return out;
}

/** The environment from `--env-file`s then `-e`s (docker's order: -e wins). */
export async function environment(c: Cli, files: string[], items: string[]): Promise<string[]> {
  const fromFiles: string[] = [];
  for (const f of files) {
    const path = resolve(c.cwd, f);
    const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new BerthError(
        "USAGE",
        `--env-file ${f}: ${err.code === "ENOENT" ? "no such file" : err.message}`,
      );
    });
    fromFiles.push(...parseEnvFile(text, f, c.env));
  }
  return [...fromFiles, ...parseEnv(items, c.env)];
}

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
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1]!, "_supervise", container.dir],
    {
      detached: true,
      stdio: ["ignore", "ignore", errLog.fd, "ipc"],
      env: { ...process.env, ...c.env },
    },
  );
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
      ...(msg.hint ? { hint: msg.hint } : {}),
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
  const { out, env } = c;
  const network = parseNetworkMode(opts.network as string);
  let ports = (opts.publish as string[]).map(parsePublish);
  const capAdd = (opts.capAdd as string[]).map((c) => capabilityName(c, "--cap-add"));
  const capDrop = (opts.capDrop as string[]).map((c) => capabilityName(c, "--cap-drop"));
  if (ports.length > 0 && network === "host") {
    // docker warns and goes on: the container's ports are the host's already.
    for (const p of ports) {
      out.stderr.write(
        `berth: warning: -p ${p.hostPort}:${p.containerPort} is not needed with --network host: the container's port ${p.containerPort}/${p.protocol} is the host's port ${p.containerPort} already\n`,
      );
    }
    ports = [];
  }
  if (ports.length > 0 && network === "none") {
    throw new BerthError(
      "USAGE",
      "-p publishes ports of the container's own network, and --network none has none",
      {
        hint: "drop --network none (the default network publishes -p ports), or use --network host",
      },
    );
  }
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
  if (opts.tty && interactive && !process.stdin.isTTY) {
    throw new BerthError("USAGE", "the input device is not a TTY: -it needs berth's stdin to be a terminal", {
      hint: "drop -t when stdin is a pipe or file (-i alone passes it)",
    });
  }
  let tty = Boolean(opts.tty);
  if (tty && !detached && !process.stdin.isTTY && !process.stdout.isTTY && !process.stderr.isTTY) {
    // runc and crun proxy a container's terminal to a terminal of theirs, in the foreground
    out.stderr.write(
      "berth: warning: -t needs a terminal here (berth's stdin, stdout or stderr): running without one\n",
    );
    tty = false;
  }
  if (opts.rm && opts.keep) throw new BerthError("USAGE", "--rm and --keep contradict each other");
  const volumes = (opts.volume as string[]).map((v) => parseVolume(v, c.cwd));
  const unconfined = seccompOff(opts.securityOpt as string[]);
  const environ = await environment(c, opts.envFile as string[], opts.env as string[]);
  const opened = await openImage(
    c,
    image,
    opts.platform as string | undefined,
    parsePullPolicy(opts.pull as string),
  );
  // Signals are caught for the whole command: forwarded while the container runs, then ignored until its
  // mounts and state are cleaned up, so that a late SIGTERM cannot leave a mounted root behind.
  const signals = containerSignals(c);
  let container: Container;
  try {
    const rootless = await rootlessIdsWithSubordinates(env.PATH);
    container = await Container.create({
      ...(unconfined ? { seccomp: false } : {}),
      home: c.ctx.home,
      image: opened.image,
      imageName: opened.name,
      args,
      ...(opts.entrypoint !== undefined ? { entrypoint: [opts.entrypoint as string] } : {}),
      env: environ,
      ...(opts.workdir ? { cwd: opts.workdir as string } : {}),
      ...(opts.user !== undefined ? { user: opts.user as string } : {}),
      volumes,
      network,
      ports,
      capAdd,
      capDrop,
      ...(opts.hostname ? { hostname: opts.hostname as string } : {}),
      ...((opts.runtime ?? env.BERTH_RUNTIME)
        ? { runtime: (opts.runtime ?? env.BERTH_RUNTIME) as string }
        : {}),
      ...(env.PATH ? { searchPath: env.PATH } : {}),
      ...(rootless ? { rootless } : {}),
      ...(opts.name !== undefined ? { name: opts.name as string } : {}),
      init: Boolean(opts.init),
      terminal: tty,
      detached,
      autoRemove: detached ? Boolean(opts.rm) : !opts.keep,
      onApply: (i, n) => {
        if (env.BERTH_DEBUG) out.stderr.write(`berth: applying layer ${i + 1}/${n}\n`);
      },
    });
  } catch (err) {
    signals.dispose();
    throw err;
  } finally {
    await opened.close();
  }
  if (detached) {
    for (const w of container.warnings) out.stderr.write(`berth: warning: ${w}\n`);
    signals.dispose();
    await detach(c, container);
    return;
  }
  let exit: ExitRecord | undefined;
  let result: ProcessResult;
  try {
    result = await container.run({
      stdin: interactive ? 0 : "ignore",
      ...(tty
        ? { stdoutFd: 1, stderrFd: 2 }
        : {
            onStdout: (chunk: Buffer) => out.stdout.write(chunk),
            onStderr: (chunk: Buffer) => out.stderr.write(chunk),
          }),
      ownSession: true,
      forwardSignals: signals.forward,
    });
    exit = { exitCode: result.exitCode, finishedAt: new Date().toISOString() };
  } finally {
    await container.finish(exit);
    signals.dispose();
  }
  for (const w of container.warnings) out.stderr.write(`berth: warning: ${w}\n`);
  if (env.BERTH_DEBUG) {
    out.stderr.write(
      `berth: ${container.id} exited ${result.exitCode} (${container.runtime.name}, ${container.snapshots.mode} snapshots, ${container.snapshots.applied} layers applied, ${container.snapshots.reused} cached)\n`,
    );
  }
  if (!container.record.autoRemove) {
    out.stderr.write(
      `berth: kept the container's folder ${container.dir} (berth rm ${container.record.name ?? shortId(container.id)} removes it)\n`,
    );
  }
  c.setExitCode(result.exitCode);
}
