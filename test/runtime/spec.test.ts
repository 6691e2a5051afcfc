/** Config conversion and the rootless config, without running anything. */
import { expect, it } from "vitest";
import type { ImageConfig } from "../../src/oci/config.ts";
import {
  buildSpec,
  capabilityName,
  imageAnnotations,
  processArgs,
  processEnv,
} from "../../src/runtime/index.ts";
import { specJson } from "../../src/runtime/spec.ts";

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

it("rlimits and cgroupsPath only when given; -1 written as RLIM_INFINITY; a later mount of a destination replaces the default in its place", () => {
  const user = { uid: 0, gid: 0, additionalGids: [], home: "/root" };
  const plain = buildSpec({ user, args: ["true"], env: [], cwd: "/" });
  expect(plain.process.rlimits).toBeUndefined();
  expect(plain.linux.cgroupsPath).toBeUndefined();
  const shm = { destination: "/dev/shm", type: "tmpfs", source: "tmpfs", options: ["nosuid", "size=1024"] };
  const spec = buildSpec({
    user,
    args: ["true"],
    env: [],
    cwd: "/",
    mounts: [shm],
    rlimits: [{ type: "RLIMIT_CORE", soft: 0, hard: -1 }],
    cgroupsPath: "/ci/buildkit/x",
  });
  expect(spec.linux.cgroupsPath).toBe("/ci/buildkit/x");
  const at = (s: typeof spec) => s.mounts.findIndex((m) => m.destination === "/dev/shm");
  expect(spec.mounts.filter((m) => m.destination === "/dev/shm")).toEqual([shm]);
  expect(at(spec)).toBe(at(plain));
  expect(spec.mounts).toHaveLength(plain.mounts.length);
  const json = specJson(spec);
  expect(json).toContain('"soft": 0,\n        "hard": 18446744073709551615');
  expect(JSON.parse(json.replace("18446744073709551615", "-1")).process.rlimits).toEqual([
    { type: "RLIMIT_CORE", soft: 0, hard: -1 },
  ]);
});

it("no cgroupsPath without root (rootless, or a namespace of one id), as BuildKit's rootless spec conversion", () => {
  const user = { uid: 0, gid: 0, additionalGids: [], home: "/root" };
  const o = { user, args: ["true"], env: [], cwd: "/", cgroupsPath: "/ci/buildkit/x" };
  expect(buildSpec(o).linux.cgroupsPath).toBe("/ci/buildkit/x");
  expect(buildSpec({ ...o, rootless: { uid: 1000, gid: 1000 } }).linux.cgroupsPath).toBeUndefined();
  expect(buildSpec({ ...o, singleId: true }).linux.cgroupsPath).toBeUndefined();
});
