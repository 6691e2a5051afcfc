/**
 * The real CLI in a real pseudo-terminal, through util-linux's `script` (installed everywhere util-linux is):
 * what is written goes through the terminal's line discipline (Ctrl-C becomes SIGINT for the foreground
 * process group), and the program's stdin, stdout and stderr are the terminal.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

const BIN = resolve(import.meta.dirname, "../../src/cli/bin.ts");

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

export interface Terminal {
  child: ChildProcess;
  /** Type into the terminal. */
  write: (text: string) => void;
  /** Everything the terminal has shown so far. */
  output: () => string;
  /** Resolves once the terminal has shown text matching `re`; rejects if berth ends first. */
  waitFor: (re: RegExp) => Promise<void>;
  /** berth's exit code and everything shown. */
  done: Promise<{ code: number | null; output: string }>;
}

export function berthInTerminal(
  args: string[],
  o: { home: string; env?: Record<string, string>; size?: { rows: number; columns: number } },
): Terminal {
  // exec: berth is the terminal session's leader, no shell between (a shell would die of the Ctrl-C itself)
  const stty = o.size ? `stty rows ${o.size.rows} cols ${o.size.columns} && ` : "";
  const command = `${stty}exec ${[process.execPath, BIN, ...args].map(quote).join(" ")}`;
  const child = spawn("script", ["-q", "-e", "-f", "-c", command, "/dev/null"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: o.home,
      BERTH_HOME: o.home,
      TERM: "dumb",
      ...o.env,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  const waiters: { re: RegExp; resolve: () => void; reject: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.on("data", (c: Buffer) => {
    out += c.toString("utf8");
    check();
  });
  child.stderr!.on("data", (c: Buffer) => {
    out += c.toString("utf8");
    check();
  });
  const done = new Promise<{ code: number | null; output: string }>((res, rej) => {
    child.on("error", rej);
    child.on("close", (code) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`berth ended before showing ${w.re}:\n${out}`));
      child.stdin!.destroy();
      res({ code, output: out });
    });
  });
  return {
    child,
    write: (text) => child.stdin!.write(text),
    output: () => out,
    waitFor: (re) =>
      new Promise<void>((res, rej) => {
        waiters.push({ re, resolve: res, reject: rej });
        check();
      }),
    done,
  };
}
