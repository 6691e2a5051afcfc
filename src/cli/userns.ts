/**
 * Builds without root (issue 16, point 8), as rootless podman and buildah do them: a build writes image
 * roots whose files belong to other ids (the CNB user 1000, a Dockerfile's `chown`), which a user can only do
 * inside a user namespace of its own. So when not root, `berth build` and `berth detect` run again inside one:
 * util-linux's `unshare --user --mount` maps the caller to 0 and, when the caller has subordinate ids
 * (/etc/subuid, /etc/subgid) and newuidmap/newgidmap, ids 1… to that range (`--map-users`, which runs
 * newuidmap). Inside, berth is root of its namespace: layers are applied with their owners, overlay
 * snapshots and runc work as they do for root, and the tars it writes record the ids inside the namespace
 * (1000, not the host's 100999). `system df`/`prune` run there too: what builds leave in BERTH_HOME belongs to the
 * namespace's ids, which the caller cannot remove outside it. Without subordinate ids only the caller's own id is mapped (to 0): a build
 * that needs another owner fails with `ID_UNMAPPED` naming the file and what to install.
 */
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { BerthError } from "../errors.ts";
import { which } from "../util/which.ts";

/**
 * Commands that run in a user namespace when not root: those that write image roots owned by other ids, and
 * `system` (df, prune), which measures and removes what they left (files of the namespace's ids).
 */
const IN_NAMESPACE = new Set(["build", "detect", "system"]);

/**
 * node:child_process, loaded when a namespace is made: main.ts imports this module for `needsNamespace` on
 * every command, and `berth --version` then loads no child_process at all (37 of Node's internal modules).
 */
const childProcess = () => import("node:child_process");

/** Whether `command` with `argv` must run in a user namespace: not root, a build, not asking for help. */
export function needsNamespace(command: string | undefined, argv: readonly string[], euid: number): boolean {
  if (euid === 0 || command === undefined || !IN_NAMESPACE.has(command)) return false;
  // `--isolation host`: berth inside a build step runs as the CNB user itself, with no namespace (issue 15)
  const hostIsolation = argv.some(
    (a, i) => a === "--isolation=host" || (a === "--isolation" && argv[i + 1] === "host"),
  );
  if (hostIsolation && command === "build") return false;
  return !argv.some((a) => a === "-h" || a === "--help");
}

export interface Namespace {
  /** The command line that runs `argv` in the namespace. */
  argv: string[];
  /** `subordinate` (the caller's ranges mapped) or `single` (only the caller's own id). */
  mapping: "subordinate" | "single";
  /** For `single`: what the caller lacks for subordinate ids. */
  why?: string;
}

/**
 * The `unshare` command line for a build as this user, or the refusal naming what is missing: no user
 * namespaces in this kernel, or no `unshare`.
 */
