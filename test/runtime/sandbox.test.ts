/** The sandbox API builds use: one result shape, a kept upper dir, and the changes as a layer. */
import { createReadStream, lstatSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { readTar } from "../../src/layer/index.ts";
import { decompress } from "../../src/oci/compression.ts";
import { loadRoot, selectImage } from "../../src/oci/image.ts";
import {
  captureChanges,
  dirIdentity,
  prepareSnapshots,
  runInSandbox,
  upperXattrReader,
} from "../../src/runtime/index.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { busyboxImage, removeCgroupParent, rootRecordingRunc } from "./helpers.ts";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-sandbox-");
  await busyboxImage(join(dir, "layout"), "b", { env: ["FROM_IMAGE=1"] }, [
    [
      { path: "etc/old", content: "old" },
      { path: "gone/x", content: "x" },
    ],
  ]);
});

it("runs a command over a snapshot chain + upper dir, and turns the changes into a layer", async () => {
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout")}:b`), { home: dir, env: {} });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const home = join(dir, "home");
  const chain = await prepareSnapshots({ home }, image);
  const upperDir = join(dir, "upper");
  const src = join(dir, "src");
  await mkdir(src);
  await writeFile(join(src, "input"), "from a mount\n");
  const chunks: string[] = [];
  const ok = await runInSandbox({
    home,
    image,
    chain,
    upperDir,
    args: [
      "sh",
      "-c",
      "echo $FROM_IMAGE $STEP $(id -u) $(pwd); cat /src/input > /workspace/out; rm /etc/old; rm -r /gone; mkdir -p /gone; touch /gone/new",
    ],
    env: ["STEP=build"],
    user: "0:0",
    cwd: "/workspace",
    volumes: [{ source: src, destination: "/src", readonly: true }],
    network: "none",
    onStdout: (c) => chunks.push(c.toString()),
  });
  expect(ok).toMatchObject({
    exitCode: 0,
    signal: undefined,
    stdoutTail: "1 build 0 /workspace\n",
    stderrTail: "",
  });
  expect(ok.command[0]).toBe("sh");
  expect(chunks.join("")).toBe(ok.stdoutTail);
  expect(ok.applied).toBe(0);
  // "src" is the mount point runc made for the volume (an empty dir).
  expect(readdirSync(upperDir).sort()).toEqual(["etc", "gone", "src", "workspace"]);
  const layerFile = join(dir, "changes.tar.gz");
  const layer = await captureChanges(upperDir, layerFile);
  const names: string[] = [];
  for await (const e of readTar(await decompress(createReadStream(layerFile)))) names.push(e.header.path);
  expect(names).toContain("etc/.wh.old");
  expect(names).toContain("gone/.wh..wh..opq");
  expect(names).toContain("gone/new");
  expect(names).toContain("workspace/out");
  expect(layer.diffId).toMatch(/^sha256:/);

  // A failing command has the same shape.
  const bad = await runInSandbox({
    home,
    chain,
    image,
    upperDir: join(dir, "upper2"),
    args: ["sh", "-c", "echo oops >&2; exit 9"],
  });
  expect(bad).toMatchObject({
    exitCode: 9,
    signal: undefined,
    stdoutTail: "",
    stderrTail: "oops\n",
    command: ["sh", "-c", "echo oops >&2; exit 9"],
  });
  // Aborting kills it.
  const ac = new AbortController();
  const p = runInSandbox({
    home,
    chain,
    image,
    upperDir: join(dir, "upper3"),
    args: ["sh", "-c", "echo started; sleep 100"],
    signal: ac.signal,
    onStdout: () => ac.abort(new Error("stop")),
  });
  await expect(p).rejects.toThrow("stop");
  expect(readdirSync(join(home, "run", "containers"))).toEqual([]);
  expect(readdirSync(join(home, "run", "state"))).toEqual([]);
});

it("rlimits are the command's process limits; a cgroup parent puts it in PARENT/buildkit/ID, BuildKit's path", async () => {
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout")}:b`), { home: dir, env: {} });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const parent = `berth-test-${process.pid}-sandbox`;
  onTestFinished(() => removeCgroupParent(parent));
  const r = await runInSandbox({
    home: join(dir, "home"),
    image,
    upperDir: join(dir, "upper-limits"),
    args: [
      "sh",
      "-c",
      "grep -E 'open files|core file' /proc/self/limits; grep -E ':(memory|pids):' /proc/self/cgroup",
    ],
    network: "none",
    rlimits: [
      { type: "RLIMIT_CORE", soft: -1, hard: -1 },
      { type: "RLIMIT_NOFILE", soft: 321, hard: 654 },
    ],
    cgroupParent: parent,
  });
  expect(r.exitCode).toBe(0);
  const [core, nofile, ...cgroups] = r.stdoutTail.trim().split("\n");
  expect(core!.split(/\s{2,}/).slice(1, 3)).toEqual(["unlimited", "unlimited"]);
  expect(nofile!.split(/\s{2,}/).slice(1, 3)).toEqual(["321", "654"]);
  expect(cgroups.length).toBeGreaterThan(0);
  for (const line of cgroups)
    expect(line).toMatch(new RegExp(`^\\d+:\\w+:/${parent}/buildkit/berth-[0-9a-f]+$`));
});

