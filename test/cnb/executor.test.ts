/**
 * executor.ts: host and run paths, the layers directory as a confined tree, the host executor's one result
 * shape, and reading a file of an image's root from its layer directories, and through the sandbox executor
 * (with runc) as its containers see it. (The sandbox executor's phases run in test/cnb/build.test.ts and the
 * CLI tests.)
 */
import { chmod, lstat, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type CnbPaths,
  CONTAINER_PATHS,
  type Executor,
  hostExecutor,
  layersTree,
  makeOwnedDir,
  readImageFile,
  sandboxExecutor,
  toRunPath,
} from "../../src/cnb/executor.ts";
import { run } from "../helpers/exec.ts";
import { layoutImage } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";
import { tarStreamOf } from "../layer/helpers.ts";
import { makeBuildImage, phasePaths } from "./helpers.ts";

let dir: string;
let paths: CnbPaths;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-exec-");
  paths = await phasePaths(dir, "buildpacks");
});

/** The sandbox executor's paths without its runtime (toRunPath, layersTree and makeOwnedDir read only these). */
function sandboxPaths(owner?: { uid: number; gid: number }): Executor {
  const host = hostExecutor({ paths, ...(owner ? { owner } : {}) });
  return { ...host, kind: "sandbox", run: CONTAINER_PATHS };
}

describe("toRunPath", () => {
  it("maps a host path under a CNB directory to the container's, and leaves host paths alone on the host", () => {
    const e = sandboxPaths();
    expect(toRunPath(e, paths.layers)).toBe("/layers");
    expect(toRunPath(e, join(paths.layers, "a_b", "node"))).toBe("/layers/a_b/node");
    expect(toRunPath(e, join(paths.buildpacks, "a", "1", "bin", "build"))).toBe(
      "/cnb/buildpacks/a/1/bin/build",
    );
    expect(toRunPath(hostExecutor({ paths }), join(paths.layers, "x"))).toBe(join(paths.layers, "x"));
  });

  it("refuses a path under none of them, and a sibling whose name only starts like one", () => {
    const e = sandboxPaths();
    expect(() => toRunPath(e, "/etc/passwd")).toThrow(
      expect.objectContaining({ code: "INTERNAL", message: "/etc/passwd is not under a CNB directory" }),
    );
    expect(() => toRunPath(e, `${paths.layers}-other/x`)).toThrow(/is not under a CNB directory/);
  });
});

describe("layersTree and makeOwnedDir", () => {
  it("makes directories in the layers directory, owned by the buildpack user when root", async () => {
    const e = sandboxPaths({ uid: 1234, gid: 2345 });
    await makeOwnedDir(e, join(paths.layers, "a_b", "node"));
    const st = await lstat(join(paths.layers, "a_b", "node"));
    expect(st.isDirectory()).toBe(true);
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([1234, 2345]);
    await makeOwnedDir(e, join(dir, "elsewhere", "x"));
    expect((await lstat(join(dir, "elsewhere", "x"))).isDirectory()).toBe(true);
  });

  it("refuses a symlink a buildpack put in the way, naming it as the buildpack sees it", async () => {
    const outside = await tempDir("berth-cnb-exec-out-");
    await symlink(outside, join(paths.layers, "a_b"));
    const e = sandboxPaths();
    await expect(makeOwnedDir(e, join(paths.layers, "a_b", "node"))).rejects.toMatchObject({
      code: "UNSAFE_PATH",
      message: expect.stringMatching(/^the layers directory: \/layers\/a_b /),
      hint: "a buildpack replaced a directory of the platform's with a symlink",
    });
    expect(layersTree(e).shown("a_b")).toBe("/layers/a_b");
  });
});

describe("hostExecutor", () => {
  it("runs with exactly the given environment and working directory, keeping output tails and streaming them", async () => {
    const e = hostExecutor({ paths });
    const streamed: string[] = [];
    const r = await e.exec({
      args: ["/bin/sh", "-c", 'echo "$A|$HOME|$(pwd)"; echo err >&2; exit 3'],
      env: ["A=1=2", "PATH=/usr/bin:/bin", "BROKEN"],
      cwd: paths.app,
      onStdout: (c) => streamed.push(c.toString()),
    });
    expect(r).toEqual({
      exitCode: 3,
      signal: undefined,
      stdoutTail: `1=2||${paths.app}\n`,
      stderrTail: "err\n",
      command: ["/bin/sh", "-c", 'echo "$A|$HOME|$(pwd)"; echo err >&2; exit 3'],
    });
    expect(streamed.join("")).toBe(r.stdoutTail);
  });

  it("keeps only the last 16 KiB of output", async () => {
    const r = await hostExecutor({ paths }).exec({
      args: ["/bin/sh", "-c", "head -c 20000 /dev/zero | tr '\\0' a; printf END"],
      env: ["PATH=/usr/bin:/bin"],
      cwd: dir,
    });
    expect(r.stdoutTail).toHaveLength(16 * 1024);
    expect(r.stdoutTail.endsWith("aEND")).toBe(true);
  });

  it("answers 127 for a missing program and 126 for one that is not executable, as a shell does", async () => {
    const e = hostExecutor({ paths });
    const missing = await e.exec({ args: [join(dir, "none")], env: [], cwd: dir });
    expect(missing).toMatchObject({ exitCode: 127, signal: undefined });
    expect(missing.stderrTail).toMatch(/ENOENT/);
    await writeFile(join(dir, "bin-build"), "#!/bin/sh\n");
    await chmod(join(dir, "bin-build"), 0o644);
    const notExec = await e.exec({ args: [join(dir, "bin-build")], env: [], cwd: dir });
    expect(notExec.exitCode).toBe(126);
  });

  it("reports the signal that ended the process and 128 + its number as the exit code, and rejects with the abort reason when aborted", async () => {
    const e = hostExecutor({ paths });
    const r = await e.exec({ args: ["/bin/sh", "-c", "kill -TERM $$"], env: [], cwd: dir });
    expect(r).toMatchObject({ exitCode: 143, signal: "SIGTERM" });
    const ac = new AbortController();
    const p = e.exec({ args: ["/bin/sleep", "10"], env: [], cwd: dir, signal: ac.signal });
    ac.abort(new Error("build cancelled"));
    await expect(p).rejects.toThrow("build cancelled");
  });

  it("reads a file of this machine's root, undefined when absent", async () => {
    await writeFile(join(dir, "os-release"), "ID=x\n");
    const e = hostExecutor({ paths });
    expect(await e.readRootFile(join(dir, "os-release"))).toBe("ID=x\n");
    expect(await e.readRootFile(join(dir, "none"))).toBeUndefined();
  });
});

