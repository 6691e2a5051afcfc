/** The container network's parts that run without a container: flags, resolv.conf, the slirp4netns hook and its end. */
import { type ChildProcess, spawn } from "node:child_process";
import { lstat, mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  parseAddHost,
  parseNetworkMode,
  parsePublish,
  privateResolvConf,
  publishPorts,
  setupNetwork,
  stopNetwork,
} from "../../src/runtime/network.ts";
import { tempDir } from "../helpers/temp.ts";

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

describe("parseNetworkMode", () => {
  it("docker's bridge and BuildKit's default are the private network; host and none as they are", () => {
    expect(["default", "bridge", "private", "host", "none"].map((m) => parseNetworkMode(m))).toEqual([
      "default",
      "default",
      "default",
      "host",
      "none",
    ]);
  });

  it("anything else is a usage error naming the flag it came from", () => {
    expect(() => parseNetworkMode("overlay", "--network")).toThrow(
      expect.objectContaining({
        code: "USAGE",
        message: '--network must be default, host or none, not "overlay"',
      }),
    );
    expect(() => parseNetworkMode("Host", "RUN --network")).toThrow(/^RUN --network must be/);
  });
});

describe("parseAddHost", () => {
  it("reads docker's HOST:IP and HOST=IP, IPv6 after the first separator", () => {
    expect(parseAddHost("db.internal:10.1.2.3")).toEqual({ host: "db.internal", ip: "10.1.2.3" });
    expect(parseAddHost("db=10.1.2.3")).toEqual({ host: "db", ip: "10.1.2.3" });
    expect(parseAddHost("v6:fd00::1")).toEqual({ host: "v6", ip: "fd00::1" });
    expect(parseAddHost("v6=[::1]")).toEqual({ host: "v6", ip: "::1" });
  });

  it("refuses a bad value, and docker's host-gateway, in one sentence naming the flag and value", () => {
    expect(() => parseAddHost("nocolon")).toThrow(
      expect.objectContaining({ code: "USAGE", message: '--add-host "nocolon" is not HOST:IP' }),
    );
    expect(() => parseAddHost(":1.2.3.4")).toThrow('--add-host ":1.2.3.4" is not HOST:IP');
    expect(() => parseAddHost("h:")).toThrow('--add-host "h:" is not HOST:IP');
    expect(() => parseAddHost("h:1.2.3")).toThrow('--add-host "h:1.2.3": "1.2.3" is not an IP address');
    expect(() => parseAddHost("h:example.com")).toThrow(/"example.com" is not an IP address/);
    expect(() => parseAddHost("a b:1.2.3.4")).toThrow('--add-host "a b:1.2.3.4": "a b" is not a host name');
    expect(() => parseAddHost("h:host-gateway")).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /^--add-host "h:host-gateway": berth's build network has no gateway to the host/,
        ),
        hint: expect.stringContaining("--network host"),
      }),
    );
  });
});

