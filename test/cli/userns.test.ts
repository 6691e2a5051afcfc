/**
 * src/cli/userns.ts: which commands run again in a user namespace, the `unshare` command line made for them
 * (with the real util-linux unshare; fakes that fail only to inject its failures), and how the rerun's exit
 * and signals are passed on.
 */
import { EventEmitter } from "node:events";
import { chmod, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { namespaceCommand, needsNamespace, runInNamespace } from "../../src/cli/userns.ts";
import { BerthError } from "../../src/errors.ts";
import { tempDir } from "../helpers/temp.ts";

describe("needsNamespace", () => {
  it("is true for a build, detect or system run by a user other than root", () => {
    expect(needsNamespace("build", ["build", "."], 1000)).toBe(true);
    expect(needsNamespace("detect", ["detect", "."], 1000)).toBe(true);
    expect(needsNamespace("system", ["system", "df"], 1000)).toBe(true);
  });

  it("is false for root, for other commands and for no command", () => {
    expect(needsNamespace("build", ["build", "."], 0)).toBe(false);
    expect(needsNamespace("copy", ["copy", "a", "b"], 1000)).toBe(false);
    expect(needsNamespace(undefined, ["--version"], 1000)).toBe(false);
  });

  it("is false when help is asked", () => {
    expect(needsNamespace("build", ["build", "--help"], 1000)).toBe(false);
    expect(needsNamespace("system", ["system", "-h"], 1000)).toBe(false);
  });

  it("is false for a build with --isolation host in either spelling, and only for a build", () => {
    expect(needsNamespace("build", ["build", "--isolation", "host", "."], 1000)).toBe(false);
    expect(needsNamespace("build", ["build", "--isolation=host", "."], 1000)).toBe(false);
    expect(needsNamespace("build", ["build", "--isolation", "default", "."], 1000)).toBe(true);
    expect(needsNamespace("detect", ["detect", "--isolation=host", "."], 1000)).toBe(true);
  });
});

async function fakeUnshare(script: string): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, "unshare"), `#!/bin/sh\n${script}\n`);
  await chmod(join(dir, "unshare"), 0o755);
  return dir;
}

async function refusal(p: Promise<unknown>): Promise<BerthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  return err as BerthError;
}

describe("namespaceCommand", () => {
  const ids = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 };

  it("refuses, naming util-linux, when no unshare is on PATH", async () => {
    const empty = await tempDir();
    const err = await refusal(namespaceCommand("build", ["berth", "build"], ids, empty));
    expect(err.code).toBe("RUNTIME_FAILED");
    expect(err.message).toBe(
      "berth build without root runs in a user namespace made by util-linux's unshare, which is not on PATH",
    );
    expect(err.hint).toBe("install util-linux (Debian: util-linux), or run berth as root");
  });

  it("wraps the command in the real unshare, with only the caller's id when no newuidmap is on PATH", async () => {
    const dir = await tempDir();
    await symlink("/usr/bin/unshare", join(dir, "unshare"));
    const ns = await namespaceCommand("build", ["berth", "build", "."], ids, dir);
    expect(ns.argv).toEqual([
      join(dir, "unshare"),
      "--user",
      "--mount",
      "--map-root-user",
      "--",
      "berth",
      "build",
      ".",
    ]);
    expect(ns.mapping).toBe("single");
    expect(ns.why).toContain("newuidmap/newgidmap are not on PATH (Debian: apt install uidmap)");
  });

  it("says the kernel refused the namespace in berth's words when unshare reports so", async () => {
    const dir = await fakeUnshare('echo "unshare: unshare failed: Operation not permitted" >&2; exit 1');
    const err = await refusal(namespaceCommand("detect", ["berth", "detect"], ids, dir));
    expect(err.code).toBe("RUNTIME_FAILED");
    expect(err.message).toContain("berth detect cannot run without root");
    expect(err.message).not.toContain("rootless");
    expect(err.details.unshare).toBe("unshare: unshare failed: Operation not permitted");
  });

  it("gives unshare's own words, or its exit code, for any other failure", async () => {
    const words = await fakeUnshare('echo "unshare: bad option" >&2; exit 1');
    const err = await refusal(namespaceCommand("system", ["berth", "system", "df"], ids, words));
    expect(err.message).toBe(
      "berth system without root could not make its user namespace: unshare: bad option",
    );
    const silent = await fakeUnshare("exit 3");
    const quiet = await refusal(namespaceCommand("build", ["berth", "build"], ids, silent));
    expect(quiet.message).toBe(
      "berth build without root could not make its user namespace: unshare exited with 3",
    );
    expect(quiet.hint).toBe("run berth as root");
  });
});

describe("runInNamespace", () => {
  it("resolves with the command's exit code", async () => {
    const signals = new EventEmitter();
    expect(await runInNamespace(["/bin/sh", "-c", "exit 3"], { PATH: "/usr/bin:/bin" }, signals)).toBe(3);
    expect(await runInNamespace(["/bin/sh", "-c", "true"], {}, signals)).toBe(0);
  });

  it("passes the environment it is given", async () => {
    const code = await runInNamespace(
      ["/bin/sh", "-c", 'test "$BERTH_USERNS" = single'],
      { BERTH_USERNS: "single" },
      new EventEmitter(),
    );
    expect(code).toBe(0);
  });

  it("forwards SIGTERM to the command, reports 128+15, and stops listening when it ends", async () => {
    const signals = new EventEmitter();
    const running = runInNamespace(["/bin/sleep", "30"], {}, signals);
    while (signals.listenerCount("SIGTERM") === 0) await new Promise((r) => setTimeout(r, 5));
    // the child is spawned by now: the listener is added in the same tick as the spawn
    await new Promise((r) => setTimeout(r, 50));
    signals.emit("SIGTERM");
    expect(await running).toBe(143);
    for (const s of ["SIGTERM", "SIGHUP", "SIGQUIT", "SIGINT"]) expect(signals.listenerCount(s)).toBe(0);
  });

  it("does not pass SIGINT on (the terminal sent it to the command too)", async () => {
    const signals = new EventEmitter();
    const running = runInNamespace(["/bin/sh", "-c", "sleep 0.3; exit 5"], {}, signals);
    await new Promise((r) => setTimeout(r, 50));
    signals.emit("SIGINT");
    expect(await running).toBe(5);
  });

  it("rejects when the command cannot be started", async () => {
    const dir = await tempDir();
    const err = await runInNamespace([join(dir, "absent")], {}, new EventEmitter()).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toBe("ENOENT");
  });
});
