/**
 * What `run` works out before a container starts: the environment, --security-opt, rootless ids and the image
 * opened by the pull policy (src/api/run.ts; containers themselves: test/api/library.test.ts, test/runtime/).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostOf } from "../../src/api/host.ts";
import { environment, openRunImage, rootlessIds, seccompOff } from "../../src/api/run.ts";
import { failure, failureOf } from "../dockerfile/helpers/failure.ts";
import { handImages } from "../dockerfile/helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";

describe("environment", () => {
  it("--env-file lines then -e items, KEY alone taken from the host's environment", async () => {
    const cwd = await tempDir();
    await writeFile(
      join(cwd, "a.env"),
      '\uFEFF# comment\n\n  A=1\nQUOTED="x y"\r\nFROM_HOST\nUNSET\nEMPTY=\n',
    );
    await writeFile(join(cwd, "b.env"), "A=2\n");
    const host = { cwd, env: { FROM_HOST: "h", B: "from host" } };
    expect(await environment(host, ["a.env", "b.env"], ["A=3", "B", "NOPE"])).toEqual([
      "A=1",
      'QUOTED="x y"',
      "FROM_HOST=h",
      "EMPTY=",
      "A=2",
      "A=3",
      "B=from host",
      "NOPE",
    ]);
    expect(await environment(host, [], { X: "1", Y: "a=b" })).toEqual(["X=1", "Y=a=b"]);
  });

  it("names the file and line at fault", async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, "bad.env"), "OK=1\n=value\n");
    await writeFile(join(cwd, "space.env"), "MY VAR=1\n");
    const host = { cwd, env: {} };
    expect(await failureOf(environment(host, ["bad.env"], []))).toEqual({
      code: "USAGE",
      message: 'bad.env line 2: no variable name before "="',
    });
    expect(await failureOf(environment(host, ["space.env"], []))).toEqual({
      code: "USAGE",
      message: 'space.env line 1: the variable name "MY VAR" contains whitespace',
      hint: "write one VAR=VALUE a line (values are taken as they are, quotes included)",
    });
    expect(await failureOf(environment(host, ["missing.env"], []))).toEqual({
      code: "USAGE",
      message: "--env-file missing.env: no such file",
    });
  });
});

describe("seccompOff and rootlessIds", () => {
  it("takes only seccomp=unconfined", () => {
    expect(seccompOff([])).toBe(false);
    expect(seccompOff(["seccomp=unconfined", "seccomp:unconfined"])).toBe(true);
    expect(failure(() => seccompOff(["apparmor=unconfined"]))).toEqual({
      code: "USAGE",
      message: '--security-opt "apparmor=unconfined" is not supported (only seccomp=unconfined)',
    });
  });

  it("rootless only when not root", () => {
    expect(rootlessIds({ uid: 0, gid: 0 })).toBeUndefined();
    expect(rootlessIds({ uid: 1000, gid: 100 })).toEqual({ uid: 1000, gid: 100 });
  });
});

describe("openRunImage", () => {
  it("reads an OCI layout in place; a store image with --pull never must be there", async () => {
    const dir = await tempDir();
    const [image] = await handImages(join(dir, "layout"), [[{ path: "f", content: "x" }]]);
    const lines: string[] = [];
    const host = hostOf({ home: join(dir, "home"), logger: { info: (l) => lines.push(l) } });
    const opened = await openRunImage(host, `oci:${join(dir, "layout")}:1`, undefined, "never");
    try {
      expect([opened.image.digest, opened.name]).toEqual([image!.digest, `oci:${join(dir, "layout")}:1`]);
    } finally {
      await opened.close();
    }
    // docker:// means the store, as for docker run
    expect(await failureOf(openRunImage(host, "docker://127.0.0.1:1/absent:1", undefined, "never"))).toEqual({
      code: "IMAGE_NOT_FOUND",
      message: "no image 127.0.0.1:1/absent:1 in the local store (--pull never)",
      hint: "pull it first: berth pull 127.0.0.1:1/absent:1",
    });
    expect(lines).toEqual([]);
  });
});
