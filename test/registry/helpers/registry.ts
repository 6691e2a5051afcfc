/**
 * A real registry for tests: Debian's docker-registry (distribution 2.8.2) on 127.0.0.1 with a random free
 * port, storage and config in a temp folder, its JSON log captured so that tests can read every request.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./ports.ts";

export interface RegistryRequest {
  method: string;
  uri: string;
  status: number;
  /** Bytes of response body written. */
  written: number;
}

export interface StartRegistryOptions {
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** `auth.htpasswd` with these lines (`user:bcrypt`). */
  htpasswd?: string[];
  /** `auth.token`. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

export interface RegistryHarness {
  /** `127.0.0.1:<port>`, as references name it. */
  host: string;
  port: number;
  /** `http://127.0.0.1:<port>` or `https://…`. */
  url: string;
  /** The temp folder holding config, storage and log. */
  dir: string;
  storage: string;
  logFile: string;
  /** Every request the registry completed so far, in order (parsed from its log). */
  requests(): Promise<RegistryRequest[]>;
  /** Forget the requests seen so far (requests() then returns only later ones). */
  markLog(): Promise<void>;
  stop(): Promise<void>;
}

function configYaml(port: number, storage: string, dir: string, o: StartRegistryOptions): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  formatter: json",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: berth-test-secret",
  ];
  if (o.tls) lines.push("  tls:", `    certificate: ${o.tls.cert}`, `    key: ${o.tls.key}`);
  if (o.htpasswd)
    lines.push("auth:", "  htpasswd:", "    realm: berth-test", `    path: ${join(dir, "htpasswd")}`);
  if (o.token) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${o.token.realm}`,
      `    service: ${o.token.service}`,
      `    issuer: ${o.token.issuer}`,
      `    rootcertbundle: ${o.token.rootCertBundle}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function waitForPort(port: number, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) {
        reject(new Error(`docker-registry exited with ${child.exitCode}`));
        return;
      }
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`docker-registry did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<RegistryHarness> {
  const dir = await mkdtemp(join(tmpdir(), "berth-registry-"));
  const storage = join(dir, "storage");
  const logFile = join(dir, "registry.log");
  if (options.htpasswd) await writeFile(join(dir, "htpasswd"), `${options.htpasswd.join("\n")}\n`);
  let child: ChildProcess | undefined;
  let port = 0;
  for (let tries = 0; tries < 5; tries++) {
    port = await freePort();
    await writeFile(join(dir, "config.yml"), configYaml(port, storage, dir, options));
    const log = createWriteStream(logFile, { flags: "a" });
    child = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    try {
      await waitForPort(port, child);
      break;
    } catch (err) {
      child.kill("SIGKILL");
      child = undefined;
      if (tries === 4) throw err;
    }
  }
  const proc = child!;
  let mark = 0;
  const parse = async (): Promise<RegistryRequest[]> => {
    const text = await readFile(logFile, "utf8");
    const out: RegistryRequest[] = [];
    for (const line of text.split("\n")) {
      if (!line.includes('"response completed"')) continue;
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        out.push({
          method: String(j["http.request.method"]),
          uri: String(j["http.request.uri"]),
          status: Number(j["http.response.status"]),
          written: Number(j["http.response.written"] ?? 0),
        });
      } catch {
        // a line cut by a concurrent write
      }
    }
    return out;
  };
  const scheme = options.tls ? "https" : "http";
  return {
    host: `127.0.0.1:${port}`,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    dir,
    storage,
    logFile,
    async requests() {
      // The registry logs after it answers; give the line a moment to land.
      await sleep(100);
      return (await parse()).slice(mark);
    },
    async markLog() {
      await sleep(100);
      mark = (await parse()).length;
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([exited, sleep(5000)]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
