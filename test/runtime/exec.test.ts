/**
 * Running a bundle with runc in the foreground: exit codes, output tails, stdin, signals, abort, Docker's 126
 * and 127, and the runtime's state removed afterwards. The bundle is a static busybox root made here.
 */
import { copyFile, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { cleanupState, type RunBundle, runBundle } from "../../src/runtime/exec.ts";
import { findRuntime, type OciRuntime } from "../../src/runtime/runtime.ts";
import { buildSpec } from "../../src/runtime/spec.ts";
import { tempDir } from "../helpers/temp.ts";
import { APPLETS, BUSYBOX } from "./helpers.ts";

let runtime: OciRuntime;
let rootfs: string;
let stateDir: string;
let n = 0;

beforeAll(async () => {
  runtime = await findRuntime({ want: "runc" });
  const base = await tempDir("berth-exec-");
  rootfs = join(base, "rootfs");
  stateDir = join(base, "state");
  await mkdir(join(rootfs, "bin"), { recursive: true });
  await copyFile(BUSYBOX, join(rootfs, "bin/busybox"));
  for (const a of APPLETS) await symlink("busybox", join(rootfs, "bin", a));
  await writeFile(join(rootfs, "bin/not-executable"), "#!/bin/sh\n", { mode: 0o644 });
});

/** A bundle running `args` over the shared root (read-only use), with a fresh id. */
async function bundle(args: string[]): Promise<RunBundle> {
  const bundleDir = await tempDir("berth-bundle-");
  const spec = buildSpec({
    user: { uid: 0, gid: 0, additionalGids: [] },
    args,
    env: ["PATH=/bin"],
    cwd: "/",
    network: "none",
    rootPath: rootfs,
  });
  await writeFile(join(bundleDir, "config.json"), JSON.stringify(spec));
  return { runtime, stateDir, bundleDir, id: `berth-exec-test-${process.pid}-${n++}`, command: args };
}

describe("runBundle", () => {
  it("the command's exit code and output tails, each chunk as it comes; the runtime's state is removed", async () => {
    const b = await bundle(["sh", "-c", "echo out; echo err >&2; printf 0123456789abcdef; exit 3"]);
    const seen: string[] = [];
    const r = await runBundle(b, { onStdout: (c) => seen.push(c.toString()), tailBytes: 8 });
    expect(r).toEqual({
      exitCode: 3,
      signal: undefined,
      stdoutTail: "89abcdef",
      stderrTail: "err\n",
      command: b.command,
    });
    expect(seen.join("")).toBe("out\n0123456789abcdef");
    expect(await readdir(stateDir)).toEqual([]);
  });

  it("passes stdin", async () => {
    const r = await runBundle(await bundle(["cat"]), { stdin: Readable.from([Buffer.from("from stdin")]) });
    expect([r.exitCode, r.stdoutTail]).toEqual([0, "from stdin"]);
  });

  it("Docker's codes for a command that cannot be run: 127 not found, 126 not executable", async () => {
    expect((await runBundle(await bundle(["/bin/nope"]))).exitCode).toBe(127);
    expect((await runBundle(await bundle(["/bin/not-executable"]))).exitCode).toBe(126);
  });

  it("forwards signals to the container's process", async () => {
    const seen: string[] = [];
    const r = await runBundle(
      await bundle([
        "sh",
        "-c",
        'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done',
      ]),
      {
        onStdout: (c) => seen.push(c.toString()),
        forwardSignals: (send) => {
          const t = setInterval(() => seen.join("").includes("ready") && send("SIGTERM"), 100);
          return () => clearInterval(t);
        },
      },
    );
    expect([r.exitCode, r.stdoutTail]).toEqual([42, "ready\ngot TERM\n"]);
  });

  it("a forwarded SIGKILL ends the run as a killed one: 137, SIGKILL", async () => {
    const r = await runBundle(await bundle(["sh", "-c", "echo ready; sleep 60"]), {
      forwardSignals: (send) => {
        const t = setInterval(() => send("SIGKILL"), 200);
        return () => clearInterval(t);
      },
    });
    expect([r.exitCode, r.signal]).toEqual([137, "SIGKILL"]);
  });

  it("aborting kills the container and rejects with the abort's reason, after cleanup", async () => {
    const abort = new AbortController();
    const b = await bundle(["sleep", "60"]);
    setTimeout(() => abort.abort(new Error("stop now")), 300);
    await expect(runBundle(b, { signal: abort.signal })).rejects.toThrow("stop now");
    expect(await readdir(stateDir)).toEqual([]);
    await expect(runBundle(b, { signal: abort.signal })).rejects.toThrow("stop now");
  });

  it("a runtime that cannot start, or that refuses the bundle, is one sentence naming it", async () => {
    const b = await bundle(["true"]);
    await expect(
      runBundle({ ...b, runtime: { name: "runc", path: "/nonexistent/runc" } }),
    ).rejects.toMatchObject({
      code: "RUNTIME_FAILED",
      message: expect.stringMatching(/^starting \/nonexistent\/runc: spawn \/nonexistent\/runc ENOENT/),
    });
    await writeFile(join(b.bundleDir, "config.json"), "{}");
    await expect(runBundle(b)).rejects.toMatchObject({
      code: "RUNTIME_FAILED",
      message: expect.stringMatching(/^runc could not start the container: /),
      details: { runtime: runtime.path, id: b.id },
    });
  });

  it("cleanupState removes what a killed runtime left of a container, and nothing when there is nothing", async () => {
    const states = await tempDir();
    await mkdir(join(states, "berth-left"));
    await writeFile(join(states, "berth-left", "state.json"), "{}");
    await mkdir(join(states, "berth-other"));
    await cleanupState({ runtime, stateDir: states, id: "berth-left" });
    await cleanupState({ runtime, stateDir: states, id: "berth-never" });
    expect(await readdir(states)).toEqual(["berth-other"]);
  });
});
