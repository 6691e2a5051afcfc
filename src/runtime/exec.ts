/**
 * Run a bundle with the OCI runtime in the foreground (`runc run`), streaming its output, passing stdin,
 * forwarding signals and keeping the tails of stdout and stderr. The result has one shape whether the
 * command succeeds or fails; only a failure of the runtime itself (no process started) is thrown.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, rm, stat } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { BerthError } from "../errors.ts";
import type { OciRuntime } from "./runtime.ts";
import { userNamespaceFailure } from "./userns.ts";

const pexec = promisify(execFile);

export interface ProcessResult {
  /** The command's exit code; 128+n when it was killed by signal n (137 for SIGKILL). */
  exitCode: number;
  /** The signal that killed it, when the exit code says so. */
  signal: NodeJS.Signals | undefined;
  /** The last `tailBytes` of its output. */
  stdoutTail: string;
  stderrTail: string;
  /** The argv run in the container. */
  command: string[];
}

/** How to pass signals on: the caller calls `send` for each one; the returned function unsubscribes. */
export type SignalForwarder = (send: (signal: NodeJS.Signals) => void) => () => void;

export interface StdioOptions {
  /** A stream or file descriptor for the container's stdin; default none (/dev/null). */
  stdin?: Readable | number | "ignore";
  /** Called once the runtime's process is started, with a promise of its end (settled, never rejected). */
  onSpawn?: ((ended: Promise<unknown>) => void) | undefined;
  /** Each chunk of output, as it comes. */
  onStdout?: ((chunk: Buffer) => void) | undefined;
  onStderr?: ((chunk: Buffer) => void) | undefined;
  /** How much of each output to keep in the result; default 16 KiB. */
  tailBytes?: number;
  /** Aborting kills the container (SIGKILL) and rejects with the abort reason after cleanup. */
  signal?: AbortSignal | undefined;
  /** Signals (SIGINT, SIGTERM…) to pass to the container's process; SIGKILL kills the container through the runtime. */
  forwardSignals?: SignalForwarder | undefined;
  /**
   * File descriptors for the process's stdout and stderr, instead of pipes (a terminal: the runtime then
   * proxies its pseudo-terminal to them, as `runc run` does for a `terminal` process).
   */
  stdoutFd?: number | undefined;
  stderrFd?: number | undefined;
  /**
   * Start the runtime in a session of its own: a terminal's Ctrl-C then reaches only the caller, which
   * decides what to forward (berth run's Ctrl-C, then SIGKILL on the second).
   */
  ownSession?: boolean;
}

class Tail {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #size = 0;
  constructor(max: number) {
    this.#max = max;
  }
  push(b: Buffer): void {
    this.#chunks.push(b);
    this.#size += b.length;
    while (this.#chunks.length > 1 && this.#size - this.#chunks[0]!.length >= this.#max) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.#max)).toString("utf8");
  }
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([k, v]) => [v, k as NodeJS.Signals]),
);

export interface RunBundle {
  runtime: OciRuntime;
  /** The runtime's state root (`--root`). */
  stateDir: string;
  bundleDir: string;
  id: string;
  command: string[];
  /**
   * Run a further process in the running container `id` (`runc exec --process FILE`) instead of starting the
   * bundle; its runtime log is `log`. The container's state is left alone.
   */
  exec?: { processFile: string; log: string };
}

