/**
 * The runtime-spec `config.json`: the types berth writes, Docker's defaults (capabilities, masked and
 * read-only paths, mounts, namespaces) and the image-spec conversion (`conversion.md`) from an image config.
 * Rootless follows runc's `ToRootless()`: a user namespace mapping the caller's ids to 0, `/sys` as a
 * read-only rbind, no `uid=`/`gid=` mount options, no resources.
 */
import { BerthError } from "../errors.ts";
import type { ImageConfig } from "../oci/config.ts";
import type { Rlimit } from "./limits.ts";
import type { Hook, NetworkMode } from "./network.ts";
import { defaultSeccomp, type Seccomp } from "./seccomp.ts";
import type { ResolvedUser } from "./user.ts";

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface RuntimeSpec {
  ociVersion: string;
  root: { path: string; readonly?: boolean };
  process: {
    terminal?: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities?: Record<"bounding" | "effective" | "permitted" | "inheritable" | "ambient", string[]>;
    rlimits?: Rlimit[];
    noNewPrivileges?: boolean;
  };
  hostname?: string;
  mounts: SpecMount[];
  annotations?: Record<string, string>;
  hooks?: { createRuntime?: Hook[] };
  linux: {
    namespaces: { type: string; path?: string }[];
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
    resources?: { devices?: { allow: boolean; access: string }[] } | null;
    cgroupsPath?: string;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: Seccomp;
  };
}

/**
 * Docker's default capability set (moby `oci/caps/defaults.go`) without CAP_NET_RAW: raw and packet sockets
 * read every packet of the namespace (with the host's network, the host's loopback traffic and the
 * credentials in it); `capAdd: ["NET_RAW"]` gives it back.
 */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Docker's masked paths (moby `oci/defaults.go`). */
export const MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** Docker's default PATH, used when the image sets none. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function defaultMounts(): SpecMount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
  ];
}

export type { NetworkMode } from "./network.ts";

/** Every capability Linux knows (capability(7)), for `--cap-add`/`--cap-drop`. */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** A capability name as docker takes it (`NET_RAW`, `cap_net_raw`, `ALL`) in the runtime spec's spelling. */
export function capabilityName(text: string, flag: string): string {
  const up = text.trim().toUpperCase();
  if (up === "ALL") return up;
  const name = up.startsWith("CAP_") ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(name)) {
    throw new BerthError("USAGE", `${flag} ${JSON.stringify(text)} is not a Linux capability`, {
      hint: "name one of capabilities(7) without its CAP_ prefix, e.g. NET_RAW, or ALL",
    });
  }
  return name;
}

/** The default set with docker's `--cap-drop` then `--cap-add` applied (`ALL` in either). */
export function capabilitySet(add: readonly string[] = [], drop: readonly string[] = []): string[] {
  let caps = drop.includes("ALL") ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  if (add.includes("ALL")) caps = [...ALL_CAPABILITIES];
  for (const c of add) if (c !== "ALL" && !caps.includes(c)) caps.push(c);
  return caps;
}

/** A bind mount from the host into the container. */
export interface Volume {
  source: string;
  destination: string;
  readonly?: boolean;
}

/** A range of host ids: `count` ids from `start`. */
export interface IdRange {
  start: number;
  count: number;
}

/**
 * Rootless: the caller's host ids, mapped to 0 inside a user namespace; with the caller's subordinate ranges
 * (/etc/subuid, /etc/subgid, written by runc through newuidmap/newgidmap), ids 1… map onto them as well.
 */
export interface RootlessIds {
  uid: number;
  gid: number;
  subUids?: IdRange;
  subGids?: IdRange;
}

/** Whether the rootless maps give the process user an id inside the container (always true for root). */
export function rootlessMapsUser(ids: RootlessIds, user: { uid: number; gid: number }): boolean {
  const inRange = (id: number, r: IdRange | undefined) =>
    id === 0 || (r !== undefined && id >= 1 && id <= r.count);
  return inRange(user.uid, ids.subUids) && inRange(user.gid, ids.subGids);
}

