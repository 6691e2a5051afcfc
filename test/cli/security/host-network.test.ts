/**
 * Attack tests (issue 19): containers and build steps reach the host's loopback. A host-only HTTP service on
 * 127.0.0.1 and ::1 holding a secret, and an abstract unix socket (bound to the host's network namespace),
 * must be out of reach of `berth run`, a Dockerfile RUN and a buildpack's bin/build by default, and in reach
 * with the host's network, asked for; raw sockets (which read the namespace's traffic) fail unless
 * `--cap-add NET_RAW`. The private network still reaches the outside (a host address that is not loopback)
 * and publishes ports with -p. Real CLI, real runc, real pasta.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer as createHttp, type Server } from "node:http";
import { createConnection, createServer, type Server as NetServer } from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBuildImage, writeBuildpack } from "../../cnb/helpers.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage, recordingRuntime } from "../../runtime/helpers.ts";

const pexec = promisify(execFile);
const BIN = resolve(import.meta.dirname, "../../../src/cli/bin.ts");
const SECRET = `secret-${randomBytes(6).toString("hex")}`;
const ABSTRACT = `berth-abstract-${randomBytes(6).toString("hex")}`;
const DUMMY = `bnt${randomBytes(3).toString("hex")}`;
const OUTSIDE = `10.${100 + (randomBytes(1)[0]! % 100)}.${randomBytes(1)[0]!}.1`;

let dir: string;
let home: string;
let image: string;
let port = 0;
let outsidePort = 0;
const servers: (Server | NetServer)[] = [];

function listen(s: Server | NetServer, host: string | { path: string }): Promise<number> {
  return new Promise((res, rej) => {
    s.once("error", rej);
    const done = () => {
      const a = s.address();
      res(typeof a === "object" && a ? a.port : 0);
    };
    if (typeof host === "string") s.listen(port, host, done);
    else s.listen(host.path, done);
  });
}

/** An HTTP GET with busybox nc (busybox 1.35's wget crashes): the body's last line, or "". */
const GET = (host: string, p: number) =>
  `$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${p} 2>/dev/null | tail -n 1)`;

/** The probe every path runs: the loopback service over IPv4 and IPv6, the abstract socket, a raw socket. */
const PROBE = (p: number) =>
  [
    `r=${GET("127.0.0.1", p)}; [ -n "$r" ] && echo "$r v4-reached" || echo v4-refused`,
    `r=${GET("::1", p)}; [ -n "$r" ] && echo "$r v6-reached" || echo v6-refused`,
    `grep -q @${ABSTRACT} /proc/net/unix && echo abstract-seen || echo abstract-hidden`,
    "ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1 && echo raw-ok || echo raw-denied",
  ].join("; ");

beforeAll(async () => {
  dir = await tempDir("berth-netns-");
  home = join(dir, "home");
  const http = createHttp((_, res) => res.end(SECRET));
  port = await listen(http, "127.0.0.1");
  const http6 = createHttp((_, res) => res.end(SECRET));
  await listen(http6, "::1");
  const abstract = createServer((s) => s.end(SECRET));
  await listen(abstract, { path: `\0${ABSTRACT}` });
  servers.push(http, http6, abstract);
  // A host address that is not loopback, as the rest of the network is: one end of a veth pair.
  await pexec("ip", ["link", "add", DUMMY, "type", "veth", "peer", "name", `${DUMMY}p`]);
  await pexec("ip", ["addr", "add", `${OUTSIDE}/32`, "dev", DUMMY]);
  await pexec("ip", ["link", "set", DUMMY, "up"]);
  await pexec("ip", ["link", "set", `${DUMMY}p`, "up"]);
  const outside = createHttp((_, res) => res.end("outside-ok"));
  outsidePort = await new Promise((res) =>
    outside.listen(0, OUTSIDE, () => res((outside.address() as { port: number }).port)),
  );
  servers.push(outside);
  const layout = join(dir, "layout");
  await busyboxImage(layout, "net", { env: ["PATH=/bin"] }, [[{ path: "/bin/ping", symlink: "busybox" }]]);
  image = `oci:${layout}:net`;
}, 120_000);

afterAll(async () => {
  for (const s of servers) s.close();
  await pexec("ip", ["link", "del", DUMMY]).catch(() => undefined);
});

const rb = (args: string[]) => berth(["run", ...args], { home });

