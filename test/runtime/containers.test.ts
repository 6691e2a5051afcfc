/**
 * Containers as docker users expect them, through the real CLI: run -d with --name, ps, logs, exec, stop,
 * kill, rm, --rm, name clashes, --env-file and -p on the host network; with runc and (where it can start
 * containers here) crun.
 */
import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { berth, spawnBerth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { busyboxImage, freePort, readPublished, recordingRuntime } from "./helpers.ts";

let dir: string;
let home: string;
let app: string;
// crun through a wrapper that starts it where this host's cgroup layout lets it (see recordingRuntime)
const wrappers = await tempDir("berth-containers-runtimes-");
const crun = await recordingRuntime(wrappers, "crun");

beforeAll(async () => {
  dir = await tempDir("berth-containers-");
  home = join(dir, "home");
  await busyboxImage(join(dir, "layout"), "app", { env: ["PATH=/bin", "FROM_IMAGE=1"], cmd: ["sh"] });
  app = `oci:${join(dir, "layout")}:app`;
});
afterAll(async () => {
  const ids = (await b(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
  if (ids.length) await b(["rm", "-f", ...ids]);
});

const b = (args: string[], input?: string) => berth(args, { home, input });

interface PsEntry {
  id: string;
  name: string | null;
  status: string;
  exitCode: number | null;
}
async function ps(): Promise<PsEntry[]> {
  const r = await b(["ps", "-a", "--json"]);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { schemaVersion: number; containers: PsEntry[] };
  expect(out.schemaVersion).toBe(1);
  return out.containers;
}

/** Poll until `check` holds (the container's own pace; no timing asserted). */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition never held");
}

const LOOP = 'echo hello; echo oops >&2; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done';

describe.each([
  { runtime: "runc", path: "runc", skip: false },
  { runtime: "crun", path: crun?.path ?? "crun", skip: !crun },
])("detached containers with $runtime", ({ runtime, path, skip }) => {
  // a failure midway leaves no container for the next tests' listings (the test removes it when it passes)
  afterEach(() => b(["rm", "-f", `web-${runtime}`]));
  it.skipIf(skip)("run -d --name, ps, logs, exec, a name clash, stop, logs after the end, rm", async () => {
    const name = `web-${runtime}`;
    const started = await b(["run", "--runtime", path, "-d", "--name", name, app, "sh", "-c", LOOP]);
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^berth-[0-9a-f]{16}$/);

    const listed = (await ps()).find((c) => c.name === name);
    // a container that did not start: what it wrote, and why berth or its runtime could not start it
    const said =
      listed?.status === "running"
        ? ""
        : `${(await b(["logs", name])).stderr}${await readFile(join(home, "run", "containers", id, "exit.json"), "utf8").catch(() => "")}`;
    expect(listed, said).toMatchObject({ id, status: "running", exitCode: null });
    const table = await b(["ps"]);
    expect(table.stdout).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    expect(table.stdout).toMatch(new RegExp(`^${id.slice(6, 18)}\\s.*Up .*${name}$`, "m"));
    expect((await b(["ps", "-q"])).stdout).toContain(`${id.slice(6, 18)}\n`);

    await until(async () => (await b(["logs", name])).stdout === "hello\n");
    const logs = await b(["logs", name]);
    expect(logs.stderr).toBe("oops\n");

    // exec: the container's env, -e, -u, -w; 127 for a command that is not there; by id prefix too
    const e = await b([
      "exec",
      "-e",
      "EXTRA=2",
      "-u",
      "app",
      "-w",
      "/tmp",
      name,
      "sh",
      "-c",
      'echo "$FROM_IMAGE $EXTRA $(id -u) $(pwd)"',
    ]);
    expect(e.stderr).toBe("");
    expect(e.stdout).toBe("1 2 1000 /tmp\n");
    expect(e.code).toBe(0);
    expect((await b(["exec", id.slice(6, 12), "sh", "-c", "exit 4"])).code).toBe(4);
    const missing = await b(["exec", name, "no-such-command"]);
    expect(missing.code).toBe(127);
    expect((await b(["exec", "-i", name, "cat"], "piped\n")).stdout).toBe("piped\n");

    // docker's sentence for a name in use; 125 (berth's own failure); nothing made
    const clash = await b(["run", "-d", "--name", name, app, "true"]);
    expect(clash.stderr).toContain(
      `the container name "${name}" is already in use by container ${id.slice(6, 18)}`,
    );
    expect(clash.code).toBe(125);
    expect((await ps()).length).toBe(1);

    // rm refuses a running container
    const busy = await b(["rm", name]);
    expect(busy.stderr).toContain(`cannot remove container ${name}: it is running`);
    expect(busy.code).not.toBe(0);

    const stopped = await b(["stop", name]);
    expect(stopped.stdout).toBe(`${name}\n`);
    expect(stopped.code).toBe(0);
    expect((await ps()).find((c) => c.name === name)).toMatchObject({ status: "exited", exitCode: 0 });
    expect((await b(["ps"])).stdout).not.toContain(name);
    expect((await b(["logs", name])).stdout).toBe("hello\nbye\n");
    expect((await b(["logs", "--tail", "1", name])).stdout).toBe("bye\n");
    const notRunning = await b(["exec", name, "true"]);
    expect(notRunning.stderr).toContain(`container ${name} is not running`);
    expect(notRunning.code).toBe(125);

    expect((await b(["rm", name])).code).toBe(0);
    expect(await ps()).toEqual([]);
    expect(readdirSync(join(home, "run", "containers"))).toEqual([]);
    // the name is free again
    const again = await b(["run", "-d", "--rm", "--name", name, app, "true"]);
    expect(again.code).toBe(0);
    await until(async () => (await ps()).length === 0);
  });
});

describe("kill, logs -f, --rm, exit codes", () => {
  it("kill -s TERM reaches a PID 1 only when it handles TERM; kill (SIGKILL) always: Exited (137)", async () => {
    const id = (await b(["run", "-d", "--name", "killme", app, "sleep", "1000"])).stdout.trim();
    expect(id).not.toBe("");
    expect((await b(["kill", "-s", "TERM", "killme"])).code).toBe(0);
    expect((await ps())[0]!.status).toBe("running");
    expect((await b(["kill", "killme"])).code).toBe(0);
    await until(async () => (await ps())[0]!.status === "exited");
    expect((await ps())[0]!.exitCode).toBe(137);
    expect((await b(["ps", "-a"])).stdout).toMatch(/Exited \(137\)/);
    const again = await b(["kill", "killme"]);
    expect(again.stderr).toContain("container killme is not running");
    expect((await b(["rm", "killme"])).code).toBe(0);
  });

  it("logs -f follows until the container ends; --rm removes its state once it has", async () => {
    const script =
      'for i in 1 2 3; do echo $i; done; trap "echo 4; exit 0" TERM; while true; do sleep 0.1; done';
    const id = (await b(["run", "-d", "--rm", app, "sh", "-c", script])).stdout.trim();
    const follow = spawnBerth(["logs", "-f", id], { home });
    let seen = "";
    follow.child.stdout!.on("data", (c: Buffer) => {
      seen += c.toString();
    });
    await until(async () => seen === "1\n2\n3\n");
    expect((await b(["stop", id])).code).toBe(0);
    const followed = await follow.done;
    expect(followed.stdout).toBe("1\n2\n3\n4\n");
    expect(followed.code).toBe(0);
    await until(async () => (await ps()).length === 0);
    expect(existsSync(join(home, "run", "containers", id))).toBe(false);
  });

  it("run -d with a command that is not there: 127 and the runtime's words, as docker", async () => {
    const r = await b(["run", "-d", "--rm", app, "no-such-command"]);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("no-such-command");
    expect(r.code).toBe(127);
  });

  it("rm -f kills a running container and removes it; unknown names are one sentence", async () => {
    await b(["run", "-d", "--name", "gone", app, "sleep", "1000"]);
    const r = await b(["rm", "-f", "gone"]);
    expect(r.code).toBe(0);
    expect(await ps()).toEqual([]);
    const none = await b(["stop", "gone"]);
    expect(none.stderr).toContain("no such container: gone");
    expect(none.code).not.toBe(0);
  });

  it("two runs claiming one name at once: one gets it, the other docker's sentence and 125", async () => {
    const both = await Promise.all(
      [1, 2].map(() => b(["run", "-d", "--name", "twin", app, "sleep", "1000"])),
    );
    expect(both.map((r) => r.code).sort()).toEqual([0, 125]);
    expect(both.find((r) => r.code === 125)!.stderr).toContain('the container name "twin" is already in use');
    expect((await ps()).map((c) => c.name)).toEqual(["twin"]);
    expect((await b(["rm", "-f", "twin"])).code).toBe(0);
  });

  it("an invalid --name is refused with 125 before anything runs", async () => {
    const r = await b(["run", "--name", "bad name", app, "true"]);
    expect(r.stderr).toContain('invalid container name "bad name"');
    expect(r.code).toBe(125);
  });
});

describe("--env-file, -p", () => {
  it("--env-file: docker's format (comments, K alone from here, values as they are); -e wins", async () => {
    const file = join(dir, "app.env");
    await writeFile(
      file,
      '# a comment\n\nA=1\n  B=two words "quoted"\nFROM_HERE\nNOT_SET_HERE\nC=x=y\nA_OVER=file\n',
    );
    const r = await berth(
      [
        "run",
        "--env-file",
        file,
        "-e",
        "A_OVER=flag",
        app,
        "sh",
        "-c",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
        'echo "$A|$B|$FROM_HERE|${NOT_SET_HERE-unset}|$C|$A_OVER"',
      ],
      { home, env: { FROM_HERE: "here" } },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe('1|two words "quoted"|here|unset|x=y|flag\n');
    const bad = join(dir, "bad.env");
    await writeFile(bad, "OK=1\nBAD KEY=2\n");
    const refused = await b(["run", "--env-file", bad, app, "true"]);
    expect(refused.stderr).toContain('line 2: the variable name "BAD KEY" contains whitespace');
    expect(refused.code).toBe(125);
  });

  it("run -d -p: the port is published once berth prints the id (the supervisor publishes it)", async () => {
    const port = await freePort();
    const r = await b([
      "run",
      "-d",
      "--rm",
      "-p",
      `127.0.0.1:${port}:80`,
      app,
      "sh",
      "-c",
      "echo served | nc -l -p 80",
    ]);
    expect(r.code).toBe(0);
    const listed = (await ps())[0]!;
    expect(listed).toMatchObject({
      ports: [{ hostIp: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
    });
    expect((await b(["ps"])).stdout).toContain(`127.0.0.1:${port}->80/tcp`);
    // published before the id was printed: the first connection reaches slirp4netns (the server may still be starting)
    const got = await readPublished(port);
    expect(got).toBe("served\n");
    await until(async () => (await ps()).length === 0);
  });

  it("-p with --network host: a sentence (the port is the host's already), and the container runs", async () => {
    const r = await b(["run", "--network", "host", "-p", "8080:80", app, "true"]);
    expect(r.stderr).toContain(
      "-p 8080:80 is not needed with --network host: the container's port 80/tcp is the host's port 80 already",
    );
    expect(r.code).toBe(0);
  });
});

describe("a one-off command in a buildpacks image (README: --entrypoint launcher)", () => {
  it("through the launcher the buildpacks' environment is set; without it, it is not", async () => {
    const { berthLauncher } = await import("../../src/cnb/launch/index.ts");
    const launcher = (await berthLauncher({ home, env: { PATH: process.env.PATH } })).path;
    const toml = [
      "[[buildpacks]]",
      '  id = "greet"',
      '  version = "1.0.0"',
      '  api = "0.10"',
      "",
      "[[processes]]",
      '  type = "web"',
      '  command = ["echo", "web"]',
      "  args = []",
      "  direct = true",
      "  default = true",
      '  buildpack-id = "greet"',
      "",
    ].join("\n");
    await busyboxImage(
      join(dir, "layout"),
      "cnb",
      {
        env: [
          "PATH=/cnb/process:/cnb/lifecycle:/bin",
          "CNB_LAYERS_DIR=/layers",
          "CNB_APP_DIR=/workspace",
          "CNB_PLATFORM_API=0.12",
        ],
        entrypoint: ["/cnb/process/web"],
      },
      [
        [
          { path: "cnb/lifecycle/launcher", source: launcher },
          { path: "cnb/process/web", symlink: "../lifecycle/launcher" },
          { path: "layers/config/metadata.toml", content: toml },
          { path: "layers/greet/tools.toml", content: "[types]\n  launch = true\n" },
          { path: "layers/greet/tools/env/GREETING", content: "from-the-buildpack" },
          { path: "workspace", dir: true },
        ],
      ],
    );
    const img = `oci:${join(dir, "layout")}:cnb`;
    expect((await b(["run", img])).stdout).toBe("web\n");
    const through = await b(["run", "--entrypoint", "launcher", img, "--", "env"]);
    expect(through.stderr).toBe("");
    expect(through.stdout).toContain("GREETING=from-the-buildpack\n");
    const around = await b(["run", "--entrypoint", "env", img]);
    expect(around.stdout).not.toContain("GREETING=");
  });
});
