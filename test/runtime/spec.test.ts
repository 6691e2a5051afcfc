/** Config conversion, rootless config, user resolution and runtime discovery, without running anything. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import type { ImageConfig } from "../../src/oci/config.ts";
import {
  buildSpec,
  capabilityName,
  findRuntime,
  imageAnnotations,
  parsePublish,
  privateResolvConf,
  processArgs,
  processEnv,
  resolveUser,
} from "../../src/runtime/index.ts";
import { tempDir } from "../helpers/temp.ts";
import { GROUP, PASSWD } from "./helpers.ts";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-spec-");
  await mkdir(join(dir, "root/etc"), { recursive: true });
  await writeFile(join(dir, "root/etc/passwd"), PASSWD);
  await writeFile(join(dir, "root/etc/group"), GROUP);
  // A root whose /etc/passwd is a symlink to the host's file: read inside the root, never the host's.
  await mkdir(join(dir, "evil/etc"), { recursive: true });
  await writeFile(join(dir, "evil/passwd-in-root"), "inside:x:7:7::/in:/bin/sh\n");
  await symlink("/../../../../passwd-in-root", join(dir, "evil/etc/passwd"));
});

const config = (c: NonNullable<ImageConfig["config"]>): ImageConfig => ({
  architecture: "amd64",
  os: "linux",
  created: "2024-01-01T00:00:00Z",
  config: c,
  rootfs: { type: "layers", diff_ids: [] },
});

it("Entrypoint + Cmd with Docker's override rules; no command is a usage error", () => {
  const c = config({ Entrypoint: ["/ep"], Cmd: ["a"] });
  expect(processArgs(c, {}, "img")).toEqual(["/ep", "a"]);
  expect(processArgs(c, { args: ["b"] }, "img")).toEqual(["/ep", "b"]);
  expect(processArgs(c, { entrypoint: ["/x"] }, "img")).toEqual(["/x"]);
  expect(processArgs(c, { entrypoint: ["/x"], args: ["y"] }, "img")).toEqual(["/x", "y"]);
  expect(() => processArgs(config({}), {}, "img")).toThrow("img has no Entrypoint or Cmd");
});

it("env: image Env, Docker's PATH and HOME defaults, overrides win", () => {
  const c = config({ Env: ["A=1", "B=2"] });
  const env = processEnv(c, { uid: 0, gid: 0, additionalGids: [], home: "/root" }, ["B=3", "C=4"], "h");
  expect(env).toEqual([
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOSTNAME=h",
    "HOME=/root",
    "A=1",
    "B=3",
    "C=4",
  ]);
});

it("annotations: org.opencontainers.image.* from the config, then labels (labels win)", () => {
  const c = config({
    Labels: { a: "b", "org.opencontainers.image.os": "label-wins" },
    ExposedPorts: { "80/tcp": {} },
    StopSignal: "SIGQUIT",
  });
  c.author = "me";
  expect(imageAnnotations(c)).toEqual({
    "org.opencontainers.image.os": "label-wins",
    "org.opencontainers.image.architecture": "amd64",
    "org.opencontainers.image.author": "me",
    "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
    "org.opencontainers.image.stopSignal": "SIGQUIT",
    "org.opencontainers.image.exposedPorts": "80/tcp",
    a: "b",
  });
});

it("resolves users through the root's /etc/passwd and /etc/group", async () => {
  const root = join(dir, "root");
  expect(await resolveUser(root, "", "img")).toEqual({
    uid: 0,
    gid: 0,
    additionalGids: [10],
    home: "/root",
    name: "root",
  });
  expect(await resolveUser(root, "app", "img")).toEqual({
    uid: 1000,
    gid: 1000,
    additionalGids: [50, 10],
    home: "/home/app",
    name: "app",
  });
  expect(await resolveUser(root, "app:staff", "img")).toMatchObject({
    uid: 1000,
    gid: 50,
    additionalGids: [],
  });
  expect(await resolveUser(root, "4242", "img")).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
  expect(await resolveUser(join(dir, "nothing"), "12:34", "img")).toEqual({
    uid: 12,
    gid: 34,
    additionalGids: [],
  });
  await expect(resolveUser(root, "ghost", "oci:x:y")).rejects.toMatchObject({
    code: "USER_NOT_FOUND",
    message: 'user "ghost" is not in /etc/passwd of oci:x:y',
  });
  await expect(resolveUser(root, "app:nogrp", "img")).rejects.toMatchObject({ code: "USER_NOT_FOUND" });
  // Symlinks are followed inside the root only.
  expect(await resolveUser(join(dir, "evil"), "inside", "img")).toMatchObject({
    uid: 7,
    gid: 7,
    home: "/in",
  });
  await expect(resolveUser(join(dir, "evil"), "root", "img")).rejects.toMatchObject({
    code: "USER_NOT_FOUND",
  });
});

it("rootless config: user namespace mapping the caller to 0, a network namespace, ro rbind /sys, no resources", () => {
  const spec = buildSpec({
    user: { uid: 1000, gid: 1000, additionalGids: [] },
    args: ["sh"],
    env: [],
    cwd: "/",
    rootless: { uid: 1234, gid: 5678 },
  });
  expect(spec.linux.namespaces.map((n) => n.type)).toEqual(["pid", "ipc", "uts", "mount", "network", "user"]);
  expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1234, size: 1 }]);
  expect(spec.linux.gidMappings).toEqual([{ containerID: 0, hostID: 5678, size: 1 }]);
  expect(spec.linux.resources).toBeNull();
  expect(spec.process.user).toEqual({ uid: 0, gid: 0 });
  expect(spec.mounts.find((m) => m.destination === "/sys")).toEqual({
    destination: "/sys",
    type: "none",
    source: "/sys",
    options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
  });
  expect(spec.mounts.some((m) => m.type === "cgroup")).toBe(false);
  expect(spec.mounts.flatMap((m) => m.options ?? []).some((o) => /^(uid|gid)=/.test(o))).toBe(false);
  const none = buildSpec({
    user: { uid: 0, gid: 0, additionalGids: [] },
    args: ["sh"],
    env: [],
    cwd: "/",
    network: "none",
    rootless: { uid: 1, gid: 1 },
  });
  expect(none.linux.namespaces.map((n) => n.type)).toContain("network");
  const host = buildSpec({ ...base, network: "host" });
  expect(host.linux.namespaces.map((n) => n.type)).not.toContain("network");
});

const base = { user: { uid: 0, gid: 0, additionalGids: [] }, args: ["sh"], env: [], cwd: "/" };

it("capabilities: Docker's set without NET_RAW; --cap-add/--cap-drop, ALL; unknown names refused", () => {
  const caps = (o: Partial<Parameters<typeof buildSpec>[0]> = {}) =>
    buildSpec({ ...base, ...o }).process.capabilities!.bounding;
  expect(caps()).not.toContain("CAP_NET_RAW");
  expect(caps()).toContain("CAP_CHOWN");
  expect(caps({ capAdd: [capabilityName("net_raw", "--cap-add")] })).toContain("CAP_NET_RAW");
  expect(caps({ capDrop: ["CAP_CHOWN"] })).not.toContain("CAP_CHOWN");
  expect(caps({ capDrop: ["ALL"], capAdd: ["CAP_KILL"] })).toEqual(["CAP_KILL"]);
  expect(() => capabilityName("NET_MAGIC", "--cap-add")).toThrow(
    /--cap-add "NET_MAGIC" is not a Linux capability/,
  );
});

it("-p: docker's forms; bad ones are one sentence", () => {
  expect(parsePublish("8080:80")).toEqual({ protocol: "tcp", hostPort: 8080, containerPort: 80 });
  expect(parsePublish("127.0.0.1:8080:80/udp")).toEqual({
    protocol: "udp",
    hostIp: "127.0.0.1",
    hostPort: 8080,
    containerPort: 80,
  });
  expect(() => parsePublish("80")).toThrow(/is not \[IP:\]HOST_PORT:CONTAINER_PORT/);
  expect(() => parsePublish("1.2.3:80:80")).toThrow(/is not an IPv4 address/);
  expect(() => parsePublish("8080:99999")).toThrow(/container port must be 1 to 65535/);
  expect(() => parsePublish("8080:80/sctp")).toThrow(/protocol must be tcp or udp/);
});

it("the private network's resolv.conf: slirp4netns's forwarder, the host's search and options", () => {
  expect(privateResolvConf("nameserver 127.0.0.53\nsearch corp.example\noptions ndots:2\n")).toBe(
    "nameserver 10.0.2.3\nsearch corp.example\noptions ndots:2\n",
  );
  expect(privateResolvConf(undefined)).toBe("nameserver 10.0.2.3\n");
});

it("finds runc, else crun; forcing one; a clear error with an install hint when none is installed", async () => {
  expect((await findRuntime({ path: "/usr/sbin:/usr/bin" })).name).toBe("runc");
  expect(await findRuntime({ want: "crun", path: "/usr/sbin:/usr/bin" })).toEqual({
    name: "crun",
    path: "/usr/bin/crun",
  });
  expect(await findRuntime({ want: "/usr/sbin/runc" })).toEqual({ name: "runc", path: "/usr/sbin/runc" });
  await expect(findRuntime({ path: dir })).rejects.toMatchObject({
    code: "RUNTIME_NOT_FOUND",
    hint: expect.stringContaining("apt-get install runc"),
  });
  await expect(findRuntime({ want: "crun", path: dir })).rejects.toMatchObject({ code: "RUNTIME_NOT_FOUND" });
  await expect(findRuntime({ want: "docker" })).rejects.toMatchObject({ code: "USAGE" });
});