describe("parsePublish", () => {
  it("docker's forms: HOST:CONTAINER, IP:HOST:CONTAINER, /udp; 0.0.0.0 means every address", () => {
    expect(parsePublish("8080:80")).toEqual({ protocol: "tcp", hostPort: 8080, containerPort: 80 });
    expect(parsePublish("127.0.0.1:8080:80/udp")).toEqual({
      protocol: "udp",
      hostIp: "127.0.0.1",
      hostPort: 8080,
      containerPort: 80,
    });
    expect(parsePublish("0.0.0.0:1:65535/tcp")).toEqual({
      protocol: "tcp",
      hostPort: 1,
      containerPort: 65535,
    });
    expect(parsePublish(":8080:80")).toEqual({ protocol: "tcp", hostPort: 8080, containerPort: 80 });
  });

  it("bad forms are one sentence naming the spec, with the form as a hint", () => {
    expect(() => parsePublish("80")).toThrow(
      expect.objectContaining({
        code: "USAGE",
        message: '-p "80" is not [IP:]HOST_PORT:CONTAINER_PORT',
        hint: expect.stringContaining("-p 127.0.0.1:8080:80"),
      }),
    );
    expect(() => parsePublish("1.2.3:80:80")).toThrow(
      '-p "1.2.3:80:80": "1.2.3" is not an IPv4 address (slirp4netns publishes on IPv4)',
    );
    expect(() => parsePublish("[::1]:80:80")).toThrow(/"::1" is not an IPv4 address/);
    // node:net's isIPv4, which the check follows without loading node:net: parts 0-255, no leading zeros
    for (const ip of ["256.1.1.1", "01.2.3.4", "1.2.3.4.5", "1.2.3.-4", " 1.2.3.4", "1.2.3.4\n"]) {
      expect(() => parsePublish(`${ip}:80:80`), ip).toThrow(/is not an IPv4 address/);
      expect(process.getBuiltinModule("node:net").isIP(ip), ip).toBe(0);
    }
    expect(parsePublish("255.0.10.1:80:80").hostIp).toBe("255.0.10.1");
    expect(() => parsePublish("8080:99999")).toThrow(
      '-p "8080:99999": the container port must be 1 to 65535',
    );
    expect(() => parsePublish("0:80")).toThrow(/the host port must be 1 to 65535/);
    expect(() => parsePublish("-1:80")).toThrow(/the host port must be 1 to 65535/);
    expect(() => parsePublish("http:80")).toThrow(/the host port must be 1 to 65535/);
    expect(() => parsePublish("8080:80/sctp")).toThrow('-p "8080:80/sctp": the protocol must be tcp or udp');
  });
});

it("the private network's resolv.conf: slirp4netns's forwarder, the host's search, domain and options", () => {
  expect(
    privateResolvConf("nameserver 127.0.0.53\nsearch corp.example\ndomain d.example\noptions ndots:2\n"),
  ).toBe("nameserver 10.0.2.3\nsearch corp.example\ndomain d.example\noptions ndots:2\n");
  expect(privateResolvConf("# searching\nsearchx a\nnameserver ::1\n")).toBe("nameserver 10.0.2.3\n");
  expect(privateResolvConf(undefined)).toBe("nameserver 10.0.2.3\n");
});

describe("setupNetwork", () => {
  it("host and none need nothing beyond the namespace; -p is refused for them", async () => {
    const dir = await tempDir();
    for (const network of ["host", "none"] as const) {
      const s = await setupNetwork({ network, dir, rootless: false });
      expect(s.hooks).toBeUndefined();
      expect(s.resolvConf).toBeUndefined();
      await s.close();
    }
    await expect(
      setupNetwork({ network: "host", dir, rootless: false, ports: [parsePublish("80:80")] }),
    ).rejects.toMatchObject({
      code: "USAGE",
      message: "-p publishes ports of the default network, not of --network host",
      hint: "with --network host the container's ports are the host's already",
    });
  });

  it("the default network: a createRuntime hook starting slirp4netns without the host's loopback", async () => {
    const dir = await tempDir();
    const s = await setupNetwork({ network: "default", dir, rootless: false, searchPath: "/usr/bin" });
    try {
      const hook = s.hooks!.createRuntime[0]!;
      expect(hook.path).toBe("/bin/sh");
      const args = hook.args!;
      expect(args.slice(4, 6)).toEqual([dir, "root"]);
      expect(args.slice(6)).toEqual([
        "/usr/bin/slirp4netns",
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-seccomp",
      ]);
      expect(s.resolvConf).toMatch(/^nameserver 10\.0\.2\.3\n/);
      expect((await lstat(join(dir, "slirp.exit"))).isFIFO()).toBe(true);
    } finally {
      await s.close();
    }
    const withPorts = await tempDir();
    const p = await setupNetwork({
      network: "default",
      dir: withPorts,
      rootless: true,
      searchPath: "/usr/bin",
      ports: [parsePublish("8080:80")],
    });
    await p.close();
    expect(p.hooks!.createRuntime[0]!.args!.slice(4)).toEqual(
      expect.arrayContaining([withPorts, "rootless", `--api-socket=${join(withPorts, "slirp.sock")}`]),
    );
  });

  it("without slirp4netns: one sentence naming it, with the install hint and the other modes", async () => {
    const dir = await tempDir();
    await expect(
      setupNetwork({ network: "default", dir, rootless: false, searchPath: dir }),
    ).rejects.toMatchObject({
      code: "RUNTIME_NOT_FOUND",
      message: expect.stringContaining("needs slirp4netns, which is not installed"),
      hint: expect.stringContaining("--network none"),
    });
  });
});

