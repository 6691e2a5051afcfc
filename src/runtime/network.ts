/**
 * The default network of containers and build steps: a private network namespace with outbound access,
 * connected by `slirp4netns` (as rootless podman and rootlesskit do). The runtime creates the namespace; a
 * `createRuntime` hook (run by runc/crun on the host once the container's namespaces exist, before its
 * process starts) starts slirp4netns on it and returns once it is up. slirp4netns relays the namespace's
 * outbound TCP/UDP through host sockets, never to the host's loopback (`--disable-host-loopback`), answers
 * DNS on 10.0.2.3, and publishes `-p` ports through its API socket. Its pid is written to the container's
 * folder; `stopNetwork` ends it when the container is gone (and the sweep for containers of a killed berth).
 */

import { constants } from "node:fs";
import { access, type FileHandle, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BerthError, wrapError } from "../errors.ts";
import { SYSTEM_PATH, which } from "../util/which.ts";

/**
 * node:child_process and node:net (with ~30 more of Node's modules) loaded when a container's network is set up,
 * not by the parsers a build uses (`parseNetworkMode`).
 */
async function pexec(file: string, args: readonly string[]): Promise<unknown> {
  const { execFile } = await import("node:child_process");
  return promisify(execFile)(file, args);
}

/** A dotted-quad IPv4 address, as node:net's `isIPv4` has it (each part 0–255, no leading zeros). */
const IPV4_PART = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])";
const IPV4 = new RegExp(`^(?:${IPV4_PART}\\.){3}${IPV4_PART}$`);

/** `default`: private namespace with outbound access; `host`: the host's; `none`: a new, empty one. */
export type NetworkMode = "default" | "host" | "none";

/** A published port: `-p [IP:]HOST:CONTAINER[/udp]`. */
export interface PortMapping {
  protocol: "tcp" | "udp";
  /** The host address to bind; undefined: every address (docker's 0.0.0.0). */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
}

/** An OCI runtime hook. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** Parse a network mode; docker's `bridge` and BuildKit's `default` both mean the private one. */
export function parseNetworkMode(text: string, flag = "--network"): NetworkMode {
  if (text === "default" || text === "bridge" || text === "private") return "default";
  if (text === "host" || text === "none") return text;
  throw new BerthError("USAGE", `${flag} must be default, host or none, not ${JSON.stringify(text)}`);
}

function port(text: string, what: string, spec: string): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 65535)) {
    throw new BerthError("USAGE", `-p ${JSON.stringify(spec)}: the ${what} port must be 1 to 65535`, {
      hint: "publish as -p [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], e.g. -p 127.0.0.1:8080:80",
    });
  }
  return n;
}

/** A line `--add-host` adds to a container's /etc/hosts. */
export interface HostEntry {
  host: string;
  ip: string;
}

/**
 * docker's `--add-host HOST:IP` (or `HOST=IP`; an IPv6 address after the first separator). docker's
 * `host-gateway` (the daemon's bridge address, which reaches the host's services) is refused: berth's private
 * network (slirp4netns) keeps the host out, and `--network host` reaches it at 127.0.0.1.
 */
export function parseAddHost(spec: string): HostEntry {
  const eq = spec.indexOf("=");
  const at = eq >= 0 ? eq : spec.indexOf(":");
  const host = at < 0 ? "" : spec.slice(0, at);
  const ip = at < 0 ? "" : spec.slice(at + 1).replace(/^\[(.*)\]$/, "$1");
  if (!host || !ip) {
    throw new BerthError("USAGE", `--add-host ${JSON.stringify(spec)} is not HOST:IP`, {
      hint: "as --add-host db.internal:10.0.0.5 (or db.internal=10.0.0.5)",
    });
  }
  if (!/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(host)) {
    throw new BerthError(
      "USAGE",
      `--add-host ${JSON.stringify(spec)}: ${JSON.stringify(host)} is not a host name`,
    );
  }
  if (ip === "host-gateway") {
    throw new BerthError(
      "USAGE",
      `--add-host ${JSON.stringify(spec)}: berth's build network has no gateway to the host (host-gateway is docker's bridge address)`,
      {
        hint: "give the host's address on another interface, or use --network host, where the host is 127.0.0.1",
      },
    );
  }
  const v6 =
    /^[0-9A-Fa-f:.]+$/.test(ip) && ip.includes(":") && (ip.includes("::") || ip.split(":").length === 8);
  if (!IPV4.test(ip) && !v6) {
    throw new BerthError(
      "USAGE",
      `--add-host ${JSON.stringify(spec)}: ${JSON.stringify(ip)} is not an IP address`,
    );
  }
  return { host, ip };
}

