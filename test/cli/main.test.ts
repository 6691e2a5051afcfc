/**
 * src/cli/main.ts: the program built for an argument list loads only the module of the command it names
 * (global options and `help` skipped), every module for the overview, none for --version; and a command run
 * through it gets the Cli the caller made; the sweep of what killed berths left runs before the command, and
 * only in a BERTH_HOME found private.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import type { Cli } from "../../src/cli/env.ts";
import { buildProgram, exitWhenIdle } from "../../src/cli/main.ts";
import { berth } from "../helpers/cli.ts";
import { runCommand } from "../helpers/cli-commands.ts";
import { tempDir } from "../helpers/temp.ts";

const names = (p: Command) => p.commands.map((c) => c.name()).sort();

function unused(): Cli {
  throw new Error("no command ran, so no Cli is asked for");
}

describe("buildProgram", () => {
  it("loads only the module of the command named (tag is in images's module)", async () => {
    expect(names(await buildProgram(unused, ["tag", "a", "b"]))).toEqual(["images", "rmi", "tag"]);
    expect(names(await buildProgram(unused, ["copy", "a", "b"]))).toEqual(["copy"]);
  });

  it("skips global options and their values to find the command", async () => {
    const p = await buildProgram(unused, ["--insecure-registry", "copy", "--jobs", "2", "pull", "x"]);
    expect(names(p)).toEqual(["delete", "login", "logout", "pull", "push", "tags"]);
  });

  it("loads the command of `help CMD` only: build's module brings no builder group (and no CNB engine)", async () => {
    expect(names(await buildProgram(unused, ["help", "build"]))).toEqual(["build"]);
  });

  it("loads every module for the overview, the builder group once", async () => {
    const all = names(await buildProgram(unused, []));
    expect(all).toContain("build");
    expect(all).toContain("ps");
    expect(all).toContain("system");
    expect(all.filter((n) => n === "builder")).toEqual(["builder"]);
    expect(names(await buildProgram(unused, ["nonsense"]))).toEqual(all);
    const builder = (await buildProgram(unused, [])).commands.find((c) => c.name() === "builder")!;
    expect(names(builder)).toEqual(["create", "default", "inspect"]);
  });

  it("loads none for --version alone", async () => {
    expect(names(await buildProgram(unused, ["--version"]))).toEqual([]);
  });

  it("makes a usage mistake commander's error, with the usage line after it", async () => {
    const err = new PassThrough();
    const p = await buildProgram(unused, ["tag"]);
    p.commands
      .find((c) => c.name() === "tag")!
      .configureOutput({ writeErr: (s) => err.write(s), writeOut: () => undefined });
    await expect(p.parseAsync(["tag", "--nope"], { from: "user" })).rejects.toMatchObject({
      code: "commander.unknownOption",
      exitCode: 1,
    });
    expect(String(err.read())).toContain("Usage: berth tag ");
  });

  it("runs the command with the Cli the caller made (its home and output)", async () => {
    const home = await tempDir();
    const r = await runCommand(["images", "--json"], { home });
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.stdout)).toEqual({ schemaVersion: 1, images: [] });
  });
});

describe("the sweep of killed berths' leftovers", () => {
  // an edit's temp folder left by a killed berth, as its name records it (pid 2^22+ is beyond pid_max)
  const LEFT = "edit-p4194399t1-AbCdEf";

  it("is done before the command (started while its module loads), not for help", async () => {
    const home = join(await tempDir("berth-main-sweep-"), "home");
    await mkdir(join(home, "tmp", LEFT), { recursive: true });
    expect((await berth(["images", "--help"], { home })).code).toBe(0);
    expect(await readdir(join(home, "tmp"))).toEqual([LEFT]);
    const r = await berth(["images"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(await readdir(join(home, "tmp"))).toEqual([]);
  });

  it("touches nothing in a shared BERTH_HOME, which is refused first", async () => {
    const shared = join(await tempDir("berth-main-sweep-"), "shared");
    await mkdir(join(shared, "tmp", LEFT), { recursive: true });
    await chmod(shared, 0o1777);
    const r = await berth(["images"], { home: shared, env: { HOME: "/dev/null" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is a shared folder/);
    expect(await readdir(join(shared, "tmp"))).toEqual([LEFT]);
  });
});

/**
 * A real Node running `script` after `exitWhenIdle(process)` is armed: the exit code and what it wrote on stderr,
 * where `fast exit N` says that it left by process.exit (Node's own exit, at an empty event loop, calls no
 * reallyExit).
 */
async function idleExit(script: string): Promise<{ code: number; stderr: string }> {
  const main = pathToFileURL(join(import.meta.dirname, "../../src/cli/main.ts")).href;
  const source = `import { ${exitWhenIdle.name} as exitWhenIdle } from ${JSON.stringify(main)};
const real = process.reallyExit;
process.reallyExit = (c) => { process.stderr.write("fast exit " + c + "\\n"); real.call(process, c); };
process.on("exit", (c) => process.stderr.write("exit listener " + c + "\\n"));
${script}
exitWhenIdle(process);`;
  const r = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", source]).then(
    (o) => ({ code: 0, stderr: o.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
  return r;
}

describe("exitWhenIdle", () => {
  it("exits once the event loop is empty: the work still pending runs, the exit listeners and code are kept", async () => {
    const r = await idleExit(
      'process.exitCode = 3; setTimeout(() => process.stderr.write("late work done\\n"), 30);',
    );
    expect(r).toEqual({ code: 3, stderr: "late work done\nexit listener 3\nfast exit 3\n" });
  });

  it("leaves the exit to Node when another beforeExit listener may start more work", async () => {
    const r = await idleExit(`let more = true;
process.on("beforeExit", () => { if (more) { more = false; setTimeout(() => process.stderr.write("more work\\n"), 10); } });`);
    expect(r).toEqual({ code: 0, stderr: "more work\nexit listener 0\n" });
  });
});
