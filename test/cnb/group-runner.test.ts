/**
 * group-runner.ts and group-runner.c, through the sandbox executor's `execAll` with real runc and a busybox
 * build image: every command of a batch runs in one container exactly as `exec` runs it in a container of its
 * own (env, cwd, output, exit codes, a command that cannot be run), nothing one leaves running, in /dev/shm or
 * in the runner reaches the next, the host stays out of reach, and without the runner (no compiler, or an
 * executor without `execAll`) each runs on its own with the same results, the detect phase's included.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BatchExecutor,
  canExecAll,
  type ExecRequest,
  type ExecResult,
  type Executor,
  hostExecutor,
  sandboxExecutor,
} from "../../src/cnb/executor.ts";
import { encodeBatch, RUNNER_HELLO, RunnerOutput } from "../../src/cnb/group-runner.ts";
import { layoutImage } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";
import { type BpSpec, makeBuildImage, memoryLogger, phasePaths, writeBuildpack } from "./helpers.ts";
import { BuildpackStore, detect, Env, type Order, readBuildpackDir } from "./lib.ts";

let dir: string;
let home: string;
let paths: Awaited<ReturnType<typeof phasePaths>>;
let layout: string;

async function executor(o: { cc?: string } = {}): Promise<Executor> {
  const image = await layoutImage(layout, "build");
  return sandboxExecutor({
    runtime: { home },
    image,
    imageName: "build",
    paths,
    owner: { uid: 1000, gid: 1000 },
    // A folder of its own: the root's mode is the upper dir's (a temp dir's 0700 would shut the user out).
    upperDir: join(await tempDir("berth-group-runner-upper-"), "upper"),
    network: "none",
    ...(o.cc ? { cc: o.cc } : {}),
  });
}

const sh = (script: string, env: string[] = ["PATH=/bin"], cwd = "/workspace"): ExecRequest => ({
  args: ["/bin/sh", "-c", script],
  env,
  cwd,
});

/** A result without what differs between any two containers (the random hostname). */
const same = (r: ExecResult) => ({ ...r, stdoutTail: r.stdoutTail.replace(/^HOSTNAME=.*\n/m, "") });

beforeAll(async () => {
  dir = await tempDir("berth-group-runner-");
  home = join(dir, "home");
  layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home, ["sleep", "kill", "setsid"]);
  paths = await phasePaths(dir, "buildpacks");
  await chmod(paths.layers, 0o777);
}, 300_000);

describe("the group runner's records", () => {
  it("encodes a batch as NUL-terminated strings and refuses a NUL inside one", () => {
    expect(RUNNER_HELLO.toString("latin1")).toBe("berth-group-runner/2\x00");
    expect(encodeBatch([{ args: ["/a", "b"], env: ["K=V"], cwd: "/w" }]).toString("latin1")).toBe(
      "1\x00/w\x002\x00/a\x00b\x001\x00K=V\x00",
    );
    expect(() => encodeBatch([{ args: ["/a\0b"], env: [], cwd: "/" }])).toThrow(/a NUL byte/);
    expect(() => encodeBatch([{ args: [], env: [], cwd: "/" }])).toThrow(/without arguments/);
  });

  it("reads records split anywhere, batch by batch, and refuses one for a command that has ended", () => {
    const rec = (type: string, i: number, data: Buffer) => {
      const h = Buffer.alloc(9);
      h.write(type, 0, "latin1");
      h.writeUInt32LE(i, 1);
      h.writeUInt32LE(data.length, 5);
      return Buffer.concat([h, data]);
    };
    const u32 = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v);
      return b;
    };
    const all = Buffer.concat([
      rec("o", 0, Buffer.from("out")),
      rec("e", 1, Buffer.from("err")),
      rec("x", 0, u32(100)),
      rec(
        "f",
        1,
        Buffer.concat([u32(2), Buffer.from('stat\0exec: "/x": stat /x: no such file or directory')]),
      ),
      rec("b", 0, Buffer.alloc(0)),
    ]);
    const seen: string[] = [];
    const ends: unknown[] = [];
    const out = new RunnerOutput();
    out.begin(
      2,
      { onStdout: (i, c) => seen.push(`${i}o${c}`), onStderr: (i, c) => seen.push(`${i}e${c}`) },
      (e) => ends.push(e),
    );
    for (let k = 0; k < all.length; k += 5) out.push(all.subarray(k, k + 5));
    expect(seen).toEqual(["0oout", "1eerr"]);
    expect(ends).toEqual([
      [
        { kind: "exit", code: 100 },
        {
          kind: "refused",
          errno: 2,
          step: "stat",
          message: 'exec: "/x": stat /x: no such file or directory',
        },
      ],
    ]);
    // After its 'b', no record belongs to the batch; a batch that ends without a command's end is refused.
    expect(() => out.push(rec("o", 0, Buffer.from("late")))).toThrow(/command 0, which it cannot/);
    const short = new RunnerOutput();
    short.begin(1, { onStdout: () => undefined, onStderr: () => undefined }, () => undefined);
    expect(() => short.push(rec("b", 0, Buffer.alloc(0)))).toThrow(/did not say how command 0 ended/);
  });
});