/** docker's `-p [IP:]HOST:CONTAINER[/tcp|/udp]`; the IP is an IPv4 address. */
export function parsePublish(spec: string): PortMapping {
  let rest = spec;
  let protocol: "tcp" | "udp" = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") {
      throw new BerthError("USAGE", `-p ${JSON.stringify(spec)}: the protocol must be tcp or udp`);
    }
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1]!;
    rest = v6[2]!;
  }
  const parts = rest.split(":");
  if (!v6 && parts.length === 3) hostIp = parts.shift()!;
  if (parts.length !== 2) {
    throw new BerthError("USAGE", `-p ${JSON.stringify(spec)} is not [IP:]HOST_PORT:CONTAINER_PORT`, {
      hint: "publish as -p [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], e.g. -p 127.0.0.1:8080:80",
    });
  }
  if (hostIp !== undefined && hostIp !== "" && !IPV4.test(hostIp)) {
    throw new BerthError(
      "USAGE",
      `-p ${JSON.stringify(spec)}: ${JSON.stringify(hostIp)} is not an IPv4 address (slirp4netns publishes on IPv4)`,
    );
  }
  const out: PortMapping = {
    protocol,
    hostPort: port(parts[0]!, "host", spec),
    containerPort: port(parts[1]!, "container", spec),
  };
  if (hostIp && hostIp !== "0.0.0.0" && hostIp !== "::") out.hostIp = hostIp;
  return out;
}

/** slirp4netns, found on `searchPath`; a clear error naming the package when it is missing. */
async function findSlirp(searchPath: string | undefined): Promise<string> {
  const found = await which("slirp4netns", searchPath || SYSTEM_PATH);
  if (found) return found;
  throw new BerthError(
    "RUNTIME_NOT_FOUND",
    "the default network (a private namespace with outbound access) needs slirp4netns, which is not installed",
    {
      hint: "install it (Debian/Ubuntu: apt-get install slirp4netns; Fedora: dnf install slirp4netns), or choose --network none (no network) or --network host (the host's, loopback included)",
    },
  );
}

/** slirp4netns's fixed addresses: the container's, and its DNS forwarder (to the host's resolvers). */
const GUEST_ADDRESS = "10.0.2.100";
const DNS_ADDRESS = "10.0.2.3";

/**
 * The container's resolv.conf for the private network: slirp4netns's DNS forwarder (which asks the host's
 * resolvers, wherever they are, loopback included), with the host's search domains and options.
 */
export function privateResolvConf(host: string | undefined): string {
  const kept = (host ?? "").split("\n").filter((l) => /^\s*(search|domain|options)\s/.test(l));
  return [`nameserver ${DNS_ADDRESS}`, ...kept, ""].join("\n");
}

/**
 * The hook's script. The runtime passes the container's state (JSON with its `pid`) on stdin; the script
 * opens the namespaces of that pid (as the runtime's child it may) and starts slirp4netns on them in the
 * background, its output in a log file, never on the runtime's pipes (a daemon holding them would keep the
 * runtime waiting), then waits on a fifo for slirp4netns's ready byte: the hook returns with the network up.
 * Its exit fd is the read end of another fifo (`slirp.exit`) that only berth holds open for writing:
 * slirp4netns ends when berth closes it, or dies however it dies. It also ends with the container's process:
 * a watcher (a shell loop, polling every 0.1 s: a process cannot wait for one that is not its child) stops it
 * once that pid no longer has the container's network namespace (none where that cannot be seen from the hook
 * at the start). crun needs this: `crun run` is a child
 * subreaper that waits until every descendant has exited, slirp4netns (orphaned by the hook) included,
 * while berth closes the fifo only once crun has exited.
 * $1: the container's folder, $2: "rootless" or "root", then slirp4netns's command line.
 */
