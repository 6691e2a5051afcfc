/**
 * The group runner (group-runner.c): runs a list of commands one after another in one container, each as if
 * it had the container to itself, so that the detect phase starts one container per group instead of one per
 * `bin/detect` (the reference lifecycle runs the whole phase in one process). This module compiles it (as the
 * launcher: util/compile.ts), writes its input and reads its output records; executor.ts runs it.
 */
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { PassThrough, type Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import { type CompileOptions, compiledProgram } from "../util/compile.ts";
import { packagePath } from "../util/package.ts";

const MAGIC = "berth-group-runner/2";
const HEADER = 9;

/** group-runner.c in berth's package (shipped as source: it is compiled on the machine that builds). */
function groupRunnerSourcePath(): string {
  return packagePath("src", "cnb", "group-runner.c");
}

/** The runner's binary, compiled on first use into the per-user programs cache's `cnb/runner/<key>/runner`. */
export async function groupRunner(o: CompileOptions): Promise<string> {
  const source = groupRunnerSourcePath();
  if (!existsSync(source)) {
    throw new BerthError("INTERNAL", `berth's group runner source is missing (looked for ${source})`);
  }
  return compiledProgram(
    {
      source,
      folder: "cnb/runner",
      file: "runner",
      what: "berth's detect group runner",
      code: "INTERNAL",
      hint: "install gcc and libc6-dev; without them each bin/detect runs in a container of its own",
    },
    o,
  );
}

export interface RunnerCommand {
  args: readonly string[];
  /** `K=V` over the runner's own environment (runtime/spec.ts `mergeEnv`'s rules); `K` alone removes K. */
  env: readonly string[];
  cwd: string;
}

/** The runner's input, what it reads first: its protocol's name. */
export const RUNNER_HELLO = Buffer.from(`${MAGIC}\0`);

/** One batch of the runner's input: NUL-terminated strings (see group-runner.c). */
export function encodeBatch(commands: readonly RunnerCommand[]): Buffer {
  const parts: string[] = [String(commands.length)];
  for (const c of commands) {
    if (c.args.length === 0)
      throw new BerthError("INTERNAL", "the group runner: a command without arguments");
    parts.push(c.cwd, String(c.args.length), ...c.args, String(c.env.length), ...c.env);
  }
  for (const p of parts) {
    if (p.includes("\0"))
      throw new BerthError("INTERNAL", `the group runner: a NUL byte in ${JSON.stringify(p)}`);
  }
  return Buffer.from(`${parts.join("\0")}\0`, "utf8");
}

/**
 * How a command ended: its exit code (128 + n for signal n), or it could not be started, as runc refuses to
 * start a container: the step (`chdir`, `lookup`, `stat`, `access`), the errno and runc's words.
 */
export type RunnerEnd =
  | { kind: "exit"; code: number }
  | { kind: "refused"; step: string; errno: number; message: string };

export interface RunnerHandlers {
  onStdout(index: number, chunk: Buffer): void;
  onStderr(index: number, chunk: Buffer): void;
}

interface Batch {
  ends: (RunnerEnd | undefined)[];
  handlers: RunnerHandlers;
  done: (ends: RunnerEnd[]) => void;
}

/** Reads the runner's output records as they come, passing each command's output on, batch by batch. */
export class RunnerOutput {
  #pending = Buffer.alloc(0);
  #batch: Batch | undefined;

  /** The records until the next 'b' are of a batch of `count` commands: their output to `handlers`, their ends to `done`. */
  begin(count: number, handlers: RunnerHandlers, done: (ends: RunnerEnd[]) => void): void {
    this.#batch = { ends: new Array<RunnerEnd | undefined>(count).fill(undefined), handlers, done };
  }

  push(chunk: Buffer): void {
    let buf = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= HEADER) {
      const len = buf.readUInt32LE(5);
      if (buf.length < HEADER + len) break;
      this.#record(String.fromCharCode(buf[0]!), buf.readUInt32LE(1), buf.subarray(HEADER, HEADER + len));
      buf = buf.subarray(HEADER + len);
    }
    this.#pending = Buffer.from(buf);
  }

  #record(type: string, index: number, data: Buffer): void {
    const b = this.#batch;
    if (b && type === "b") {
      this.#batch = undefined;
      b.done(
        b.ends.map((e, i) => {
          if (!e) throw new BerthError("INTERNAL", `the group runner did not say how command ${i} ended`);
          return e;
        }),
      );
      return;
    }
    if (!b || index >= b.ends.length || b.ends[index] !== undefined) {
      throw new BerthError(
        "INTERNAL",
        `the group runner wrote a record for command ${index}, which it cannot`,
      );
    }
    switch (type) {
      case "o":
        b.handlers.onStdout(index, data);
        return;
      case "e":
        b.handlers.onStderr(index, data);
        return;
      case "x":
        b.ends[index] = { kind: "exit", code: data.readUInt32LE(0) };
        return;
      case "f": {
        const nul = data.indexOf(0, 4);
        b.ends[index] = {
          kind: "refused",
          errno: data.readUInt32LE(0),
          step: data.subarray(4, nul).toString("utf8"),
          message: data.subarray(nul + 1).toString("utf8"),
        };
        return;
      }
      default:
        throw new BerthError(
          "INTERNAL",
          `the group runner wrote a record of unknown type ${JSON.stringify(type)}`,
        );
    }
  }
}