export async function namespaceCommand(
  command: string,
  run: readonly string[],
  ids: { uid: number; gid: number },
  searchPath: string,
): Promise<Namespace> {
  // loaded here, not with `needsNamespace`, which main.ts runs for every command (and root never needs this)
  const { subordinateIds, userNamespaceFailure, userNamespaceForbidden } = await import(
    "../runtime/userns.ts"
  );
  const forbidden = await userNamespaceForbidden();
  if (forbidden !== undefined) {
    throw new BerthError(
      "RUNTIME_FAILED",
      `berth ${command} without root needs a user namespace, but ${forbidden.replace(/, so berth cannot run containers rootless$/, "")}`,
      {
        hint: "as root: sysctl -w kernel.unprivileged_userns_clone=1 and sysctl -w user.max_user_namespaces=15000, or run berth as root",
      },
    );
  }
  const unshare = await which("unshare", searchPath);
  if (!unshare) {
    throw new BerthError(
      "RUNTIME_FAILED",
      `berth ${command} without root runs in a user namespace made by util-linux's unshare, which is not on PATH`,
      { hint: "install util-linux (Debian: util-linux), or run berth as root" },
    );
  }
  const name = (() => {
    try {
      return userInfo().username;
    } catch {
      return undefined;
    }
  })();
  const sub = await subordinateIds(name, ids.uid, ids.gid, searchPath);
  const maps = sub
    ? [
        `--map-users=${sub.uids.start},1,${sub.uids.count}`,
        `--map-groups=${sub.gids.start},1,${sub.gids.count}`,
      ]
    : [];
  const base = [unshare, "--user", "--mount", "--map-root-user", ...maps];
  // A trial first: a kernel limit or security module refusing the namespace, or newuidmap refusing the
  // ranges, is one sentence, not unshare's words mixed into the build's output.
  const { execFile } = await childProcess();
  const trial = await new Promise<{ code: number | null; stderr: string }>((done) => {
    execFile(base[0]!, [...base.slice(1), "--", "true"], { timeout: 30_000 }, (err, _out, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }),
    );
  });
  if (trial.code !== 0) {
    const text = trial.stderr.trim();
    const kernel = userNamespaceFailure([text.replace(/unshare failed/i, "unshare user namespace")]);
    if (kernel) {
      throw new BerthError(
        "RUNTIME_FAILED",
        kernel.message.replace(
          /berth cannot run (this container|containers) rootless/,
          `berth ${command} cannot run without root`,
        ),
        {
          hint: kernel.hint || undefined,
          details: { unshare: text },
        },
      );
    }
    throw new BerthError(
      "RUNTIME_FAILED",
      `berth ${command} without root could not make its user namespace${sub ? " with your subordinate ids" : ""}: ${text || `unshare exited with ${trial.code}`}`,
      {
        hint: sub
          ? "check your /etc/subuid and /etc/subgid ranges and that newuidmap/newgidmap are setuid root (Debian: uidmap), or run berth as root"
          : "run berth as root",
      },
    );
  }
  return {
    argv: [...base, "--", ...run],
    mapping: sub ? "subordinate" : "single",
    ...(sub ? {} : { why: (await whySingle(name, ids.uid, searchPath)) || "no usable subordinate ids" }),
  };
}

/** What the caller lacks for subordinate ids, for the hint of a build that ran with only its own id. */
async function whySingle(name: string | undefined, uid: number, searchPath: string): Promise<string> {
  const missing: string[] = [];
  if (!(await which("newuidmap", searchPath)) || !(await which("newgidmap", searchPath)))
    missing.push("newuidmap/newgidmap are not on PATH (Debian: apt install uidmap)");
  const subuid = await readFile("/etc/subuid", "utf8").catch(() => "");
  if (!subuid.split("\n").some((l) => l.split(":")[0] === name || l.split(":")[0] === String(uid)))
    missing.push(`/etc/subuid gives ${name ?? uid} no range`);
  const subgid = await readFile("/etc/subgid", "utf8").catch(() => "");
  if (!subgid.split("\n").some((l) => l.split(":")[0] === name || l.split(":")[0] === String(uid)))
    missing.push(`/etc/subgid gives ${name ?? uid} no range`);
  return missing.join(" and ");
}

/**
 * Run `argv` (berth again, in the namespace) with this process's stdio, forwarding the signals a caller
 * sends this process (a terminal's Ctrl-C reaches both: the child acts on it, this process waits); resolves
 * with the exit code (128+n for a signal, as a shell reports it).
 */
export async function runInNamespace(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  signals: {
    on: (s: NodeJS.Signals, f: () => void) => void;
    off: (s: NodeJS.Signals, f: () => void) => void;
  },
): Promise<number> {
  const { spawn } = await childProcess();
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: "inherit", env });
    const forwarded: [NodeJS.Signals, () => void][] = (["SIGTERM", "SIGHUP", "SIGQUIT"] as const).map((s) => [
      s,
      () => child.kill(s),
    ]);
    // SIGINT comes from the terminal to the whole group (the child gets it too), or from kill: forward once
    const onInt = () => undefined;
    for (const [s, f] of forwarded) signals.on(s, f);
    signals.on("SIGINT", onInt);
    const end = () => {
      for (const [s, f] of forwarded) signals.off(s, f);
      signals.off("SIGINT", onInt);
    };
    child.on("error", (err) => {
      end();
      fail(err);
    });
    child.on("exit", (code, signal) => {
      end();
      const numbers: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGQUIT: 3, SIGKILL: 9 };
      done(code ?? 128 + (signal ? (numbers[signal] ?? 1) : 1));
    });
  });
}