describe("stopNetwork", () => {
  const sleeper = (env: NodeJS.ProcessEnv) => {
    const c = spawn("sleep", ["30"], { env: { PATH: "/usr/bin:/bin", ...env }, stdio: "ignore" });
    children.push(c);
    return c;
  };
  const ended = (c: ChildProcess) =>
    new Promise<NodeJS.Signals | null>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve(c.signalCode);
      else c.once("exit", (_code, sig) => resolve(sig));
    });

  it("ends the slirp4netns of the folder (told by its environment), never another process with its pid", async () => {
    const dir = await tempDir();
    const other = sleeper({ BERTH_CONTAINER_DIR: `${dir}-other` });
    await writeFile(join(dir, "slirp.pid"), `${other.pid}\n`);
    await stopNetwork(dir);
    await new Promise((r) => setTimeout(r, 100));
    expect(other.exitCode === null && other.signalCode === null).toBe(true);

    const mine = sleeper({ BERTH_CONTAINER_DIR: dir });
    await writeFile(join(dir, "slirp.pid"), `${mine.pid}\n`);
    await stopNetwork(dir);
    expect(await ended(mine)).toBe("SIGTERM");
  });

  it("no pid file, or a pid of 0 or 1: nothing to end", async () => {
    const dir = await tempDir();
    await stopNetwork(dir);
    await writeFile(join(dir, "slirp.pid"), "1\n");
    await stopNetwork(dir);
    await writeFile(join(dir, "slirp.pid"), "not a pid\n");
    await expect(stopNetwork(dir)).resolves.toBeUndefined();
  });
});

describe("publishPorts", () => {
  it("gives up without a word when the container ended before slirp4netns was up", async () => {
    const dir = await tempDir();
    await expect(publishPorts(dir, [parsePublish("8080:80")], () => false)).resolves.toBeUndefined();
  });

  it("slirp4netns refusing a port (a fault-injecting API socket) is one sentence naming the port", async () => {
    const dir = await tempDir();
    await mkdir(dir, { recursive: true });
    const requests: unknown[] = [];
    const server = createServer((c) => {
      let body = "";
      c.on("data", (d) => {
        body += d;
      });
      c.on("end", () => {
        requests.push(JSON.parse(body));
        c.end(JSON.stringify({ error: { desc: "bind: address already in use" } }));
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, "slirp.sock"), r));
    await writeFile(join(dir, "slirp.pid"), "12345\n");
    try {
      await expect(
        publishPorts(dir, [parsePublish("127.0.0.1:8080:80/udp")], () => true),
      ).rejects.toMatchObject({
        code: "RUNTIME_FAILED",
        message:
          "publishing 127.0.0.1:8080 to the container's port 80/udp failed: bind: address already in use",
        hint: "is the host port taken already? choose another with -p",
      });
      expect(requests).toEqual([
        {
          execute: "add_hostfwd",
          arguments: {
            proto: "udp",
            host_addr: "127.0.0.1",
            host_port: 8080,
            guest_addr: "10.0.2.100",
            guest_port: 80,
          },
        },
      ]);
    } finally {
      server.close();
    }
  });
});