describe("readImageFile", () => {
  it("takes the top-most layer's file, lets a file hide a lower directory, never climbs above the image's root", async () => {
    const [top, low] = [join(dir, "l1"), join(dir, "l0")];
    await mkdir(join(low, "etc", "conf.d"), { recursive: true });
    await mkdir(join(low, "usr", "lib"), { recursive: true });
    await writeFile(join(low, "etc", "os-release"), "low\n");
    await writeFile(join(low, "etc", "conf.d", "x"), "x\n");
    await writeFile(join(low, "usr", "lib", "os-release"), "usr\n");
    await mkdir(join(top, "etc"), { recursive: true });
    await writeFile(join(top, "etc", "os-release"), "top\n");
    await writeFile(join(top, "etc", "conf.d"), "a file now\n");
    await symlink("../../../../../usr/lib/os-release", join(top, "etc", "climb"));
    const dirs = [top, low];
    expect(await readImageFile(dirs, "/etc/os-release", "img")).toBe("top\n");
    expect(await readImageFile(dirs, "/etc/conf.d/x", "img")).toBeUndefined();
    expect(await readImageFile(dirs, "/etc/climb", "img")).toBe("usr\n");
    expect(await readImageFile(dirs, "/../../etc/os-release", "img")).toBe("top\n");
  });

  it("stops merging a directory at a layer where it is a file", async () => {
    const [top, mid, low] = [join(dir, "t"), join(dir, "m"), join(dir, "l")];
    await mkdir(join(top, "etc", "d"), { recursive: true });
    await mkdir(join(mid, "etc"), { recursive: true });
    await writeFile(join(mid, "etc", "d"), "file\n");
    await mkdir(join(low, "etc", "d"), { recursive: true });
    await writeFile(join(low, "etc", "d", "x"), "hidden\n");
    expect(await readImageFile([top, mid, low], "/etc/d/x", "img")).toBeUndefined();
    expect(await readImageFile([top, low], "/etc/d/x", "img")).toBe("hidden\n");
  });

  it("refuses a symlink loop, naming the image and the link", async () => {
    const l = join(dir, "loop");
    await mkdir(join(l, "etc"), { recursive: true });
    await symlink("b", join(l, "etc", "a"));
    await symlink("a", join(l, "etc", "b"));
    await expect(readImageFile([l], "/etc/a", "the build image b")).rejects.toMatchObject({
      code: "UNSAFE_PATH",
      message: expect.stringMatching(/^the build image b: \/etc\/[ab] goes through too many symlinks$/),
    });
  });
});

describe("the sandbox executor's readRootFile", () => {
  it("reads the build image's root as its containers see it: a directory made opaque by an upper layer, or by a command in the shared upper dir, hides the lower layers' files", async () => {
    const home = join(dir, "home");
    const layout = join(dir, "layout");
    await makeBuildImage(dir, `oci:${layout}:build`, home);
    // An upper layer that replaced /etc (a whiteout, then the new /etc): applied through an overlay of the
    // layers below, its snapshot's /etc is an opaque directory that hides the base layer's /etc/os-release.
    const tar = join(dir, "opaque-etc.tar");
    await writeFile(
      tar,
      await tarStreamOf([
        { name: ".wh.etc", content: "" },
        { name: "etc/", type: "directory" },
        { name: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\n" },
        { name: "opt/", type: "directory" },
        { name: "opt/x/", type: "directory" },
        { name: "opt/x/file", content: "from the image\n" },
      ]),
    );
    await run("umoci", ["raw", "add-layer", "--image", `${layout}:build`, tar]);
    const e = await sandboxExecutor({
      runtime: { home },
      image: await layoutImage(layout, "build"),
      imageName: "build",
      paths,
      owner: { uid: 0, gid: 0 },
      upperDir: join(dir, "upper"),
      network: "none",
    });
    expect(await e.readRootFile("/etc/os-release")).toBeUndefined();
    expect(await e.readRootFile("/etc/passwd")).toBe("root:x:0:0:root:/root:/bin/sh\n");
    expect(await e.readRootFile("/opt/x/file")).toBe("from the image\n");
    // The container sees the same.
    const seen = await e.exec({
      args: ["/bin/sh", "-c", "ls /etc; cat /opt/x/file; rm -r /opt; mkdir /opt; echo new > /opt/y"],
      env: ["PATH=/bin"],
      cwd: "/",
    });
    expect(seen).toMatchObject({ exitCode: 0, stdoutTail: "passwd\nfrom the image\n" });
    // The command's /opt, opaque in the upper dir the phases share, hides the image's.
    expect(await e.readRootFile("/opt/x/file")).toBeUndefined();
    expect(await e.readRootFile("/opt/y")).toBe("new\n");
    expect(await e.readRootFile("/etc/passwd")).toBe("root:x:0:0:root:/root:/bin/sh\n");
  }, 120_000);
});