export interface SpecOptions {
  /** Resolved user (see user.ts). */
  user: ResolvedUser;
  args: string[];
  /** Full environment, `K=V`. */
  env: string[];
  cwd: string;
  /**
   * Default "default": a new network namespace that `hooks` connect (see network.ts); "none": a new, empty
   * one (loopback only); "host": the host's (no namespace).
   */
  network?: NetworkMode;
  /** Runtime hooks (the slirp4netns hook of the default network). */
  hooks?: RuntimeSpec["hooks"] | undefined;
  /** Capabilities over the default set, and taken from it (`CAP_…` or `ALL`, see `capabilityName`). */
  capAdd?: readonly string[] | undefined;
  capDrop?: readonly string[] | undefined;
  hostname?: string;
  volumes?: readonly Volume[];
  /** Extra mounts, appended as given. */
  mounts?: readonly SpecMount[];
  annotations?: Record<string, string>;
  /** `root.path` in the bundle; default "rootfs". */
  rootPath?: string;
  /**
   * The root's overlay for the runtime to mount over the empty `rootPath`, inside the container's mount
   * namespace (`mount.ts` `rootMount`): the first of all mounts, so that the others land in it.
   */
  rootMount?: SpecMount | undefined;
  /** Set when not root: runc's rootless mode. */
  rootless?: RootlessIds | undefined;
  /**
   * Root of a user namespace that maps one id (berth rerun without root and without subordinate ids): mount
   * options naming other ids (devpts's `gid=5`) are left out, as in rootless mode.
   */
  singleId?: boolean;
  /** Docker's seccomp refusals (seccomp.ts); false: none (docker's `--security-opt seccomp=unconfined`). */
  seccomp?: boolean;
  /** Give the process a pseudo-terminal (docker's `-t`). */
  terminal?: boolean;
  /** `process.rlimits` (docker's `--ulimit`); none: the process keeps the runtime's limits, as BuildKit's. */
  rlimits?: readonly Rlimit[] | undefined;
  /**
   * `linux.cgroupsPath` (none: the runtime's default, a cgroup named after the container); left out without root,
   * as BuildKit's rootless spec conversion removes it.
   */
  cgroupsPath?: string | undefined;
}

