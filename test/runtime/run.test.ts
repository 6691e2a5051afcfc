/** `berth run` end to end: the real CLI, runc, images made by umoci and by berth. */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLayer } from "../../src/layer/index.ts";
import { mutate } from "../../src/oci/mutate.ts";
import { writeImage } from "../../src/transport/copy.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { APPLETS, BUSYBOX, busyboxImage, freePort, GROUP, PASSWD, readPublished } from "./helpers.ts";

const BIN = resolve(import.meta.dirname, "../../src/cli/bin.ts");
let dir: string;
let home: string;
let app: string;

beforeAll(async () => {
  dir = await tempDir("berth-run-");
  home = join(dir, "home");
  const layout = join(dir, "layout");
  await busyboxImage(layout, "app", {
    env: ["GREETING=hello", "PATH=/bin"],
    cmd: ["sh", "-c", 'echo "$GREETING from $(pwd) as $(id -u):$(id -g) home=$HOME"'],
    workdir: "/home/app",
  });
  await busyboxImage(layout, "ep", { entrypoint: ["echo", "ep"], cmd: ["default"] });
  await busyboxImage(layout, "user", { user: "app", cmd: ["id"] });
  await busyboxImage(layout, "ghost", { user: "ghost", cmd: ["id"] });
  app = `oci:${layout}:app`;
});

const rb = (args: string[], input?: string, env?: Record<string, string>) =>
  berth(["run", ...args], { home, input, env });