export interface RunnerJob extends RunnerCommand {
  onStdout?: ((chunk: Buffer) => void) | undefined;
  onStderr?: ((chunk: Buffer) => void) | undefined;
}

/** Starts the runner's container with this stdin and these handlers; resolves when it has ended. */
export type RunnerStart = (stdio: {
  stdin: Readable;
  onStdout: (chunk: Buffer) => void;
  onStderr: (chunk: Buffer) => void;
}) => Promise<{ exitCode: number }>;

/**
 * One runner container kept for batch after batch (the detect phase's groups), until `close`: each batch is
 * written when the one before has ended; a failure of the runner or its container rejects the batch running
 * and every later one.
 */
export class RunnerSession {
  readonly #stdin = new PassThrough();
  readonly #output = new RunnerOutput();
  readonly #ended: Promise<void>;
  #failure: unknown;
  #reject: ((err: unknown) => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(start: RunnerStart) {
    const own: Buffer[] = [];
    this.#stdin.write(RUNNER_HELLO);
    this.#ended = start({
      stdin: this.#stdin,
      onStdout: (c) => {
        try {
          this.#output.push(c);
        } catch (err) {
          this.#fail(err);
        }
      },
      onStderr: (c) => own.push(c),
    }).then(
      (r) => {
        const words = Buffer.concat(own).toString("utf8").trim().slice(-4096);
        this.#fail(
          new BerthError(
            "INTERNAL",
            r.exitCode === 0
              ? "berth's detect group runner ended before its batch did"
              : `berth's detect group runner failed (exit ${r.exitCode}): ${words}`,
          ),
        );
      },
      (err) => this.#fail(err),
    );
  }

  #fail(err: unknown): void {
    this.#failure ??= err;
    const reject = this.#reject;
    this.#reject = undefined;
    reject?.(this.#failure);
  }

  /** Each command's end, in order, their output passed to their handlers as it comes. */
  run(jobs: readonly RunnerJob[]): Promise<RunnerEnd[]> {
    const next = this.#queue.then(() => this.#run(jobs));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #run(jobs: readonly RunnerJob[]): Promise<RunnerEnd[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const batch = encodeBatch(jobs);
    return new Promise<RunnerEnd[]>((resolve, reject) => {
      this.#reject = reject;
      this.#output.begin(
        jobs.length,
        {
          onStdout: (i, c) => jobs[i]!.onStdout?.(c),
          onStderr: (i, c) => jobs[i]!.onStderr?.(c),
        },
        (ends) => {
          this.#reject = undefined;
          resolve(ends);
        },
      );
      this.#stdin.write(batch);
    });
  }

  /** End the runner (its stdin) and wait for its container to end. */
  async close(): Promise<void> {
    this.#stdin.end();
    await this.#ended;
  }
}

/**
 * A command runc would not have started, as runtime/exec.ts `explainFailure` reports it: 127 for a program
 * not found, 126 for one not executable (with runc's words on stderr), undefined for any other refusal (the
 * caller throws, as the runtime's failure to start is thrown).
 */
export function refusedCode(end: Extract<RunnerEnd, { kind: "refused" }>): 126 | 127 | undefined {
  if ((end.step === "lookup" || end.step === "stat") && end.errno === constants.errno.ENOENT) return 127;
  if (end.step === "access" && end.errno === constants.errno.EACCES) return 126;
  return undefined;
}
