// A private Docker Engine (Debian's docker.io) for tests that compare berth with BuildKit, pack or `docker save`:
// its own socket, data root, exec root and pidfile under a temporary folder, no iptables, no bridge. Nothing
// touches the machine's /var/run/docker.sock. The Debian client /usr/bin/docker has BuildKit built in; the
// engine speaks API 1.41, so clients that want newer (recent pack) get DOCKER_API_VERSION from `env`.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { run } from "./exec.ts";

const DOCKER_CLIENT = "/usr/bin/docker";
const DOCKERD = "/usr/sbin/dockerd";

export interface Dockerd {
  /** `unix://…` of the private engine. */
  host: string;
  /** Environment for clients of this engine (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_BUILDKIT=1, a private DOCKER_CONFIG). */
  env: NodeJS.ProcessEnv;
  /** Run Debian's docker client against this engine; returns stdout. */
  docker(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<string>;
  /** The engine's log so far (for failure messages). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Whether this machine can start a private engine (docker.io installed, running as root). */
export function dockerdAvailable(): boolean {
  return existsSync(DOCKERD) && existsSync(DOCKER_CLIENT) && process.getuid?.() === 0;
}

export async function startDockerd(): Promise<Dockerd> {
  const dir = await mkdtemp(join(tmpdir(), "berth-dockerd-"));
  const socket = join(dir, "docker.sock");
  const logFile = join(dir, "dockerd.log");
  const host = `unix://${socket}`;
  const log = createWriteStream(logFile, { flags: "a" });
  // An empty daemon.json of its own: the machine's /etc/docker/daemon.json (mirrors, proxies) stays out.
  await writeFile(join(dir, "daemon.json"), "{}\n");
  const child: ChildProcess = spawn(
    DOCKERD,
    [
      `--host=${host}`,
      `--data-root=${join(dir, "data")}`,
      `--exec-root=${join(dir, "exec")}`,
      `--pidfile=${join(dir, "dockerd.pid")}`,
      "--iptables=false",
      "--ip6tables=false",
      "--bridge=none",
      "--ip-masq=false",
      `--config-file=${join(dir, "daemon.json")}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DOCKER_CONFIG: join(dir, "client") } },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: host,
    DOCKER_API_VERSION: "1.41",
    DOCKER_BUILDKIT: "1",
    DOCKER_CONFIG: join(dir, "client"),
  };
  const readLog = () => readFile(logFile, "utf8").catch(() => "");
  const docker = (args: string[], options: { cwd?: string | undefined; env?: NodeJS.ProcessEnv } = {}) =>
    run(DOCKER_CLIENT, args, { cwd: options.cwd, env: { ...env, ...options.env } });
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`dockerd exited at start:\n${await readLog()}`);
    try {
      await run(DOCKER_CLIENT, ["version", "--format", "{{.Server.Version}}"], { env });
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`dockerd did not answer within 60 s: ${(err as Error).message}\n${await readLog()}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    host,
    env,
    docker,
    log: readLog,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await gone;
        clearTimeout(timer);
      }
      // The engine's overlay mounts are gone with it, but not its network namespace's bind mount
      // (exec/netns/default): whatever is still mounted under the folder is unmounted first, deepest first.
      for (const m of await mountsUnder(dir)) await run("umount", ["-l", m]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