describe("berth run", () => {
  it("by default: no host loopback (v4, v6), no abstract socket, no raw socket", async () => {
    const r = await rb([image, "sh", "-c", PROBE(port)]);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout).toBe("v4-refused\nv6-refused\nabstract-hidden\nraw-denied\n");
    expect(r.code).toBe(0);
  });

  it("--network host reaches them, but raw sockets still need --cap-add NET_RAW", async () => {
    const r = await rb(["--network", "host", image, "sh", "-c", PROBE(port)]);
    expect(r.stdout).toBe(`${SECRET} v4-reached\n${SECRET} v6-reached\nabstract-seen\nraw-denied\n`);
    const raw = await rb(["--network", "host", "--cap-add", "NET_RAW", image, "sh", "-c", PROBE(port)]);
    expect(raw.stdout).toContain("raw-ok\n");
    const def = await rb(["--cap-add", "net_raw", image, "sh", "-c", PROBE(port)]);
    expect(def.stdout).toBe("v4-refused\nv6-refused\nabstract-hidden\nraw-ok\n");
  });

  it("reaches the outside: a host address that is not loopback; DNS points at a reachable resolver", async () => {
    const r = await rb([image, "sh", "-c", `echo ${GET(OUTSIDE, outsidePort)}; cat /etc/resolv.conf`]);
    expect(r.stdout).toMatch(/^outside-ok\n/);
    expect(r.stdout).toMatch(/nameserver /);
    expect(r.stdout).not.toMatch(/nameserver\s+(127\.|::1)/);
    expect(r.code).toBe(0);
  });

  it("-p 127.0.0.1:PORT:80 publishes a container's server; -p with --network host is a warning, with none an error", async () => {
    const hostPort = await new Promise<number>((res) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const child = spawn(
      process.execPath,
      [BIN, "run", "-p", `127.0.0.1:${hostPort}:80`, image, "sh", "-c", "echo served | nc -l -p 80"],
      {
        env: { PATH: process.env.PATH ?? "", BERTH_HOME: home, HOME: home },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    let exited = false;
    const closed = new Promise((res) => child.on("close", res)).finally(() => {
      exited = true;
    });
    let got = "";
    for (let i = 0; i < 300 && !got && !exited; i++) {
      got = await new Promise<string>((res) => {
        const s = createConnection({ host: "127.0.0.1", port: hostPort });
        let data = "";
        s.on("data", (d) => {
          data += d;
        });
        s.on("end", () => (data ? res(data) : setTimeout(() => res(""), 50)));
        s.on("error", () => setTimeout(() => res(""), 50));
      });
    }
    const code = await closed;
    expect(stderr).toBe("");
    expect(got).toBe("served\n");
    expect(code).toBe(0);
    // A host port that is taken ends the run with one sentence (docker: "port is already allocated").
    const taken = createServer();
    const takenPort = await new Promise<number>((res) =>
      taken.listen(0, "127.0.0.1", () => res((taken.address() as { port: number }).port)),
    );
    const busy = await rb(["-p", `127.0.0.1:${takenPort}:80`, image, "sleep", "30"]);
    taken.close();
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain(`publishing 127.0.0.1:${takenPort} to the container's port 80/tcp failed`);
    // With the host's network the port is the host's already: docker's warning, and the container runs.
    const host = await rb(["--network", "host", "-p", "8080:80", image, "true"]);
    expect(host.stderr).toContain("-p 8080:80 is not needed with --network host");
    expect(host.code).toBe(0);
    const none = await rb(["--network", "none", "-p", "8080:80", image, "true"]);
    expect(none.stderr).toContain("--network none has none");
    expect(none.code).toBe(125);
  });
});

describe("berth run --runtime crun", () => {
  it("by default: no host loopback, the outside reached; crun, which waits for every process the hook starts, ends", async (t) => {
    const crun = await recordingRuntime(dir, "crun");
    if (!crun) return t.skip("crun cannot start containers here");
    const r = await rb([
      "--runtime",
      crun.path,
      image,
      "sh",
      "-c",
      `${PROBE(port)}; echo ${GET(OUTSIDE, outsidePort)}`,
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("v4-refused\nv6-refused\nabstract-hidden\nraw-denied\noutside-ok\n");
    expect(r.code).toBe(0);
    expect(await readFile(crun.log, "utf8")).toMatch(/ run --bundle /);
  }, 60_000);
});

describe("slirp4netns's lifetime", () => {
  it("ends with berth, even when berth is killed (SIGKILL): its exit fd is berth's", async () => {
    const child = spawn(process.execPath, [BIN, "run", image, "sleep", "60"], {
      env: { PATH: process.env.PATH ?? "", BERTH_HOME: home, HOME: home },
      stdio: "ignore",
    });
    const closed = new Promise((res) => child.on("close", res));
    const containers = join(home, "run", "containers");
    let pid = 0;
    let dirOf = "";
    for (let i = 0; i < 600 && !pid; i++) {
      for (const id of await readdir(containers).catch(() => [] as string[])) {
        const text = await readFile(join(containers, id, "slirp.pid"), "utf8").catch(() => "");
        if (/^\d+\n$/.test(text)) {
          pid = Number(text);
          dirOf = join(containers, id);
        }
      }
      if (!pid) await new Promise((r) => setTimeout(r, 25));
    }
    expect(pid).toBeGreaterThan(0);
    const alive = async () =>
      (await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "")).includes(
        `BERTH_CONTAINER_DIR=${dirOf}`,
      );
    // slirp.pid is written when the hook forks it: its environment is slirp4netns's once it has exec'd
    let up = false;
    for (let i = 0; i < 400 && !up; i++) {
      up = await alive();
      if (!up) await new Promise((r) => setTimeout(r, 25));
    }
    expect(up).toBe(true);
    child.kill("SIGKILL");
    await closed;
    let gone = false;
    for (let i = 0; i < 400 && !gone; i++) {
      gone = !(await alive());
      if (!gone) await new Promise((r) => setTimeout(r, 25));
    }
    expect(gone).toBe(true);
    // The next command sweeps the orphaned container (sleep 60).
    expect((await rb([image, "true"])).code).toBe(0);
  });
});

describe("Dockerfile RUN", () => {
  const build = async (df: string, extra: string[] = []) => {
    const ctx = join(dir, `ctx-${randomBytes(4).toString("hex")}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "Dockerfile"), df);
    return berth(
      ["build", ctx, "--dockerfile", "-t", `oci:${join(dir, "df-out")}:img`, "--no-cache", ...extra],
      {
        home,
      },
    );
  };

  it("by default: no host loopback, no abstract socket, no raw socket", async () => {
    const r = await build(`FROM ${image}\nRUN ${PROBE(port)}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(SECRET);
    expect(r.stderr).toContain("v4-refused\nv6-refused\nabstract-hidden\nraw-denied\n");
  });

  it("RUN --network=host reaches them with --allow network.host (BuildKit's entitlement), not without", async () => {
    const df = `FROM ${image}\nRUN --network=host ${PROBE(port)}\n`;
    const refused = await build(df);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("--allow network.host");
    expect(refused.stderr).not.toContain(SECRET);
    const r = await build(df, ["--allow", "network.host"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${SECRET} v4-reached\n${SECRET} v6-reached\nabstract-seen\nraw-denied\n`);
  });
});

describe("buildpack bin/build", () => {
  let builder = "";
  beforeAll(async () => {
    const layout = join(dir, "cnb-layout");
    await makeBuildImage(dir, `oci:${layout}:build`, home, ["nc", "ping", "tail"]);
    await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
    const bp = await writeBuildpack(join(dir, "bps"), {
      id: "test/probe",
      build: `${PROBE(port)}\nprintf '[[processes]]\\ntype = "web"\\ncommand = ["true"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"`,
    });
    await writeFile(
      join(dir, "builder.toml"),
      `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/probe"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
    );
    builder = `oci:${layout}:builder`;
    const r = await berth(
      ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
      { home },
    );
    if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
    await mkdir(join(dir, "app"), { recursive: true });
    await writeFile(join(dir, "app", "x.txt"), "x");
  }, 120_000);

  it("by default: no host loopback, no abstract socket, no raw socket; --network host reaches them", async () => {
    const r = await berth(["build", join(dir, "app"), "-t", "probe:1", "--builder", builder], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).not.toContain(SECRET);
    expect(r.stderr + r.stdout).toContain("v4-refused\nv6-refused\nabstract-hidden\nraw-denied\n");
    const h = await berth(
      ["build", join(dir, "app"), "-t", "probe:1", "--builder", builder, "--network", "host"],
      {
        home,
      },
    );
    expect(h.code, h.stderr).toBe(0);
    expect(h.stderr + h.stdout).toContain(
      `${SECRET} v4-reached\n${SECRET} v6-reached\nabstract-seen\nraw-denied\n`,
    );
  });
});