const made: BatchExecutor[] = [];
afterAll(async () => {
  for (const e of made) await e.release();
});

async function batch(o: { cc?: string } = {}): Promise<BatchExecutor> {
  const e = await executor(o);
  if (!canExecAll(e)) throw new Error("the sandbox executor has no execAll");
  made.push(e);
  return e;
}

/** execAll's results and each command's streamed stdout and stderr. */
async function runAll(e: BatchExecutor, reqs: ExecRequest[]) {
  const streamed = reqs.map(() => ({ out: [] as Buffer[], err: [] as Buffer[] }));
  const results = await e.execAll(
    reqs.map((r, i) => ({
      ...r,
      onStdout: (c: Buffer) => streamed[i]!.out.push(c),
      onStderr: (c: Buffer) => streamed[i]!.err.push(c),
    })),
  );
  return {
    results,
    out: streamed.map((s) => Buffer.concat(s.out).toString("utf8")),
    err: streamed.map((s) => Buffer.concat(s.err).toString("utf8")),
  };
}

describe("execAll: one container for all, each command as if alone", { timeout: 300_000 }, () => {
  it("gives each command its own env, cwd, output and exit code, as exec in a container of its own does", async () => {
    const e = await batch();
    const reqs = [
      sh("env | sort; pwd; echo err >&2; exit 3", ["PATH=/bin", "A=1=2", "HOME=/h"]),
      sh("env | sort; exit 100", ["B=2", "HOME", "PATH=/bin"]),
      sh("pwd; exit 7", ["PATH=/bin"], "/layers"),
      sh("echo out; echo err >&2; echo out2"),
    ];
    const all = await runAll(e, reqs);
    const alone = await Promise.all(reqs.map((r) => e.exec(r)));
    expect(all.results.map(same)).toEqual(alone.map(same));
    expect(all.results.map((r) => r.exitCode)).toEqual([3, 100, 7, 0]);
    expect(all.results[0]!.stdoutTail).toMatch(
      /^A=1=2\nHOME=\/h\nHOSTNAME=\w+\nPATH=\/bin\nPWD=\/workspace\nSHLVL=1\n\/workspace\n$/,
    );
    // `HOME` alone removes it; runc then sets the user's.
    expect(all.results[1]!.stdoutTail).toMatch(/^B=2\nHOME=\/home\/cnb\nHOSTNAME=\w+\nPATH=\/bin\n/);
    expect(all.out).toEqual(all.results.map((r) => r.stdoutTail));
    expect(all.err).toEqual(["err\n", "", "", "err\n"]);
  });

  it("keeps its container for batch after batch until release, and exec ends it first", async () => {
    const e = await batch();
    const probe = sh("cat /proc/1/comm /proc/sys/kernel/hostname; echo $$ > /dev/shm/mine; ls /dev/shm");
    const first = await runAll(e, [probe]);
    const second = await runAll(e, [probe, probe]);
    expect(first.out[0]).toMatch(/^runner\n\w+\nmine\n$/);
    // The same container (its hostname), a clean /dev/shm for each command.
    expect(second.out).toEqual([first.out[0], first.out[0]]);
    const alone = await e.exec(sh("cat /proc/1/comm"));
    // Alone: its own container, whose PID 1 is the command (sh execs cat).
    expect(alone.stdoutTail).toBe("cat\n");
    const third = await runAll(e, [probe]);
    expect(third.out[0]).toMatch(/^runner\n/);
    expect(third.out[0]).not.toBe(first.out[0]);
    await e.release();
    await e.release();
  });

  it("reports a command a signal ended as the runtime does: 128 + its number, and the signal", async () => {
    // (Alone, the command is its container's PID 1, which a signal it sends itself without a handler spares.)
    const all = await runAll(await batch(), [sh("kill -KILL $$"), sh("kill -TERM $$")]);
    expect(all.results.map((r) => [r.exitCode, r.signal])).toEqual([
      [137, "SIGKILL"],
      [143, "SIGTERM"],
    ]);
  });

  it("passes big outputs on whole, in order, and keeps 16 KiB tails", async () => {
    const e = await batch();
    const big =
      'i=0; while [ $i -lt 2000 ]; do echo "line $i of stdout, padded to make it longer than a pipe......."; echo "line $i of stderr" >&2; i=$((i+1)); done';
    const reqs = [sh(big), sh("head -c 3000000 /dev/zero | tr '\\0' a; printf END"), sh("echo after")];
    const all = await runAll(e, reqs);
    const lines = all.out[0]!.split("\n");
    expect(lines).toHaveLength(2001);
    expect(lines[1999]).toBe("line 1999 of stdout, padded to make it longer than a pipe.......");
    expect(all.err[0]!.split("\n")[1999]).toBe("line 1999 of stderr");
    expect(all.out[1]).toHaveLength(3_000_003);
    expect(all.results[1]!.stdoutTail).toHaveLength(16 * 1024);
    expect(all.results[1]!.stdoutTail.endsWith("aEND")).toBe(true);
    expect(all.results.map((r) => r.exitCode)).toEqual([0, 0, 0]);
    expect(all.out[2]).toBe("after\n");
  });

  it("answers a missing program 127, one not executable 126, a missing interpreter or no program 1, as runc", async () => {
    const e = await batch();
    await writeFile(join(paths.buildpacks, "noint"), "#!/nonexistent/sh\n", { mode: 0o755 });
    await writeFile(join(paths.buildpacks, "noexec"), "#!/bin/sh\n", { mode: 0o644 });
    await writeFile(join(paths.buildpacks, "noprogram"), "echo hi\n", { mode: 0o755 });
    const cmd = (args: string[]): ExecRequest => ({ args, env: ["PATH=/bin"], cwd: "/workspace" });
    const reqs = [
      cmd(["/nonexistent"]),
      cmd(["/cnb/buildpacks/noexec"]),
      cmd(["/cnb/buildpacks/noint"]),
      cmd(["/cnb/buildpacks/noprogram"]),
      cmd(["nosuch"]),
      cmd(["echo", "found on PATH"]),
    ];
    const all = await runAll(e, reqs);
    const alone = await Promise.all(reqs.map((r) => e.exec(r)));
    expect(all.results.map((r) => r.exitCode)).toEqual([127, 126, 1, 1, 127, 0]);
    expect(alone.map((r) => r.exitCode)).toEqual([127, 126, 1, 1, 127, 0]);
    // What the command itself prints is runc's init's very words; runc's refusals keep runc's words.
    expect(all.err.slice(2, 4)).toEqual([alone[2]!.stderrTail, alone[3]!.stderrTail]);
    expect(all.err[2]).toBe("exec /cnb/buildpacks/noint: no such file or directory\n");
    for (const k of [0, 1, 4]) {
      const words = all.err[k]!.replace(/^unable to start container process: /, "").trim();
      expect(alone[k]!.stderrTail).toContain(words);
      expect(all.results[k]!.stderrTail).toBe(all.err[k]);
    }
    expect(all.out[5]).toBe("found on PATH\n");
  });

  it("lets nothing a command leaves running, in /dev/shm or in the runner reach the next, nor the host", async () => {
    const secret = join(await tempDir("berth-group-runner-secret-"), "secret");
    await writeFile(secret, "HOST SECRET\n");
    const e = await batch();
    const reqs = [
      sh(
        // Left running, one of them in a session of its own (out of the command's process group).
        "echo shm > /dev/shm/left; setsid sh -c 'sleep 1; echo late > /tmp/late' & " +
          "SECRET=hidden sleep 30 & echo started",
        ["PATH=/bin", "TOKEN=a-secret"],
      ),
      sh(
        [
          "sleep 2",
          "test -e /tmp/late && echo LATE",
          "ls -A /dev/shm",
          "grep -l -s -e hidden -e a-secret /proc/[0-9]*/environ",
          "cat /proc/1/environ > /dev/null 2>&1 || echo environ refused",
          "echo forged > /proc/1/fd/1 2>/dev/null || echo fd refused",
          "ls /proc/1/fd > /dev/null 2>&1 || echo fds refused",
          "touch /dev/.berth-group-runner/x 2>/dev/null || echo runner read-only",
          `cat ${secret} 2>/dev/null || echo no host file`,
          "cat /proc/[0-9]*/comm 2>/dev/null | grep -c -x sleep",
          "exit 0",
        ].join("; "),
      ),
    ];
    const t0 = Date.now();
    const all = await runAll(e, reqs);
    expect(Date.now() - t0).toBeLessThan(25_000);
    expect(all.results.map((r) => r.exitCode)).toEqual([0, 0]);
    expect(all.out[0]).toBe("started\n");
    expect(all.out[1]).toBe(
      "environ refused\nfd refused\nfds refused\nrunner read-only\nno host file\n" +
        // no sleep the first one started is still there
        "0\n",
    );
  });

  it("without a compiler for the runner, runs each command in a container of its own, with the same results", async () => {
    const e = await batch({ cc: "no-such-cc" });
    const reqs = [sh("env | sort; exit 3", ["PATH=/bin", "A=1"]), sh("echo $$; ls -A /dev/shm")];
    const all = await runAll(e, reqs);
    expect(all.results.map(same)).toEqual((await Promise.all(reqs.map((r) => e.exec(r)))).map(same));
    // Alone, the command is its container's PID 1.
    expect(all.out[1]).toBe("1\n");
    expect(canExecAll(hostExecutor({ paths }))).toBe(false);
  });
});

