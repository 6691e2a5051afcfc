import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

const BIN = resolve(import.meta.dirname, "../../src/cli/bin.ts");

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

interface BerthOptions {
  home: string;
  env?: Record<string, string> | undefined;
  input?: string | Buffer | undefined;
  cwd?: string;
  /** Run this berth executable (test/helpers/executable.ts) instead of the checkout's sources on this Node. */
  executable?: string | undefined;
}

/** Run the real berth CLI (from source, on this Node) with its own BERTH_HOME. */
export function berth(args: string[], options: BerthOptions): Promise<RunResult> {
  return spawnBerth(args, options).done;
}

/** Start the real berth CLI without waiting for it (to signal it mid-run); `done` resolves as `berth` does. */
export function spawnBerth(
  args: string[],
  options: BerthOptions,
): { child: ChildProcess; done: Promise<RunResult> } {
  const [command, argv] = options.executable
    ? [options.executable, args]
    : [process.execPath, [BIN, ...args]];
  const child = spawn(command, argv, {
    cwd: options.cwd ?? process.cwd(),
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: options.home,
      BERTH_HOME: options.home,
      ...options.env,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (c: Buffer) => out.push(c));
  child.stderr!.on("data", (c: Buffer) => err.push(c));
  const done = new Promise<RunResult>((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({
        code,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes,
      });
    });
  });
  child.stdin!.end(options.input ?? "");
  return { child, done };
}