it("mounts the root volatile: its upper dir is dropped after the step, so unmounting it syncs no filesystem", async () => {
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout")}:b`), { home: dir, env: {} });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const r = await runInSandbox({
    home: join(dir, "home-sync"),
    image,
    upperDir: join(dir, "upper-sync"),
    args: ["sh", "-c", "grep ' / / ' /proc/self/mountinfo"],
    network: "none",
  });
  expect(r.exitCode).toBe(0);
  // The kernel lists the option as `volatile`, or `fsync=volatile` since 6.x.
  expect(r.stdoutTail).toMatch(/ overlay overlay \S*,(fsync=)?volatile(,|\s)/);
});

it("runc mounts the root in the container's namespace: nothing is mounted on the host while the command runs", async () => {
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout")}:b`), { home: dir, env: {} });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const home = join(dir, "home-ns");
  // The host's mounts under this home, read while the command runs (it waits for its stdin to close).
  const hostMounts = async (mountRoot: "host" | undefined) => {
    let seen: string[] = [];
    const r = await runInSandbox({
      home,
      image,
      upperDir: join(dir, `upper-ns-${mountRoot ?? "runtime"}`),
      args: ["sh", "-c", "echo started; id -G; echo $HOME"],
      user: "app",
      network: "none",
      ...(mountRoot ? { mountRoot } : {}),
      onStdout: () => {
        seen = readFileSync("/proc/self/mountinfo", "utf8")
          .split("\n")
          .filter((l) => l.includes(home));
      },
    });
    expect(r.exitCode).toBe(0);
    return { seen, out: r.stdoutTail };
  };
  const byRuntime = await hostMounts(undefined);
  const byHost = await hostMounts("host");
  expect(byRuntime.seen).toEqual([]);
  expect(byHost.seen).toHaveLength(1);
  // The same user either way: app's groups and HOME from the image's /etc files.
  expect(byRuntime.out).toBe("started\n1000 10 50\n/home/app\n");
  expect(byHost.out).toBe(byRuntime.out);
});

it("mounts a chain too long for absolute paths in a page of mount options itself (paths relative to the snapshots), and the command sees every layer", async () => {
  await busyboxImage(join(dir, "layout-long"), "l", {}, [
    [{ path: "l1", content: "1" }],
    [{ path: "l2", content: "2" }],
    [{ path: "l3", content: "3" }],
  ]);
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout-long")}:l`), {
    home: dir,
    env: {},
  });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const runc = await rootRecordingRunc(dir);
  // The host's mounts under `home` while the command runs, and who mounted the root (the runc wrapper's log).
  const runIn = async (home: string) => {
    await rm(runc.roots, { force: true });
    let seen: string[] = [];
    const r = await runInSandbox({
      home,
      image,
      runtime: runc.path,
      upperDir: join(home, "upper"),
      args: ["sh", "-c", "cat /l1 /l2 /l3; test -x /bin/busybox && echo base"],
      network: "none",
      onStdout: () => {
        seen = readFileSync("/proc/self/mountinfo", "utf8")
          .split("\n")
          .filter((l) => l.includes(home));
      },
    });
    return {
      exitCode: r.exitCode,
      out: r.stdoutTail,
      seen: seen.length,
      roots: readFileSync(runc.roots, "utf8"),
    };
  };
  // Four snapshots under a home 700 characters deep, and the upper dir: some 4000 bytes of absolute paths.
  const long = join(dir, ...["h", "i", "j"].map((c) => c.repeat(230)));
  expect(await runIn(long)).toEqual({ exitCode: 0, out: "123base\n", seen: 1, roots: "host\n" });
  // The same image under a short home: runc mounts it.
  expect(await runIn(join(dir, "home-short"))).toEqual({
    exitCode: 0,
    out: "123base\n",
    seen: 0,
    roots: "runtime\n",
  });
}, 120_000);

