/**
 * src/cli/errno.ts: the sentence and hint the CLI prints for a failure, from real system errors (a missing
 * file, a refused connection) bare and wrapped in berth's own errors.
 */

import { chmod, lstat, mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explainErrno, renderError } from "../../src/cli/errno.ts";
import { BerthError } from "../../src/errors.ts";
import { tempDir } from "../helpers/temp.ts";

const HOME = "/home/u/.berth";

async function failure(p: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as NodeJS.ErrnoException,
  );
  if (!err) throw new Error("expected a failure");
  return err;
}

function refused(): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    // port 1 on loopback: nothing listens there, the kernel refuses at once
    const s = connect({ host: "127.0.0.1", port: 1 });
    s.on("error", (e) => resolve(e as NodeJS.ErrnoException));
  });
}

describe("explainErrno", () => {
  it("names the missing path of a real ENOENT, with a hint about relative paths", async () => {
    const dir = await tempDir();
    const e = await failure(lstat(join(dir, "absent")));
    expect(explainErrno(e, HOME)).toEqual({
      message: `no such file or folder: ${join(dir, "absent")}`,
      hint: "check the path (a relative one is taken from the current folder)",
    });
  });

  it("names the part of a path that is a file (ENOTDIR) and a folder read as a file (EISDIR)", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "x");
    const notDir = await failure(lstat(join(dir, "f", "below")));
    expect(explainErrno(notDir, HOME)?.message).toBe(
      `${join(dir, "f", "below")}: a part of it is a file, not a folder`,
    );
    const isDir = await failure(writeFile(dir, "x"));
    expect(explainErrno(isDir, HOME)).toEqual({
      message: `${dir} is a folder, where a file was expected`,
      hint: "name a file",
    });
  });

  it("says which operation was not permitted on which path (EACCES), when not root", async () => {
    if (process.geteuid?.() === 0) return; // root is permitted everything
    const dir = await tempDir();
    const locked = join(dir, "locked");
    await mkdir(locked);
    await chmod(locked, 0o500);
    const e = await failure(mkdir(join(locked, "sub")));
    expect(explainErrno(e, HOME)?.message).toBe(`not permitted to make the folder ${join(locked, "sub")}`);
  });

  it("puts the syscall's verb and the link's target in the sentence", () => {
    const e = Object.assign(new Error("EPERM"), {
      code: "EPERM",
      syscall: "symlink",
      path: "/a",
      dest: "/b",
    });
    expect(explainErrno(e, HOME)?.message).toBe("not permitted to make a link at /a (to /b)");
    const unknown = Object.assign(new Error("EACCES"), { code: "EACCES", syscall: "futimes" });
    expect(explainErrno(unknown, HOME)?.message).toBe("not permitted to futimes a file");
  });

  it("points a full disk at BERTH_HOME and says when a quota was reached", () => {
    const full = Object.assign(new Error("x"), { code: "ENOSPC", syscall: "write", path: "/s/blob" });
    expect(explainErrno(full, HOME)).toEqual({
      message: "no space left on the disk holding /s/blob",
      hint: `free space (berth store gc removes blobs no image uses), or point BERTH_HOME (${HOME}) at a larger disk`,
    });
    const quota = Object.assign(new Error("x"), { code: "EDQUOT", syscall: "write" });
    expect(explainErrno(quota, HOME)?.message).toBe("no space left on the disk (quota reached)");
  });

  it("names the host and port of a real refused connection", async () => {
    const e = await refused();
    expect(explainErrno(e, HOME)?.message).toBe(
      "the connection to 127.0.0.1:1 was refused: nothing listens there",
    );
  });

  it("tells a timeout, a reset and an unreachable network apart", () => {
    const at = { address: "10.0.0.1", port: 443, syscall: "connect" };
    const said = (code: string) =>
      explainErrno(Object.assign(new Error(code), { code, ...at }), HOME)?.message;
    expect(said("ETIMEDOUT")).toBe("10.0.0.1:443 did not answer in time");
    expect(said("ECONNRESET")).toBe("10.0.0.1:443 closed the connection");
    expect(said("ENETUNREACH")).toBe("10.0.0.1:443 cannot be reached from this machine");
  });

  it("names the host whose name did not resolve", () => {
    const e = Object.assign(new Error("x"), { code: "ENOTFOUND", hostname: "reg.invalid" });
    expect(explainErrno(e, HOME)?.message).toBe("cannot resolve the host name reg.invalid");
  });

  it("leaves an error it does not know to the caller", () => {
    const e = Object.assign(new Error("x"), { code: "EBADF", syscall: "read" });
    expect(explainErrno(e, HOME)).toBeUndefined();
  });
});

describe("renderError", () => {
  it("keeps berth's own sentence and hint when no system error is below it", () => {
    const err = new BerthError("USAGE", "--jobs must be a number", { hint: "give --jobs 4" });
    expect(renderError(err, HOME)).toEqual({ message: "--jobs must be a number", hint: "give --jobs 4" });
  });

  it("puts berth's steps before the system's sentence, cutting the raw errno text", async () => {
    const cause = await refused();
    const err = new BerthError("REGISTRY_UNREACHABLE", `reading docker://127.0.0.1:1/x:1: ${cause.message}`, {
      cause,
    });
    expect(renderError(err, HOME)).toEqual({
      message:
        "reading docker://127.0.0.1:1/x:1: the connection to 127.0.0.1:1 was refused: nothing listens there",
      hint: "check that the registry runs at that host and port (a plain-HTTP one needs --insecure-registry HOST)",
    });
  });

  it("finds the system error through several causes, and keeps berth's hint over the system's", async () => {
    const dir = await tempDir();
    const errno = await failure(lstat(join(dir, "gone")));
    const mid = new Error("wrapped", { cause: errno });
    const err = new BerthError("LAYOUT_INVALID", `opening the layout ${dir}: ENOENT: gone`, {
      cause: mid,
      hint: "make the layout first",
    });
    expect(renderError(err, HOME)).toEqual({
      message: `opening the layout ${dir}: no such file or folder: ${join(dir, "gone")}`,
      hint: "make the layout first",
    });
  });

  it("renders a bare system error as its sentence", async () => {
    const dir = await tempDir();
    const errno = await failure(lstat(join(dir, "gone")));
    expect(renderError(errno, HOME).message).toBe(`no such file or folder: ${join(dir, "gone")}`);
  });
});