/** Start the bundle and wait for it; removes the runtime's state for `id` afterwards. */
export async function runBundle(b: RunBundle, o: StdioOptions = {}): Promise<ProcessResult> {
  o.signal?.throwIfAborted();
  const log = b.exec?.log ?? join(b.bundleDir, `${b.runtime.name}.log`);
  const child = spawnRuntime(b, o, log);
  o.onSpawn?.(once(child, "close").catch(() => undefined));
  const output = captureOutput(child, b.runtime.name, o);
  const stop = forwardStops(child, b, o);
  let code: number | null;
  let sig: NodeJS.Signals | null;
  try {
    [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (c, s) => resolve([c, s]));
    });
  } catch (e) {
    throw new BerthError("RUNTIME_FAILED", `starting ${b.runtime.path}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    stop.unsubscribe();
    if (!b.exec) await cleanupState(b);
  }
  const exitCode = code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0);
  if (stop.aborted() && o.signal?.aborted) throw o.signal.reason;
  const result: ProcessResult = {
    exitCode,
    signal: exitCode > 128 ? signalNames.get(exitCode - 128) : undefined,
    stdoutTail: output.out.toString(),
    stderrTail: output.err.toString(),
    command: b.command,
  };
  const explained = exitCode === 0 ? result : await explainFailure(b, log, result);
  output.release();
  return explained;
}

/** The runtime process: `run` (or `exec`) with its state root and a JSON log. */
function spawnRuntime(b: RunBundle, o: StdioOptions, log: string): ChildProcess {
  const verb = b.exec
    ? ["exec", "--process", b.exec.processFile, b.id]
    : ["run", "--bundle", b.bundleDir, b.id];
  const args = ["--root", b.stateDir, "--log", log, "--log-format", "json", ...verb];
  const stdinOpt =
    o.stdin === undefined || o.stdin === "ignore" ? "ignore" : typeof o.stdin === "number" ? o.stdin : "pipe";
  const child = spawn(b.runtime.path, args, {
    stdio: [stdinOpt, o.stdoutFd ?? "pipe", o.stderrFd ?? "pipe"],
    detached: o.ownSession === true,
  });
  if (stdinOpt === "pipe" && child.stdin) {
    const input = o.stdin as Readable;
    child.stdin.on("error", () => undefined); // the container may not read its stdin: EPIPE is fine
    input.pipe(child.stdin);
    child.on("close", () => input.unpipe(child.stdin!));
  }
  return child;
}

/**
 * The tails of the child's output, each chunk passed on as it comes. The runtime's own last words ("runc run
 * failed: …") are held back until `release`: when they explain a failure to start, the thrown error says it
 * (in clearer words where berth knows them); otherwise they are passed on at the end.
 */
function captureOutput(child: ChildProcess, runtime: string, o: StdioOptions) {
  const max = o.tailBytes ?? 16 * 1024;
  const out = new Tail(max);
  const err = new Tail(max);
  child.stdout?.on("data", (c: Buffer) => {
    out.push(c);
    o.onStdout?.(c);
  });
  const ownError = new RegExp(`^${runtime} (run|create|exec) failed: `);
  const held: Buffer[] = [];
  child.stderr?.on("data", (c: Buffer) => {
    err.push(c);
    if (held.length > 0 || ownError.test(c.subarray(0, 64).toString("latin1"))) held.push(c);
    else o.onStderr?.(c);
  });
  const release = () => {
    const last = held[held.length - 1];
    for (const c of held.splice(0)) o.onStderr?.(c);
    if (last && last[last.length - 1] !== 0x0a) o.onStderr?.(Buffer.from("\n"));
  };
  return { out, err, release };
}

/**
 * Abort and forwarded signals: an abort kills the container through the runtime (SIGKILL would end the
 * runtime, not the container); other signals go to the runtime, which passes them on.
 */
function forwardStops(child: ChildProcess, b: RunBundle, o: StdioOptions) {
  let aborted = false;
  const kill = async () => {
    aborted = true;
    try {
      await pexec(b.runtime.path, ["--root", b.stateDir, "kill", b.id, "KILL"]);
    } catch {
      child.kill("SIGKILL");
    }
  };
  const onAbort = () => void kill();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const unsubscribe = o.forwardSignals?.((sig) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (sig === "SIGKILL" && !b.exec) void kill();
    else child.kill(sig);
  });
  return {
    aborted: () => aborted,
    unsubscribe: () => {
      unsubscribe?.();
      o.signal?.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * A non-zero exit the runtime's log explains: a command that cannot be run becomes Docker's 127 or 126, any
 * other failure to start is thrown in one sentence. An exit of the command itself is returned as it is.
 */
async function explainFailure(b: RunBundle, log: string, result: ProcessResult): Promise<ProcessResult> {
  const messages = await runtimeMessages(log);
  const failure = lastError(messages);
  if (failure === undefined) return result;
  // No user namespace (rootless): one sentence naming the kernel setting, not the runtime's raw text.
  const userns = userNamespaceFailure([...messages.map((m) => m.msg), result.stderrTail]);
  if (userns) throw userns;
  // The only hook berth gives the runtime connects the default network (network.ts): say so.
  const hook = /error running (?:\w+ )?hook\b.*?stderr: ([\s\S]*)$/.exec(failure);
  if (hook) {
    const why = hook[1]!.trim().replace(/\\n/g, " ").replace(/"$/, "") || "slirp4netns failed";
    throw new BerthError(
      "RUNTIME_FAILED",
      `setting up the container's network with slirp4netns failed: ${why}`,
      {
        hint: "choose --network none (no network) or --network host (the host's, loopback included)",
        details: { runtime: b.runtime.path, id: b.id, stderr: result.stderrTail },
      },
    );
  }
  // Docker's codes for a command that cannot be run: 127 not found, 126 not executable (runc says
  // "exec: … executable file not found in $PATH", crun "executable file `X` not found in $PATH").
  if (
    /exec\b.*(executable file not found|no such file or directory)|executable file `[^`]*` not found/i.test(
      failure,
    )
  ) {
    return { ...result, exitCode: 127, signal: undefined };
  }
  if (/exec\b.*permission denied/i.test(failure)) return { ...result, exitCode: 126, signal: undefined };
  throw new BerthError("RUNTIME_FAILED", `${b.runtime.name} could not start the container: ${failure}`, {
    details: { runtime: b.runtime.path, id: b.id, stderr: result.stderrTail },
  });
}

/** The runtime's messages, from its JSON log (no errors when the container ran). */
async function runtimeMessages(log: string): Promise<{ error: boolean; msg: string }[]> {
  const text = await readFile(log, "utf8").catch(() => "");
  const out: { error: boolean; msg: string }[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      out.push({ error: e.level === "error" || e.level === "fatal", msg: e.msg ?? "" });
    } catch {
      // crun writes plain lines on some errors
      out.push({ error: /error/i.test(line), msg: line });
    }
  }
  return out;
}

/** The runtime's own error: the last error in its log (absent when the container ran). */
function lastError(messages: { error: boolean; msg: string }[]): string | undefined {
  const last = messages.filter((m) => m.error).pop()?.msg;
  return last?.replace(/^(runc|crun) (run|create|exec) failed: /, "");
}

/** Remove the runtime's state for the container if it is still there (killed runtime, failed start). */
export async function cleanupState(b: Pick<RunBundle, "runtime" | "stateDir" | "id">): Promise<void> {
  const dir = join(b.stateDir, b.id);
  if (!(await stat(dir).catch(() => undefined))) return;
  await pexec(b.runtime.path, ["--root", b.stateDir, "delete", "--force", b.id]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}
