/**
 * `berth run` in a terminal, as docker users expect: Ctrl-C forwarded then, the second time, the container
 * killed; --init for a PID 1 that ignores signals; -it giving the container a real terminal.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { berthInTerminal, type Terminal } from "../helpers/terminal.ts";
import { busyboxImage } from "./helpers.ts";

let dir: string;
let home: string;
let app: string;

beforeAll(async () => {
  dir = await tempDir("berth-terminal-");
  home = join(dir, "home");
  await busyboxImage(join(dir, "layout"), "app", { env: ["PATH=/bin"], cmd: ["sh"] });
  app = `oci:${join(dir, "layout")}:app`;
});

/** Type `text` until the terminal shows `re` (retyped every 3 s, 20 times at most). */
async function typeUntil(t: Terminal, text: string, re: RegExp): Promise<void> {
  for (let i = 0; i < 20; i++) {
    t.write(text);
    const shown = await Promise.race([
      t.waitFor(re).then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    if (shown) return;
  }
  throw new Error(`the terminal never showed ${re}:\n${t.output()}`);
}

function containersLeft(): string[] {
  const d = join(home, "run", "containers");
  return existsSync(d) ? readdirSync(d) : [];
}

describe("Ctrl-C", () => {
  it("the first is forwarded (to an app that ignores it), the second kills the container: 137, nothing left", async () => {
    const t = berthInTerminal(["run", app, "sh", "-c", "trap '' INT; echo ready; exec sleep 1000"], { home });
    await t.waitFor(/ready/);
    t.write("\x03");
    await t.waitFor(/Ctrl-C again kills it/);
    t.write("\x03");
    const r = await t.done;
    expect(r.output).toMatch(/killing the container/);
    expect(r.code).toBe(137);
    expect(containersLeft()).toEqual([]);
  });

  it("--init: tini as PID 1 passes SIGINT on, and sleep (no longer PID 1) ends on the first Ctrl-C: 130", async () => {
    const t = berthInTerminal(["run", "--init", app, "sh", "-c", "echo ready; exec sleep 1000"], { home });
    await t.waitFor(/ready/);
    t.write("\x03");
    const r = await t.done;
    expect(r.output).not.toMatch(/killing the container/);
    expect(r.code).toBe(130);
    expect(containersLeft()).toEqual([]);
  });

  it("--init runs the command under /dev/init (tini) as PID 1", async () => {
    const r = await berth(
      ["run", "--init", app, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$"],
      {
        home,
      },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^\/dev\/init -- sh -c/);
    expect(r.code).toBe(0);
  });
});

describe("-t and -i", () => {
  it("-it: a shell on a real terminal reads what is typed; Ctrl-C goes to the container's terminal", async () => {
    const t = berthInTerminal(["run", "-it", app, "sh"], { home });
    await t.waitFor(/# /);
    t.write("tty; echo $TERM; echo $((6*7))\r");
    await t.waitFor(/^42\r?$/m);
    t.write("exit 3\r");
    const r = await t.done;
    expect(r.output).toMatch(/^\/dev\/pts\/0\r?$/m);
    expect(r.output).toMatch(/^xterm\r?$/m);
    expect(r.code).toBe(3);
    expect(containersLeft()).toEqual([]);
  });

  it("-it: Ctrl-C goes to the container's terminal: it interrupts the shell's command, the shell stays", async () => {
    const t = berthInTerminal(["run", "-it", app, "sh"], { home });
    await t.waitFor(/# /);
    // "started" is printed once the shell has put its terminal back from line editing to cooked mode
    t.write("echo started; sleep 1000\r");
    await t.waitFor(/^started\r?$/m);
    // Typed again while nothing shows (a busy machine: busybox's line editor may swallow keys while it asks
    // the terminal where its cursor is); what is asserted is only what finally shows.
    await typeUntil(t, "\x03", /\^C[\s\S]*# /);
    await typeUntil(t, "echo still-$((1+1))\r", /^still-2\r?$/m);
    t.write("exit\r");
    const r = await t.done;
    expect(r.output).not.toMatch(/berth: sent SIGINT/);
    expect(r.code).toBe(0);
  });

  it("exec -it: a shell on a real terminal in a running container", async () => {
    const started = await berth(["run", "-d", "--name", "target", app, "sleep", "1000"], { home });
    expect(started.code).toBe(0);
    try {
      const t = berthInTerminal(["exec", "-it", "target", "sh"], { home });
      await t.waitFor(/# /);
      t.write("tty; echo $TERM; echo $((2*3))\r");
      await t.waitFor(/^6\r?$/m);
      t.write("exit 5\r");
      const r = await t.done;
      expect(r.output).toMatch(/^\/dev\/pts\/\d+\r?$/m);
      expect(r.output).toMatch(/^xterm\r?$/m);
      expect(r.code).toBe(5);
    } finally {
      await berth(["rm", "-f", "target"], { home });
    }
  });

  it("-t without a terminal here: a warning, and the container runs without one", async () => {
    const withT = await berth(["run", "-t", app, "sh", "-c", "[ -t 1 ] && echo terminal || echo none"], {
      home,
    });
    expect(withT.stderr).toMatch(/warning: -t needs a terminal/);
    expect(withT.stdout).toBe("none\n");
    expect(withT.code).toBe(0);
  });

  it("stdin reaches the container with -i only (docker's rule)", async () => {
    const withI = await berth(["run", "-i", app, "cat"], { home, input: "typed\n" });
    expect(withI.stdout).toBe("typed\n");
    const without = await berth(["run", app, "cat"], { home, input: "typed\n" });
    expect(without.stdout).toBe("");
    expect(without.code).toBe(0);
  });

  it("-it with stdin not a terminal: docker's refusal, exit 125", async () => {
    const r = await berth(["run", "-it", app, "true"], { home, input: "" });
    expect(r.stderr).toMatch(/the input device is not a TTY/);
    expect(r.code).toBe(125);
  });
});