const HOOK_SCRIPT = [
  'dir=$1; mode=$2; shift 2; state=""',
  "IFS= read -r state || true",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  'pid=${state#*\\"pid\\":}; pid=${pid# }; pid=${pid%%[!0-9]*}',
  'if [ -z "$pid" ]; then echo "berth: no pid in the runtime state" >&2; exit 1; fi',
  'exec 3<"/proc/$pid/ns/net" || exit 1',
  'if [ "$mode" = rootless ]; then exec 4<"/proc/$pid/ns/user" || exit 1; set -- "$@" --userns-path=/proc/self/fd/4; fi',
  'rm -f "$dir/slirp.ready"; mkfifo -m 600 "$dir/slirp.ready" || exit 1',
  'BERTH_CONTAINER_DIR=$dir "$@" --ready-fd=5 --exit-fd=6 --netns-type=path /proc/self/fd/3 tap0 5>"$dir/slirp.ready" 6<"$dir/slirp.exit" >"$dir/slirp.log" 2>&1 </dev/null &',
  'slirp=$!; echo $slirp >"$dir/slirp.pid"',
  'ok=""; IFS= read -r ok <"$dir/slirp.ready" || true',
  'if [ "$ok" = 1 ]; then',
  '  w="[ /proc/$pid/ns/net -ef /proc/self/fd/3 ]"',
  '  if eval "$w"; then (while eval "$w"; do sleep 0.1; done; kill "$slirp") </dev/null >/dev/null 2>&1 & fi',
  "  exit 0",
  "fi",
  'while IFS= read -r l; do printf "%s\\n" "$l" >&2; done <"$dir/slirp.log"; exit 1',
].join("\n");

export interface SlirpOptions {
  slirp: string;
  /** The container's folder: slirp4netns's pid, log, ready fifo and API socket go there. */
  dir: string;
  /** Ports to publish: the API socket is opened for them. */
  ports?: readonly PortMapping[] | undefined;
  rootless: boolean;
}