describe("the detect phase through execAll", { timeout: 300_000 }, () => {
  const provides = (n: string) => `[[provides]]\nname = "${n}"\n`;
  const requires = (n: string) => `[[requires]]\nname = "${n}"\n`;
  const specs: BpSpec[] = [
    // (Each writes to one stream only: the order of lines written to both is a race of two pipes, alone too.)
    { id: "a", detect: 'echo "a out $CNB_BUILDPACK_DIR"; echo more; exit 100' },
    { id: "d", detect: "echo d breaks; exit 3" },
    {
      id: "b",
      detect: `env | grep -v HOSTNAME | sort; cat > "$CNB_BUILD_PLAN_PATH" <<'PLAN'\n${provides("x")}${requires("x")}PLAN\nexit 0`,
    },
    { id: "c", detect: "echo c passes not >&2; exit 100" },
  ];
  const g = (...refs: [string, boolean?][]): Order[number] => ({
    group: refs.map(([id, optional]) => ({ id, version: "0.0.1", ...(optional ? { optional: true } : {}) })),
  });

  async function detectWith(e: Executor, order: Order) {
    const bps = [];
    for (const s of specs) bps.push(await readBuildpackDir(await writeBuildpack(paths.buildpacks, s)));
    const logger = memoryLogger();
    const result = await detect({
      order,
      store: new BuildpackStore(bps),
      executor: e,
      env: Env.forBuild(["PATH=/bin"]),
      target: { os: "linux", arch: "amd64" },
      platformApi: "0.13",
      logger,
    }).catch((err: Error) => err);
    return { result, lines: logger.lines.filter((l) => !l.includes("Timer:")) };
  }

  it("chooses the same group and plan, and shows the same output, as one container per detect", async () => {
    const e = await batch();
    const alone: Executor = { ...e, execAll: undefined } as Executor;
    expect(canExecAll(alone)).toBe(false);
    const order = [g(["a"], ["d"]), g(["b"], ["c", true])];
    const together = await detectWith(e, order);
    const separate = await detectWith(alone, order);
    expect(together).toEqual(separate);
    expect(together.result).toMatchObject({ group: { group: [{ id: "b" }] }, considered: 2 });
    expect(together.lines).toContain("DEBUG a out /cnb/buildpacks/a-0.0.1\nmore");
    expect(together.lines).toContain("d breaks");
    expect(together.lines).toContain("DEBUG pass: b@0.0.1");
  });

  it("fails detection with the same error and output", async () => {
    const e = await batch();
    const alone: Executor = { ...e, execAll: undefined } as Executor;
    const order = [g(["a"], ["c"]), g(["d"])];
    const together = await detectWith(e, order);
    expect(together).toEqual(await detectWith(alone, order));
    expect(together.result).toMatchObject({ code: "CNB_DETECT_ERROR" });
  });
});