/** A runtime config with Docker's defaults. */
export function buildSpec(o: SpecOptions): RuntimeSpec {
  const network = o.network ?? "default";
  const namespaces: { type: string }[] = [
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
  ];
  if (network !== "host") namespaces.push({ type: "network" });
  const caps = capabilitySet(o.capAdd, o.capDrop);
  const mounts = [...(o.rootMount ? [o.rootMount] : []), ...defaultMounts()];
  for (const v of o.volumes ?? []) {
    mounts.push({
      destination: v.destination,
      type: "bind",
      source: v.source,
      options: ["rbind", "rprivate", ...(v.readonly ? ["ro"] : [])],
    });
  }
  mounts.push(...(o.mounts ?? []));
  dedupMounts(mounts);
  if (o.singleId) {
    for (const m of mounts) if (m.options) m.options = withoutIdOptions(m.options);
  }
  const spec: RuntimeSpec = {
    ociVersion: "1.0.2",
    root: { path: o.rootPath ?? "rootfs", readonly: false },
    process: {
      terminal: o.terminal === true,
      user: {
        uid: o.user.uid,
        gid: o.user.gid,
        ...(o.user.additionalGids.length ? { additionalGids: o.user.additionalGids } : {}),
      },
      args: o.args,
      env: o.env,
      cwd: o.cwd,
      capabilities: {
        bounding: [...caps],
        effective: [...caps],
        permitted: [...caps],
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: false,
      ...(o.rlimits?.length ? { rlimits: o.rlimits.map((r) => ({ ...r })) } : {}),
    },
    hostname: o.hostname ?? "berth",
    mounts,
    ...(o.annotations && Object.keys(o.annotations).length ? { annotations: o.annotations } : {}),
    ...(o.hooks ? { hooks: o.hooks } : {}),
    linux: {
      namespaces,
      resources: { devices: [{ allow: false, access: "rwm" }] },
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      ...(o.seccomp === false ? {} : { seccomp: defaultSeccomp() }),
      // without root (a namespace of one id too) no cgroup can be made: left out, as BuildKit's ToRootless
      ...(o.cgroupsPath && !o.singleId ? { cgroupsPath: o.cgroupsPath } : {}),
    },
  };
  return o.rootless ? toRootless(spec, o.rootless) : spec;
}

/**
 * A later mount of a destination replaces an earlier one in its place (BuildKit's dedupMounts): a RUN's own
 * tmpfs on /dev/shm (`--shm-size`) stands where the default one was, not over it.
 */
function dedupMounts(mounts: SpecMount[]): void {
  const at = new Map<string, number>();
  for (let i = 0; i < mounts.length; i++) {
    const m = mounts[i]!;
    const j = at.get(m.destination);
    if (j === undefined) {
      at.set(m.destination, i);
      continue;
    }
    mounts[j] = m;
    mounts.splice(i--, 1);
  }
}

/** RLIM_INFINITY, the uint64 a limit of -1 is (`--ulimit nofile=-1`), beyond a JavaScript number's exact range. */
const RLIM_INFINITY = "18446744073709551615";

/** `JSON.rawJSON` (ES2024's JSON.parse source text access; Node ≥ 21), which TypeScript's es2023 lib lacks. */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** A spec as `config.json`'s text: an rlimit of -1 written as RLIM_INFINITY (Go reads a uint64). */
export function specJson(spec: RuntimeSpec): string {
  const replacer = (key: string, value: unknown) =>
    (key === "soft" || key === "hard") && value === -1 ? rawJSON(RLIM_INFINITY) : value;
  return `${JSON.stringify(spec, replacer, 2)}\n`;
}

/** Mount options without `uid=`/`gid=` (ids a namespace holding one id cannot name). */
function withoutIdOptions(options: readonly string[]): string[] {
  return options.filter((x) => !x.startsWith("uid=") && !x.startsWith("gid="));
}

/**
 * runc's `ToRootless()`: user namespace with the caller's ids as 0, no resources, /sys as a ro rbind; no
 * cgroupsPath (BuildKit's rootless ToRootless removes it: the caller cannot make cgroups).
 */
export function toRootless(spec: RuntimeSpec, ids: RootlessIds): RuntimeSpec {
  const namespaces = spec.linux.namespaces.filter((n) => n.type !== "user");
  namespaces.push({ type: "user" });
  const mounts: SpecMount[] = [];
  for (const m of spec.mounts) {
    if (m.destination === "/sys") {
      mounts.push({
        destination: "/sys",
        type: "none",
        source: "/sys",
        options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
      });
      continue;
    }
    // cgroup v1 mounts are not permitted in a user namespace; the rbind of /sys carries the host's.
    if (m.type === "cgroup") continue;
    mounts.push({
      ...m,
      ...(m.options ? { options: withoutIdOptions(m.options) } : {}),
    });
  }
  const uidMappings = [{ containerID: 0, hostID: ids.uid, size: 1 }];
  const gidMappings = [{ containerID: 0, hostID: ids.gid, size: 1 }];
  const sub = ids.subUids && ids.subGids;
  if (ids.subUids && ids.subGids) {
    uidMappings.push({ containerID: 1, hostID: ids.subUids.start, size: ids.subUids.count });
    gidMappings.push({ containerID: 1, hostID: ids.subGids.start, size: ids.subGids.count });
  }
  // Without subordinate ranges only uid 0 (the caller) exists inside: a non-root image user cannot be mapped.
  // runc refuses supplementary groups when not root on the host, so they are dropped.
  const { user: wanted } = spec.process;
  const user =
    sub && rootlessMapsUser(ids, wanted) ? { uid: wanted.uid, gid: wanted.gid } : { uid: 0, gid: 0 };
  const { cgroupsPath: _, ...linux } = spec.linux;
  return {
    ...spec,
    process: { ...spec.process, user },
    mounts,
    linux: {
      ...linux,
      namespaces,
      uidMappings,
      gidMappings,
      resources: null,
    },
  };
}

/** Merge `K=V` (or `K`, meaning unset) changes into an environment, later keys winning, order kept. */
export function mergeEnv(base: readonly string[], changes: readonly string[]): string[] {
  const map = new Map<string, string>();
  for (const e of [...base, ...changes]) {
    const i = e.indexOf("=");
    if (i <= 0) {
      if (i < 0) map.delete(e);
      continue;
    }
    map.set(e.slice(0, i), e.slice(i + 1));
  }
  return [...map].map(([k, v]) => `${k}=${v}`);
}

export interface ProcessOverrides {
  /** Replaces the image's Entrypoint; resets Cmd unless `args` are given (Docker's rule). */
  entrypoint?: string[] | undefined;
  /** Replaces the image's Cmd. */
  args?: string[] | undefined;
  env?: string[];
  cwd?: string;
  user?: string;
}

/** Entrypoint + Cmd with Docker's override rules. */
export function processArgs(config: ImageConfig | undefined, o: ProcessOverrides, what: string): string[] {
  const c = config?.config ?? {};
  const entrypoint = o.entrypoint ?? c.Entrypoint ?? [];
  const cmd = o.args && o.args.length > 0 ? o.args : o.entrypoint ? [] : (c.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new BerthError("USAGE", `${what} has no Entrypoint or Cmd, and no command was given`, {
      hint: "give the command after the image: berth run IMAGE CMD [ARG...]",
    });
  }
  return args;
}

/** The working directory: the override, the image's WorkingDir, or "/"; always absolute. */
export function processCwd(config: ImageConfig | undefined, override: string | undefined): string {
  const cwd = override || config?.config?.WorkingDir || "/";
  if (!cwd.startsWith("/")) {
    throw new BerthError("USAGE", `the working directory ${JSON.stringify(cwd)} is not an absolute path`);
  }
  return cwd;
}

/** The environment: the image's, then PATH and HOME defaults (as Docker), then the overrides. */
export function processEnv(
  config: ImageConfig | undefined,
  user: ResolvedUser,
  overrides: readonly string[] = [],
  hostname?: string,
): string[] {
  const image = config?.config?.Env ?? [];
  const has = (k: string) => [...image, ...overrides].some((e) => e.startsWith(`${k}=`));
  const defaults: string[] = [];
  if (!has("PATH")) defaults.push(`PATH=${DEFAULT_PATH}`);
  if (hostname && !has("HOSTNAME")) defaults.push(`HOSTNAME=${hostname}`);
  if (!has("HOME")) defaults.push(`HOME=${user.home ?? "/"}`);
  return mergeEnv([...defaults, ...image], overrides);
}

/**
 * Annotations per `conversion.md`: os, architecture, created, author, StopSignal and ExposedPorts as
 * `org.opencontainers.image.*`, then the labels (labels win).
 */
export function imageAnnotations(config: ImageConfig | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!config) return out;
  const p = "org.opencontainers.image.";
  if (config.os) out[`${p}os`] = config.os;
  if (config.architecture) out[`${p}architecture`] = config.architecture;
  if (config.variant) out[`${p}variant`] = config.variant;
  if (config["os.version"]) out[`${p}os.version`] = config["os.version"];
  if (config["os.features"]?.length) out[`${p}os.features`] = config["os.features"].join(",");
  if (config.author) out[`${p}author`] = config.author;
  if (config.created) out[`${p}created`] = config.created;
  const c = config.config ?? {};
  if (c.StopSignal) out[`${p}stopSignal`] = c.StopSignal;
  const ports = Object.keys(c.ExposedPorts ?? {});
  if (ports.length) out[`${p}exposedPorts`] = ports.join(",");
  for (const [k, v] of Object.entries(c.Labels ?? {})) out[k] = v;
  return out;
}
