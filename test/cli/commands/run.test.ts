/**
 * src/cli/commands/run.ts: berth's own failures marked for docker's exit code 125, the signals a foreground
 * container gets (real signals sent to this process), and the flag combinations `berth run` refuses before
 * anything runs (in process). Containers themselves run in test/runtime/.
 */
import { describe, expect, it } from "vitest";
import { containerSignals, ownFailure } from "../../../src/cli/commands/run.ts";
import { BerthError } from "../../../src/errors.ts";
import { runCommand, testCli } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("ownFailure", () => {
  it("marks berth's errors with 125, keeps an exit code already set, and leaves other errors alone", () => {
    const own = new BerthError("IMAGE_NOT_FOUND", "no image app:1");
    expect(ownFailure(own)).toBe(own);
    expect(own.details.exitCode).toBe(125);
    const container = new BerthError("RUNTIME_FAILED", "exec failed", { details: { exitCode: 127 } });
    expect((ownFailure(container) as BerthError).details.exitCode).toBe(127);
    const other = new Error("boom");
    expect(ownFailure(other)).toBe(other);
    expect(Object.keys(other)).toEqual([]);
  });
});

/** Send `signal` to this process and wait until a handler saw it. */
async function raise(signal: NodeJS.Signals, seen: NodeJS.Signals[]): Promise<void> {
  const before = seen.length;
  process.kill(process.pid, signal);
  for (let i = 0; i < 200 && seen.length === before; i++) await new Promise((r) => setTimeout(r, 5));
}

describe("containerSignals", () => {
  it("forwards signals while the container runs; a second SIGINT or SIGTERM kills it", async () => {
    const { cli, stderr } = testCli({ home: "/nonexistent", env: {} });
    const signals = containerSignals(cli);
    const sent: NodeJS.Signals[] = [];
    const stop = signals.forward((s) => sent.push(s));
    try {
      await raise("SIGUSR1", sent);
      await raise("SIGINT", sent);
      await raise("SIGWINCH", sent);
      await raise("SIGTERM", sent);
      expect(sent).toEqual(["SIGUSR1", "SIGINT", "SIGWINCH", "SIGKILL"]);
      expect(String(stderr.read())).toBe(
        "berth: sent SIGINT to the container (Ctrl-C again kills it)\nberth: killing the container\n",
      );
    } finally {
      stop();
      signals.dispose();
    }
  });

  it("holds signals when no container runs (before it starts, after it ended), and lets go when disposed", async () => {
    const signals = containerSignals(testCli({ home: "/nonexistent", env: {} }).cli);
    const sent: NodeJS.Signals[] = [];
    const handled: NodeJS.Signals[] = [];
    const watch = () => handled.push("SIGTERM");
    process.on("SIGTERM", watch);
    try {
      await raise("SIGTERM", handled);
      expect(sent).toEqual([]);
      const stop = signals.forward((s) => sent.push(s));
      stop();
      await raise("SIGTERM", handled);
      expect(sent).toEqual([]);
      expect(process.listenerCount("SIGHUP")).toBeGreaterThan(0);
    } finally {
      signals.dispose();
      process.off("SIGTERM", watch);
    }
    expect(process.listeners("SIGHUP")).toEqual([]);
  });
});

describe("berth run's refusals, in process", () => {
  it.each([
    [["-d", "-it"], "-d runs the container in the background: -t and -i need it in the foreground"],
    [["-it"], "the input device is not a TTY: -it needs berth's stdin to be a terminal"],
    [["--rm", "--keep"], "--rm and --keep contradict each other"],
  ])("refuses %j with 125", async (flags, message) => {
    const home = await tempDir();
    const r = await runCommand(["run", ...flags, "--pull", "never", "app:1"], { home });
    expect(r.error).toBeInstanceOf(BerthError);
    expect(r.error).toMatchObject({ code: "USAGE", message, details: { exitCode: 125 } });
  });

  it("names a missing image with --pull never, as berth's own failure", async () => {
    const home = await tempDir();
    const r = await runCommand(["run", "--pull", "never", "absent:1"], { home });
    expect(r.error).toMatchObject({ code: "IMAGE_NOT_FOUND", details: { exitCode: 125 } });
    expect((r.error as BerthError).message).toContain("absent:1");
  });
});