describe("output, env, cwd, user and exit code", () => {
  it("runs the image's Entrypoint + Cmd with its Env and WorkingDir (umoci image)", async () => {
    const r = await rb([app]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hello from /home/app as 0:0 home=/root\n");
    expect(r.code).toBe(0);
  });

  it("ARGs replace Cmd; -e, -w and stdin (-i)", async () => {
    const r = await rb(
      [
        "-i",
        "-e",
        "GREETING=bye",
        "-e",
        "EXTRA=1",
        "-w",
        "/tmp",
        app,
        "sh",
        "-c",
        'echo "$GREETING $EXTRA $(pwd)"; cat',
      ],
      "from stdin\n",
    );
    expect(r.stdout).toBe("bye 1 /tmp\nfrom stdin\n");
    expect(r.code).toBe(0);
  });

  it("exits with the container's code: 0, 1, 3", async () => {
    expect((await rb([app, "true"])).code).toBe(0);
    expect((await rb([app, "false"])).code).toBe(1);
    const r = await rb([app, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
  });

  it("127 for a command that does not exist in the image", async () => {
    const r = await rb([app, "no-such-command"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("no-such-command");
  });

  it("follows Docker's Entrypoint/Cmd rules, also with --entrypoint", async () => {
    const ep = app.replace(":app", ":ep");
    expect((await rb([ep])).stdout).toBe("ep default\n");
    expect((await rb([ep, "x", "y"])).stdout).toBe("ep x y\n");
    // --entrypoint resets Cmd…
    expect((await rb(["--entrypoint", "echo", ep])).stdout).toBe("\n");
    // …unless ARGs are given.
    expect((await rb(["--entrypoint", "echo", ep, "a", "b"])).stdout).toBe("a b\n");
  });

  it("--user by name (with the groups that list it), by number, the image's User; an unknown user is a clear error", async () => {
    let r = await rb(["--user", "app", app, "sh", "-c", "echo $(id -u) $(id -g) $HOME; id -G"]);
    const [first, groups] = r.stdout.trim().split("\n");
    expect(first).toBe("1000 1000 /home/app");
    expect(
      groups!
        .split(" ")
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([10, 50, 1000]);
    r = await rb(["--user", "1234:5678", app, "sh", "-c", "echo $(id -u) $(id -g)"]);
    expect(r.stdout).toBe("1234 5678\n");
    r = await rb(["--user", "app:wheel", app, "sh", "-c", "echo $(id -u) $(id -g)"]);
    expect(r.stdout).toBe("1000 10\n");
    r = await rb([app.replace(":app", ":user"), "id", "-u"]);
    expect(r.stdout).toBe("1000\n");
    r = await rb(["--user", "nosuch", app, "id"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`berth: user "nosuch" is not in /etc/passwd of ${app}`);
    r = await rb([app.replace(":app", ":ghost")]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('user "ghost" is not in /etc/passwd');
  });

  it("a missing image in the store is a clear error (--pull never)", async () => {
    const r = await rb(["--pull", "never", "no-such-image:1"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("no image no-such-image:1 in the local store (--pull never)");
  });

  it("no runtime on PATH: a clear error with an install hint", async () => {
    const r = await rb([app, "true"], undefined, { PATH: "/nonexistent" });
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("no OCI runtime found");
    expect(r.stderr).toContain("apt-get install runc");
  });
});

describe("volumes and network", () => {
  it("binds volumes read-write and read-only", async () => {
    const rw = join(dir, "vol-rw");
    const ro = join(dir, "vol-ro");
    await mkdir(rw);
    await mkdir(ro);
    await writeFile(join(ro, "in.txt"), "host data\n");
    const r = await rb([
      "-v",
      `${rw}:/rw`,
      "-v",
      `${ro}:/ro:ro`,
      app,
      "sh",
      "-c",
      "cat /ro/in.txt > /rw/out.txt; echo x > /ro/nope || echo refused",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("refused\n");
    expect(r.stderr).toContain("Read-only file system");
    expect(await readFile(join(rw, "out.txt"), "utf8")).toBe("host data\n");
    expect(existsSync(join(ro, "nope"))).toBe(false);
  });

  it("a server in the container is reachable on 127.0.0.1 through -p (a private network by default)", async () => {
    const port = await freePort();
    const args = [BIN, "run", "-p", `127.0.0.1:${port}:8080`, app, "sh", "-c", "echo served | nc -l -p 8080"];
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? "", BERTH_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const got = await readPublished(port);
    const code = await new Promise((res) => child.on("close", res));
    expect(got).toBe("served\n");
    expect(code).toBe(0);
  });

  it("--network none gives a new empty network namespace; --hostname", async () => {
    const r = await rb([
      "--network",
      "none",
      "--hostname",
      "boxy",
      app,
      "sh",
      "-c",
      "ls /sys/class/net; hostname; cat /etc/hostname",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("lo\nboxy\nboxy\n");
    const host = await rb(["--network", "host", app, "ls", "/sys/class/net"]);
    expect(host.stdout.split("\n").filter(Boolean).length).toBeGreaterThan(1);
    const own = await rb([app, "ls", "/sys/class/net"]);
    expect(own.stdout).toBe("lo\ntap0\n");
  });
});

describe("image volumes", () => {
  it("each of the image's Volumes is a new volume holding the image's files; -v for the same path wins", async () => {
    const layout = join(dir, "vol-layout");
    await busyboxImage(layout, "v", { volumes: ["/data", "/empty"] }, [
      [{ path: "data/seed", content: "from image\n" }],
    ]);
    const img = `oci:${layout}:v`;
    const h = join(dir, "home-vol");
    const script =
      "cat /data/seed; echo new > /data/new; grep -c ' /data ' /proc/mounts; grep -c ' /empty ' /proc/mounts; ls -A /empty";
    const r = await berth(["run", "--keep", img, "sh", "-c", script], { home: h });
    expect(r.stdout).toBe("from image\n1\n1\n");
    expect(r.code).toBe(0);
    const [kept] = readdirSync(join(h, "run", "containers"));
    const folder = join(h, "run", "containers", kept!);
    // The write went to the volume, not to the container's writable layer.
    expect(existsSync(join(folder, "upper", "data", "new"))).toBe(false);
    expect(await readFile(join(folder, "volumes", "0", "new"), "utf8")).toBe("new\n");

    const host = join(dir, "vol-host");
    await mkdir(host, { recursive: true });
    await writeFile(join(host, "x"), "host\n");
    const given = await berth(["run", "-v", `${host}:/data`, img, "sh", "-c", "cat /data/x; ls /data"], {
      home: h,
    });
    expect(given.stdout).toBe("host\nx\n");
  });
});

describe("seccomp", () => {
  it("refuses what Docker's default profile refuses (unshare); --security-opt seccomp=unconfined lifts it", async () => {
    const confined = await rb([app, "sh", "-c", "unshare -U true && echo created"]);
    expect(confined.stdout).toBe("");
    expect(confined.stderr).toContain("Operation not permitted");
    expect(confined.code).toBe(1);
    const free = await rb([
      "--security-opt",
      "seccomp=unconfined",
      app,
      "sh",
      "-c",
      "unshare -U true && echo created",
    ]);
    expect(free.stdout).toBe("created\n");
    expect(free.code).toBe(0);
    const other = await rb(["--security-opt", "apparmor=unconfined", app, "true"]);
    expect(other.code).toBe(125);
    expect(other.stderr).toContain('--security-opt "apparmor=unconfined" is not supported');
  });
});

describe("signals and kills", () => {
  it("forwards SIGTERM: a container trapping it sees it", async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        "run",
        app,
        "sh",
        "-c",
        'trap "echo got TERM; exit 42" TERM; echo ready; while true; do sleep 0.1; done',
      ],
      { env: { PATH: process.env.PATH ?? "", BERTH_HOME: home }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    await new Promise<void>((res) =>
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("ready")) res();
      }),
    );
    child.kill("SIGTERM");
    const code = await new Promise((res) => child.on("close", res));
    expect(out).toBe("ready\ngot TERM\n");
    expect(code).toBe(42);
  });

  it("exits 137 when the container is killed with SIGKILL, and leaves no state", async () => {
    const h = join(dir, "home-kill");
    const child = spawn(process.execPath, [BIN, "run", app, "sh", "-c", "echo up; exec sleep 1000"], {
      env: { PATH: process.env.PATH ?? "", BERTH_HOME: h },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((res) => child.stdout.on("data", () => res()));
    const state = join(h, "run", "state");
    const [id] = readdirSync(state);
    await run("runc", ["--root", state, "kill", id!, "KILL"]);
    const code = await new Promise((res) => child.on("close", res));
    expect(code).toBe(137);
    expect(readdirSync(state)).toEqual([]);
    expect(readdirSync(join(h, "run", "containers"))).toEqual([]);
  });
});

describe("containers left by a killed berth", () => {
  it("the next run sweeps them: the orphan is killed, its root unmounted, its folder and state removed; kept ones stay", async () => {
    const h = join(dir, "home-orphan");
    const kept = await berth(["run", "--keep", app, "true"], { home: h });
    expect(kept.code).toBe(0);
    const keptId = readdirSync(join(h, "run", "containers"));
    expect(keptId).toHaveLength(1);

    const child = spawn(process.execPath, [BIN, "run", app, "sh", "-c", "echo up; exec sleep 1000"], {
      env: { PATH: process.env.PATH ?? "", BERTH_HOME: h },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((res) => child.stdout.on("data", () => res()));
    const state = join(h, "run", "state");
    const [orphan] = readdirSync(state);
    const pid = JSON.parse(await readFile(join(state, orphan!, "state.json"), "utf8"))
      .init_process_pid as number;
    child.kill("SIGKILL"); // berth dies; runc and the container go on
    await new Promise((res) => child.on("close", res));
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(await readFile("/proc/self/mountinfo", "utf8")).toContain(join(h, "run", "containers", orphan!));

    const next = await berth(["run", app, "echo", "next"], { home: h });
    expect(next.stdout).toBe("next\n");
    expect(next.code).toBe(0);
    expect(readdirSync(state)).toEqual([]);
    expect(readdirSync(join(h, "run", "containers"))).toEqual(keptId);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(
      join(h, "run", "containers", orphan!),
    );
    const gone = async () =>
      !existsSync(`/proc/${pid}`) || (await readFile(`/proc/${pid}/stat`, "utf8")).includes(") Z");
    for (let i = 0; i < 50 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await gone()).toBe(true);
  });
});

describe("images from a registry", () => {
  let reg: RegistryHarness;
  let ref: string;
  beforeAll(async () => {
    reg = await startRegistry();
    ref = `${reg.host}/run/app:1`;
    const pushed = await berth(["copy", app, `docker://${ref}`], { home });
    expect(pushed.code).toBe(0);
  });
  afterAll(() => reg?.stop());

  it("a reference missing from the store is pulled into it and run; then runs from the store", async () => {
    const fresh = join(dir, "home-pull");
    const never = await berth(["run", "--pull", "never", ref], { home: fresh });
    expect(never.code).toBe(125);
    expect(never.stderr).toContain(`no image ${ref} in the local store (--pull never)`);

    const first = await berth(["run", ref], { home: fresh });
    expect(first.stderr).toContain(`no image ${ref} in the local store, pulling it`);
    expect(first.stdout).toBe("hello from /home/app as 0:0 home=/root\n");
    expect(first.code).toBe(0);

    await reg.markLog();
    const again = await berth(["run", ref], { home: fresh });
    expect(again.stderr).toBe("");
    expect(again.stdout).toBe(first.stdout);
    expect(await reg.requests()).toEqual([]);
  });

  it("docker://REF with --pull always asks the registry every time", async () => {
    const fresh = join(dir, "home-pull-always");
    await reg.markLog();
    for (let i = 0; i < 2; i++) {
      const r = await berth(["run", "--pull", "always", `docker://${ref}`, "echo", "ok"], { home: fresh });
      expect(r.stdout).toBe("ok\n");
      expect(r.code).toBe(0);
    }
    const manifests = (await reg.requests()).filter((q) => q.uri.includes("/manifests/"));
    expect(manifests.length).toBeGreaterThanOrEqual(2);
  });

  it("a --pull value docker does not know is a usage error", async () => {
    const r = await berth(["run", "--pull", "sometimes", ref], { home });
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("--pull must be missing, always or never");
  });
});

describe("images made by berth", () => {
  it("runs an image berth built from a folder (buildLayer + mutate)", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "bin"), { recursive: true });
    await mkdir(join(tree, "etc"), { recursive: true });
    await mkdir(join(tree, "srv"), { recursive: true });
    await writeFile(join(tree, "etc/passwd"), PASSWD);
    await writeFile(join(tree, "etc/group"), GROUP);
    await writeFile(join(tree, "srv/message"), "built by berth\n");
    await run("cp", [BUSYBOX, join(tree, "bin/busybox")]);
    for (const a of APPLETS) await run("ln", ["-s", "busybox", join(tree, "bin", a)]);
    const blob = join(dir, "berth-layer.tar.gz");
    const layer = await buildLayer(tree, blob, { uid: 0, gid: 0 });
    const m = mutate(undefined, {
      layers: [
        {
          path: blob,
          mediaType: layer.mediaType,
          digest: layer.digest,
          size: layer.size,
          diffId: layer.diffId,
        },
      ],
      config: (c) => ({
        ...c,
        Cmd: ["sh", "-c", "cat message; id -un"],
        WorkingDir: "/srv",
        User: "app",
        Env: ["PATH=/bin"],
      }),
    });
    const dst = `oci:${join(dir, "berth-layout")}:built`;
    await writeImage(m.source, m.descriptor, undefined, parseImageArgument(dst), { home, env: {} });
    const r = await rb([dst]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("built by berth\napp\n");
    expect(r.code).toBe(0);
  });
});