/** slirp4netns's arguments: a private namespace with outbound access and no way to the host's loopback. */
function slirpArgs(o: SlirpOptions): string[] {
  const args = [o.slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-seccomp"];
  if ((o.ports?.length ?? 0) > 0) args.push(`--api-socket=${apiSocket(o.dir)}`);
  return args;
}

function apiSocket(dir: string): string {
  return join(dir, "slirp.sock");
}

/** The `createRuntime` hook that connects the container's new network namespace with slirp4netns. */
function slirpHook(o: SlirpOptions): Hook {
  return {
    path: "/bin/sh",
    args: ["sh", "-c", HOOK_SCRIPT, "sh", o.dir, o.rootless ? "rootless" : "root", ...slirpArgs(o)],
    env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
  };
}

/** End the slirp4netns of a container's folder, if one runs (checked by its environment: pids are reused). */
export async function stopNetwork(dir: string): Promise<void> {
  const text = await readFile(join(dir, "slirp.pid"), "utf8").catch(() => "");
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
  if (!environ.split("\0").includes(`BERTH_CONTAINER_DIR=${dir}`)) return;
  // Through kill(1): slirp4netns is the hook's child, not berth's, and only the CLI touches `process`.
  await pexec("kill", ["-TERM", String(pid)]).catch(() => undefined);
}

/** One request on slirp4netns's API socket. */
async function slirpRequest(
  socket: string,
  body: unknown,
): Promise<{ return?: unknown; error?: { desc?: string } }> {
  const { createConnection } = await import("node:net");
  return new Promise((resolvePromise, reject) => {
    const c = createConnection(socket);
    let data = "";
    c.on("connect", () => c.end(JSON.stringify(body)));
    c.on("data", (d) => {
      data += d;
    });
    c.on("error", reject);
    c.on("close", () => {
      try {
        resolvePromise(JSON.parse(data || "{}"));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * Publish `ports` through the API socket of the container's slirp4netns once it is up (the hook creates the
 * socket before the container's process starts). Waits for the socket while `running()` says the container
 * is still starting or running.
 */
export async function publishPorts(
  dir: string,
  ports: readonly PortMapping[],
  running: () => boolean,
): Promise<void> {
  if (ports.length === 0) return;
  const socket = apiSocket(dir);
  for (;;) {
    const ready = await readFile(join(dir, "slirp.pid"), "utf8").catch(() => "");
    if (
      ready &&
      (await access(socket).then(
        () => true,
        () => false,
      ))
    )
      break;
    if (!running()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const p of ports) {
    const r = await slirpRequest(socket, {
      execute: "add_hostfwd",
      arguments: {
        proto: p.protocol,
        host_addr: p.hostIp ?? "0.0.0.0",
        host_port: p.hostPort,
        guest_addr: GUEST_ADDRESS,
        guest_port: p.containerPort,
      },
    });
    if (r.error || r.return === undefined) {
      throw new BerthError(
        "RUNTIME_FAILED",
        `publishing ${p.hostIp ?? "0.0.0.0"}:${p.hostPort} to the container's port ${p.containerPort}/${p.protocol} failed: ${r.error?.desc ?? "no answer"}`,
        { hint: "is the host port taken already? choose another with -p" },
      );
    }
  }
}

export interface NetworkSetup {
  /** For the runtime spec (the slirp4netns hook), when the network is the default one. */
  hooks?: { createRuntime: Hook[] };
  /** Ends slirp4netns (closes berth's end of its exit fifo, then signals it); call when the container is gone. */
  close: () => Promise<void>;
  /** The container's /etc/resolv.conf; undefined: the host's (host network) or none (no network). */
  resolvConf?: string;
  /** berth's end of slirp4netns's exit fifo (default network): slirp4netns runs while it is open. */
  exitFd?: FileHandle;
}

/** Open (read-write: no waiting for a reader) the exit fifo of a container's slirp4netns, to hold it open. */
export async function openExitFifo(dir: string): Promise<FileHandle> {
  return open(join(dir, "slirp.exit"), constants.O_RDWR);
}

/**
 * What a container in `network` needs beyond its namespace: for the default network, slirp4netns (found on
 * `searchPath`) in a hook, and a resolv.conf naming its DNS forwarder.
 */
export async function setupNetwork(o: {
  network: NetworkMode;
  dir: string;
  ports?: readonly PortMapping[] | undefined;
  rootless: boolean;
  searchPath?: string | undefined;
}): Promise<NetworkSetup> {
  if ((o.ports?.length ?? 0) > 0 && o.network !== "default") {
    throw new BerthError(
      "USAGE",
      `-p publishes ports of the default network, not of --network ${o.network}`,
      {
        hint:
          o.network === "host"
            ? "with --network host the container's ports are the host's already"
            : undefined,
      },
    );
  }
  if (o.network !== "default") return { close: async () => undefined };
  const slirp = await findSlirp(o.searchPath);
  if (o.rootless) {
    // slirp4netns opens the tun device as the caller, from inside the container's user namespace.
    await access("/dev/net/tun", constants.R_OK | constants.W_OK).catch(() => {
      throw new BerthError(
        "RUNTIME_FAILED",
        "the default network needs /dev/net/tun, which this user may not open (rootless slirp4netns creates its interface there)",
        {
          hint: "make it usable as Debian's udev does (chmod 0666 /dev/net/tun), or choose --network none (no network) or --network host (the host's, loopback included)",
        },
      );
    });
  }
  const resolv = privateResolvConf(await readFile("/etc/resolv.conf", "utf8").catch(() => undefined));
  const hook = slirpHook({ slirp, dir: o.dir, rootless: o.rootless, ports: o.ports });
  // Opened read-write, which does not wait for a reader: berth is then the fifo's only writer.
  const exitFifo = join(o.dir, "slirp.exit");
  await pexec("mkfifo", ["-m", "600", exitFifo]).catch((err: unknown) => {
    throw wrapError(`making the fifo ${exitFifo}`, err);
  });
  const exitFd = await openExitFifo(o.dir);
  return {
    hooks: { createRuntime: [hook] },
    resolvConf: resolv,
    exitFd,
    close: async () => {
      await exitFd.close().catch(() => undefined);
      await stopNetwork(o.dir);
    },
  };
}