it("etcAlways over a root without the /etc files: berth makes /etc (as the root has it) with the mount points, and knows it is not opaque; a directory made again is", async () => {
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout")}:b`), { home: dir, env: {} });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const upperDir = join(dir, "upper-etc");
  const r = await runInSandbox({
    home: join(dir, "home-etc"),
    image,
    upperDir,
    args: ["sh", "-c", "test -s /etc/hosts && test -s /etc/hostname && rm -r /gone && mkdir /gone /new"],
    network: "none",
    etcAlways: true,
  });
  expect(r.exitCode).toBe(0);
  expect([...(r.root.premade?.keys() ?? [])]).toEqual(["etc"]);
  expect(readdirSync(join(upperDir, "etc")).sort()).toEqual(["hostname", "hosts", "resolv.conf"]);
  const [upper, lower] = [lstatSync(join(upperDir, "etc")), lstatSync(join(r.root.lowerDirs[0]!, "etc"))];
  expect([upper.mode, upper.uid, upper.gid]).toEqual([lower.mode, lower.uid, lower.gid]);
  expect(Math.floor(upper.mtimeMs / 1000)).toBe(Math.floor(lower.mtimeMs / 1000));
  expect(Math.abs(upper.mtimeMs - lower.mtimeMs)).toBeLessThan(0.001);
  const read = (await upperXattrReader(upperDir, r.root.lowerDirs, r.root.premade))!;
  expect(await read(join(upperDir, "gone"))).toEqual({ "trusted.overlay.opaque": Buffer.from("y") });
  expect(await read(join(upperDir, "etc"))).toBeUndefined();
  expect(await read(join(upperDir, "new"))).toBeUndefined();
});

describe("upperXattrReader", () => {
  const opaque = { "trusted.overlay.opaque": Buffer.from("y") };
  /** A marker set by hand where overlayfs would never set one: seen only when a getfattr read the tree. */
  const mark = (p: string) => run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", p]);

  it("no getfattr when no directory of the upper dir is in a lower layer, or only untouched ones berth made", async () => {
    const base = await tempDir();
    const [upper, lower] = [join(base, "u"), join(base, "l")];
    for (const d of ["u/new/deeper", "u/etc/sub", "l/etc", "l/a"])
      await mkdir(join(base, d), { recursive: true });
    await writeFile(join(base, "u/a"), "a file over the lower dir");
    for (const d of ["new", "new/deeper", "etc", "etc/sub"]) await mark(join(upper, d));
    const premade = new Map([["etc", await dirIdentity(join(upper, "etc"))]]);
    const read = (await upperXattrReader(upper, [lower], premade))!;
    for (const d of ["new", "new/deeper", "etc", "etc/sub"])
      expect(await read(join(upper, d))).toBeUndefined();
    // /etc made again (another inode or birth): it may be opaque, the markers are read
    await rm(join(upper, "etc"), { recursive: true });
    await mkdir(join(upper, "etc"));
    await mark(join(upper, "etc"));
    const again = (await upperXattrReader(upper, [lower], premade))!;
    expect(await again(join(upper, "etc"))).toEqual(opaque);
    expect(await again(join(upper, "new"))).toEqual(opaque);
    // a directory a lower layer has, not made by berth: read
    await mkdir(join(upper, "x"));
    await mkdir(join(lower, "x"));
    await mark(join(upper, "x"));
    expect(await (await upperXattrReader(upper, [lower]))!(join(upper, "x"))).toEqual(opaque);
  });

  it("a lower layer's symlink is never followed out of it (a host directory there does not count)", async () => {
    const base = await tempDir();
    const host = join(base, "host");
    await mkdir(join(host, "sub"), { recursive: true });
    const [upper, top, bottom] = [join(base, "u"), join(base, "top"), join(base, "bottom")];
    await mkdir(join(upper, "etc/sub"), { recursive: true });
    await mkdir(join(top, "etc"), { recursive: true });
    await mkdir(bottom);
    // the bottom layer's /etc: a link to a host directory that has `sub`; the upper dir's etc/sub is new
    await symlink(host, join(bottom, "etc"));
    await mark(join(upper, "etc/sub"));
    const premade = new Map([["etc", await dirIdentity(join(upper, "etc"))]]);
    const read = (await upperXattrReader(upper, [top, bottom], premade))!;
    expect(await read(join(upper, "etc/sub"))).toBeUndefined();
    // and a link at the top-level: `sub` under it is not looked for through it
    await symlink(host, join(top, "lnk"));
    await mkdir(join(upper, "lnk/sub"), { recursive: true });
    await mark(join(upper, "lnk/sub"));
    const premade2 = new Map([...premade, ["lnk", await dirIdentity(join(upper, "lnk"))]]);
    expect(
      await (await upperXattrReader(upper, [top, bottom], premade2))!(join(upper, "lnk/sub")),
    ).toBeUndefined();
  });
});
