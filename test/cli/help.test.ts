import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let home: string;
beforeAll(async () => {
  dir = await tempDir("berth-help-");
  home = join(dir, "home");
});

/** Every command path (`["builder", "create"]`), from the program the CLI builds. */
async function commandPaths(): Promise<string[][]> {
  const program = await buildProgram(() => {
    throw new Error("not run");
  });
  const paths: string[][] = [];
  const walk = (c: Command, path: string[]): void => {
    for (const sub of c.commands) {
      // internal commands (berth run -d's supervisor) are hidden from help
      if ((sub as unknown as { _hidden?: boolean })._hidden) continue;
      paths.push([...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(program, []);
  return paths;
}

/** Run `script` in bash with $BERTH naming the CLI; stderr and exit code of the whole pipeline. */
function shell(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", script], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        BERTH_HOME: home,
        BERTH: `${process.execPath} ${resolve(import.meta.dirname, "../../src/cli/bin.ts")}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

describe("help", () => {
  // The overview loads every command module; two of them register into `berth builder` (it crashed with
  // "cannot add command 'builder' as already have command 'builder'").
  it("berth --help lists every command and exits 0", async () => {
    const r = await berth(["--help"], { home });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const commands = [...r.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    for (const c of ["copy", "build", "builder", "inspect", "run", "rebase", "detect", "store", "stack"]) {
      expect(commands).toContain(c);
    }
    expect(commands.filter((c) => c === "builder")).toHaveLength(1);
  });

  it("bare berth and berth help show the overview on stdout and exit 0 (issue 16)", async () => {
    for (const args of [[], ["help"], ["--jobs", "2"]]) {
      const r = await berth(args, { home });
      expect(r.stderr, args.join(" ")).toBe("");
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout).toMatch(/^Usage: berth \[options\] \[command\]/);
      expect(r.stdout).toContain("  pull ");
    }
  });

  it("berth help CMD [SUB] is berth CMD [SUB] --help", async () => {
    for (const [args, usage] of [
      [["help", "build"], "Usage: berth build "],
      [["help", "store", "gc"], "Usage: berth store gc "],
      [["help", "builder", "create"], "Usage: berth builder create "],
    ] as const) {
      const r = await berth([...args], { home });
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout.startsWith(usage), r.stdout.slice(0, 80)).toBe(true);
    }
  });

  it("berth builder --help lists create, inspect and default once each", async () => {
    const r = await berth(["builder", "--help"], { home });
    expect(r.code).toBe(0);
    const sub = [...r.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(sub.filter((c) => c === "create" || c === "inspect" || c === "default").sort()).toEqual([
      "create",
      "default",
      "inspect",
    ]);
  });

  it("every command's --help exits 0, shows an example and no commander noise (issue 16)", async () => {
    const paths = await commandPaths();
    expect(paths.length).toBeGreaterThan(30);
    const missing: string[] = [];
    const queue = [...paths];
    const worker = async (): Promise<void> => {
      for (let path = queue.shift(); path; path = queue.shift()) {
        const r = await berth([...path, "--help"], { home });
        const name = path.join(" ");
        expect(r.code, name).toBe(0);
        expect(r.stderr, name).toBe("");
        expect(r.stdout.startsWith(`Usage: berth ${name} `), name).toBe(true);
        if (!/\nExamples?:\n {2}.*\bberth /.test(r.stdout)) missing.push(name);
        expect(r.stdout, name).not.toContain("(default: [])");
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(missing).toEqual([]);
  }, 120_000);

  it("an unknown command names the nearest one and the usage line, not the whole help", async () => {
    const r = await berth(["biuld", "."], { home });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "berth: unknown command 'biuld'\n(Did you mean build?)\nUsage: berth [options] [command]\nRun 'berth --help' for its commands.\n",
    );
    const sub = await berth(["store", "gcc"], { home });
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("(Did you mean gc?)\nUsage: berth store [options] [command]\n");
  });

  it("a bad flag prints one line and the usage line", async () => {
    const r = await berth(["images", "--bogus"], { home });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "berth: unknown option '--bogus'\nUsage: berth images [options] [repository]\nRun 'berth images --help' for the options and examples.\n",
    );
    const missing = await berth(["pull"], { home });
    expect(missing.code).toBe(2);
    expect(missing.stderr.split("\n")[0]).toBe("berth: missing required argument 'ref'");
    expect(missing.stderr).not.toContain("Options:");
  });

  it("berth … | a reader that has stopped reading: no EPIPE trace, exit 0 (issue 16)", async () => {
    // `true` exits without reading: every write berth makes after that fails with EPIPE
    const r = await shell('$BERTH build --help | true; echo "berth=$PIPESTATUS"');
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("berth=0\n");
    const head = await shell("$BERTH --help | head -1");
    expect(head.stderr).toBe("");
    expect(head.code).toBe(0);
    expect(head.stdout).toBe("Usage: berth [options] [command]\n");
  });
});
