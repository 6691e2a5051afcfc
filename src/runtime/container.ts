/**
 * `runContainer`: run an image the way `docker run --rm` does. The root is an overlay over the image's
 * snapshots with a writable upper dir in the container's folder (a copy where overlayfs is not available),
 * the config is converted from the image with Docker's defaults, and the runtime's state lives under
 * `$BERTH_HOME/run/state`. The container's folder and state are removed afterwards unless `keep` is set.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { type FileHandle, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { dirname, join, posix } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import { BerthError, wrapError } from "../errors.ts";
import type { ImageConfig } from "../oci/config.ts";
import type { Image } from "../oci/image.ts";
import { exists } from "../util/fs.ts";
import { SYSTEM_PATH, which } from "../util/which.ts";
import { type ProcessResult, runBundle, type StdioOptions } from "./exec.ts";
import { unmount } from "./mount.ts";
import {
  type HostEntry,
  type NetworkSetup,
  openExitFifo,
  type PortMapping,
  publishPorts,
  setupNetwork,
  stopNetwork,
} from "./network.ts";
import { createRoot } from "./root.ts";
import { findRuntime, type OciRuntime } from "./runtime.ts";
import type { SnapshotMode } from "./snapshots.ts";
import { Snapshots } from "./snapshots.ts";
import {
  buildSpec,
  imageAnnotations,
  type NetworkMode,
  processArgs,
  processCwd,
  processEnv,
  type RootlessIds,
  rootlessMapsUser,
  type SpecMount,
  specJson,
  type Volume,
} from "./spec.ts";
import {
  type ContainerRecord,
  checkName,
  claimName,
  type ExitRecord,
  readContainer,
  releaseName,
  writeExit,
  writeRecord,
} from "./state.ts";
import { adoptContainerDir, disownContainerDir, makeContainerDir } from "./sweep.ts";
import { resolveInRoot, resolveUser } from "./user.ts";
import { assertUserNamespaces } from "./userns.ts";

/** Where containers live and which runtime runs them. */
export interface RuntimeContext {
  /** BERTH_HOME. */
  home: string;
  /** "runc", "crun" or a path; default: runc, else crun, found on `searchPath`. */
  runtime?: string | undefined;
  /** PATH to look for the runtime on. */
  searchPath?: string | undefined;
  /** Set when not root: rootless mode with these host ids mapped to 0. */
  rootless?: RootlessIds | undefined;
}

const pexec = promisify(execFile);

export interface RunOptions extends RuntimeContext, StdioOptions {
  image: Image;
  /** How to name the image in messages. */
  imageName?: string;
  /** Replace the image's Cmd. */
  args?: string[];
  /** Replace the image's Entrypoint (and reset Cmd unless `args` are given). */
  entrypoint?: string[];
  /** `K=V` to set, `K` to unset, over the image's Env. */
  env?: string[];
  cwd?: string | undefined;
  /** NAME, UID, NAME:GROUP, UID:GID…; default: the image's User. */
  user?: string | undefined;
  volumes?: Volume[];
  /** Default "default": a private network namespace with outbound access (network.ts). */
  network?: NetworkMode;
  /** Ports to publish (default network only). */
  ports?: readonly PortMapping[];
  /** Capabilities over Docker's default set and taken from it (`CAP_…` or `ALL`). */
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  hostname?: string | undefined;
  /** false: no seccomp filter (docker's `--security-opt seccomp=unconfined`); default: Docker's refusals. */
  seccomp?: boolean;
  /** Keep the container's folder (its writable layer) and exit instead of removing it. */
  keep?: boolean;
  /** Called when a layer has to be applied (the image is not cached yet). */
  onApply?: (index: number, count: number) => void;
  /** A unique name (`--name`; docker's rule for the characters). */
  name?: string | undefined;
  /** Run tini as PID 1 (`--init`): it reaps zombies and passes signals on to the command. */
  init?: boolean;
  /** A pseudo-terminal for the process (`-t`). */
  terminal?: boolean;
  /** Run by a detached supervisor (adds the hook that tells it the process started). */
  detached?: boolean;
  /** Remove the container once it ends; default `!keep`. */
  autoRemove?: boolean;
}

/** What `Container.create` needs: everything of a run but the stdio. */
export type CreateOptions = Omit<RunOptions, keyof StdioOptions> & { signal?: AbortSignal | undefined };

export interface RunResult extends ProcessResult {
  id: string;
  runtime: OciRuntime;
  /** How the root was made: the snapshot mode, and how many layers had to be applied now. */
  snapshots: { mode: SnapshotMode; applied: number; reused: number };
  /** The container's folder when `keep` was set (its `upper/`, or `rootfs/` for a copy, holds the changes). */
  kept?: string;
  /** Things the caller should be told (a rootless run that could not map the image's user). */
  warnings: string[];
}

/**
 * Files Docker provides in every container: /etc/hostname, /etc/hosts, /etc/resolv.conf (`resolvConf`, else
 * the host's), with `--add-host`'s lines after the others. `buildkit`: /etc/hosts as BuildKit's executor writes
 * it for a RUN (executor/oci/hosts.go: the hostname on localhost's line, no line of its own).
 */
export async function etcMounts(
  dir: string,
  hostname: string,
  network: NetworkMode,
  resolvConf?: string,
  extraHosts: readonly HostEntry[] = [],
  buildkit = false,
): Promise<SpecMount[]> {
  const hostHosts =
    network === "host" ? await readFile("/etc/hosts", "utf8").catch(() => undefined) : undefined;
  const own = buildkit
    ? `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`
    : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
  const hosts = (hostHosts ?? own) + extraHosts.map((e) => `${e.ip}\t${e.host}\n`).join("");
  const resolv = resolvConf ?? (await readFile("/etc/resolv.conf", "utf8").catch(() => undefined));
  const files: [string, string][] = [
    ["hostname", `${hostname}\n`],
    ["hosts", hosts],
  ];
  if (resolv !== undefined) files.push(["resolv.conf", resolv]);
  const mounts: SpecMount[] = [];
  for (const [name, content] of files) {
    const p = join(dir, `etc-${name}`);
    // synchronous: a small file each, before the runtime starts (a trip through libuv's pool each otherwise)
    writeFileSync(p, content);
    mounts.push({ destination: `/etc/${name}`, type: "bind", source: p, options: ["rbind", "rprivate"] });
  }
  return mounts;
}

/**
 * Docker's anonymous volumes for the image's `Volumes`: each path not given a volume by the caller gets a new
 * folder in the container's folder, holding a copy of what the image has there (owner and mode too), bound
 * over it. They go with the container's folder (`--rm`), or stay in it (`keep`).
 */
async function imageVolumes(
  config: ImageConfig,
  rootfs: string,
  dir: string,
  given: readonly Volume[],
): Promise<Volume[]> {
  const paths = Object.keys(config.config?.Volumes ?? {}).map((p) => posix.normalize(`/${p}`));
  const taken = new Set(given.map((v) => posix.normalize(v.destination)));
  const volumes: Volume[] = [];
  for (const [i, path] of paths.entries()) {
    if (path === "/" || taken.has(path)) continue;
    const source = join(dir, "volumes", String(i));
    await mkdir(dirname(source), { recursive: true });
    const inImage = await resolveInRoot(rootfs, path);
    if (inImage && (await stat(inImage)).isDirectory()) {
      await pexec("cp", ["-a", "--reflink=auto", inImage, source]).catch((err: unknown) => {
        throw wrapError(`copying the image's ${path} into its volume`, err);
      });
    } else {
      await mkdir(source, { mode: 0o755 });
    }
    volumes.push({ source, destination: path, readonly: false });
  }
  return volumes;
}

/** `--init`'s init: tini, statically linked (it runs in any image), bound read-only at `/dev/init`. */
const INIT_PATH = "/dev/init";

async function findInit(searchPath: string | undefined): Promise<string> {
  const found = await which("tini-static", searchPath || SYSTEM_PATH);
  if (found) return found;
  throw new BerthError(
    "RUNTIME_NOT_FOUND",
    "--init needs tini-static (a static tini), which is not installed",
    {
      hint: "install it (Debian/Ubuntu: apt-get install tini; Fedora: dnf install tini-static)",
    },
  );
}

/** The record of a container being created (state.ts): what `ps`, `logs` and the supervisor read. */
function newRecord(
  o: CreateOptions,
  c: {
    id: string;
    name: string;
    command: string[];
    runtime: OciRuntime;
    stateDir: string;
    config: ImageConfig;
  },
): ContainerRecord {
  return {
    schemaVersion: 1,
    id: c.id,
    ...(o.name !== undefined ? { name: o.name } : {}),
    image: c.name,
    imageDigest: o.image.digest,
    command: c.command,
    created: new Date().toISOString(),
    runtime: c.runtime,
    stateDir: c.stateDir,
    detached: o.detached === true,
    autoRemove: o.autoRemove ?? !o.keep,
    terminal: o.terminal === true,
    ...(c.config.config?.StopSignal ? { stopSignal: c.config.config.StopSignal } : {}),
    network: o.network ?? "default",
    ports: [...(o.ports ?? [])],
    mounted: false,
  };
}

/**
 * The container's config.json, from the image's config and the options over it (user resolved in the mounted
 * root, env, mounts, hooks, volumes). Returns the warnings for the caller.
 */
async function writeSpec(
  o: CreateOptions,
  c: {
    dir: string;
    name: string;
    command: string[];
    hostname: string;
    init: string | undefined;
    rootfs: string;
    net: NetworkSetup;
    etc: Promise<SpecMount[]>;
  },
): Promise<string[]> {
  const config = o.image.imageConfig();
  const user = await resolveUser(c.rootfs, o.user ?? config.config?.User, c.name);
  const warnings: string[] = [];
  if (o.rootless && !rootlessMapsUser(o.rootless, user)) {
    warnings.push(
      `running as root in the container, not as ${user.name ?? user.uid}:${user.gid}: rootless without subordinate ids (/etc/subuid, /etc/subgid and newuidmap) maps only your own id, to root`,
    );
  }
  const env = processEnv(config, user, o.env ?? [], c.hostname);
  // docker's TERM for a terminal, unless the image or the caller set one
  if (o.terminal && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  const mounts = await c.etc;
  if (c.init) {
    mounts.push({
      destination: INIT_PATH,
      type: "bind",
      source: c.init,
      options: ["bind", "ro", "nosuid", "nodev", "rprivate"],
    });
  }
  // A detached container's supervisor learns from this hook that the process has started.
  const poststart = o.detached
    ? [{ path: "/bin/sh", args: ["sh", "-c", ': >"$1"', "sh", join(c.dir, STARTED)] }]
    : undefined;
  const hooks = c.net.hooks || poststart ? { ...c.net.hooks, poststart } : undefined;
  const spec = buildSpec({
    user,
    args: c.init ? [INIT_PATH, "--", ...c.command] : c.command,
    env,
    cwd: processCwd(config, o.cwd),
    network: o.network ?? "default",
    hooks,
    capAdd: o.capAdd,
    capDrop: o.capDrop,
    hostname: c.hostname,
    volumes: [...(o.volumes ?? []), ...(await imageVolumes(config, c.rootfs, c.dir, o.volumes ?? []))],
    mounts,
    annotations: imageAnnotations(config),
    rootPath: c.rootfs,
    rootless: o.rootless,
    ...(o.seccomp === false ? { seccomp: false } : {}),
    ...(o.terminal ? { terminal: true } : {}),
  });
  await writeFile(join(c.dir, "config.json"), specJson(spec));
  return warnings;
}

/**
 * A container made from an image, its folder, name and record in place (state.ts): `create` prepares it
 * (root, network, config.json), `run` runs it in the foreground of the calling process, `finish` cleans up
 * once it has ended (removed, or kept with its exit). A detached container is created by `berth run -d`,
 * then `attach`ed and run by a detached supervisor process.
 */
export class Container {
  readonly record: ContainerRecord;
  readonly dir: string;
  readonly home: string;
  readonly runtime: OciRuntime;
  /** Things the caller should be told (a rootless run that could not map the image's user). */
  readonly warnings: string[];
  readonly snapshots: RunResult["snapshots"];
  #exitFd: FileHandle | undefined;

  private constructor(
    home: string,
    dir: string,
    record: ContainerRecord,
    exitFd: FileHandle | undefined,
    warnings: string[] = [],
    snapshots: RunResult["snapshots"] = { mode: "overlay", applied: 0, reused: 0 },
  ) {
    this.home = home;
    this.dir = dir;
    this.record = record;
    this.runtime = record.runtime;
    this.#exitFd = exitFd;
    this.warnings = warnings;
    this.snapshots = snapshots;
  }

  get id(): string {
    return this.record.id;
  }

  static async create(o: CreateOptions): Promise<Container> {
    const runtime = await findRuntime({
      want: o.runtime || undefined,
      path: o.searchPath || undefined,
    });
    const name = o.imageName ?? o.image.digest;
    const config = o.image.imageConfig();
    const command = processArgs(config, { args: o.args, entrypoint: o.entrypoint }, name);
    if (o.name !== undefined) checkName(o.name);
    const init = o.init ? await findInit(o.searchPath) : undefined;
    if (o.rootless) await assertUserNamespaces();
    const snapshots = await Snapshots.open(o.home, { rootless: o.rootless !== undefined });
    const chain = await snapshots.prepare(o.image, {
      signal: o.signal,
      ...(o.onApply ? { onApply: (i: number, n: number) => o.onApply!(i, n) } : {}),
    });
    const container = await makeContainerDir(o.home, runtime);
    const { id, dir } = container;
    const record = newRecord(o, { id, name, command, runtime, stateDir: container.stateDir, config });
    const hostname = o.hostname ?? (record.network === "host" ? osHostname() : id.slice(6, 18));
    let root: Awaited<ReturnType<typeof createRoot>> | undefined;
    let net: NetworkSetup | undefined;
    let etc: Promise<SpecMount[]> | undefined;
    let named = false;
    try {
      // Claimed with a record in place: another berth claiming the name sees a live container.
      await writeRecord(dir, record);
      if (o.name !== undefined) {
        await claimName(o.home, o.name, id);
        named = true;
      }
      net = await setupNetwork({
        network: record.network,
        dir,
        rootless: o.rootless !== undefined,
        ports: o.ports,
        searchPath: o.searchPath || undefined,
      });
      // Written while the root is mounted (both only wait on the kernel); settled before the folder is removed.
      etc = etcMounts(dir, hostname, record.network, net.resolvConf);
      etc.catch(() => undefined);
      root = await createRoot(snapshots, chain, dir);
      record.mounted = root.mounted;
      const warnings = await writeSpec(o, {
        dir,
        name,
        command,
        hostname,
        init,
        rootfs: root.rootfs,
        net,
        etc,
      });
      await writeRecord(dir, record);
      // Opened by setupNetwork, held by whoever runs the container (attach opens its own).
      return new Container(o.home, dir, record, net.exitFd, warnings, {
        mode: chain.mode,
        applied: chain.applied,
        reused: chain.reused,
      });
    } catch (err) {
      await etc?.catch(() => undefined);
      await net?.close();
      if (root?.mounted) await unmount(root.rootfs);
      if (named) await releaseName(o.home, o.name, id);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Take over a created container as its runner (the detached supervisor): it becomes the folder's owner. */
  static async attach(home: string, dir: string): Promise<Container> {
    const info = await readContainer(dir);
    if (!info) throw new BerthError("CONTAINER_NOT_FOUND", `${dir} holds no container`);
    await adoptContainerDir(dir);
    const exitFd = info.record.network === "default" ? await openExitFifo(dir) : undefined;
    return new Container(home, dir, info.record, exitFd);
  }

  /**
   * Run the container in the foreground and wait for it. Ports are published once slirp4netns is up; a
   * port that cannot be published ends the container. `onStarted` (detached containers) is called once
   * the process runs and its ports are published.
   */
  async run(o: StdioOptions & { onStarted?: () => void } = {}): Promise<ProcessResult> {
    const abort = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, abort.signal]) : abort.signal;
    let running = true;
    const published = publishPorts(this.dir, this.record.ports, () => running).catch((err: unknown) => {
      abort.abort(err);
    });
    const started = o.onStarted
      ? (async () => {
          while (running && !(await exists(join(this.dir, STARTED)))) await delay(20);
          await published;
          if (running && !signal.aborted) o.onStarted!();
        })()
      : undefined;
    try {
      return await runBundle(
        {
          runtime: this.runtime,
          stateDir: this.record.stateDir,
          bundleDir: this.dir,
          id: this.id,
          command: this.record.command,
        },
        { ...o, signal },
      );
    } finally {
      running = false;
      await published;
      await started;
    }
  }

  /**
   * Clean up once the container has ended: its network stopped, its root unmounted, then its folder and name
   * removed (`autoRemove`), or kept with `exit` recorded (ps -a, logs, rm).
   */
  async finish(exit?: ExitRecord): Promise<void> {
    await this.#exitFd?.close().catch(() => undefined);
    this.#exitFd = undefined;
    await stopNetwork(this.dir);
    if (this.record.mounted) await unmount(join(this.dir, "rootfs"));
    if (this.record.autoRemove) {
      await releaseName(this.home, this.record.name, this.id);
      await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
      return;
    }
    await writeExit(this.dir, exit ?? { exitCode: 255, finishedAt: new Date().toISOString() });
    await disownContainerDir({ id: this.id, dir: this.dir, stateDir: this.record.stateDir });
  }

  /** Close this process's hold on the container without ending it (handed over to its supervisor). */
  async release(): Promise<void> {
    await this.#exitFd?.close().catch(() => undefined);
    this.#exitFd = undefined;
  }
}

const STARTED = "started";

/** Run an image the way `docker run --rm` does (`keep`: kept, with its exit, until `berth rm`). */
export async function runContainer(o: RunOptions): Promise<RunResult> {
  const c = await Container.create(o);
  let exit: ExitRecord | undefined;
  try {
    const result = await c.run(o);
    exit = { exitCode: result.exitCode, finishedAt: new Date().toISOString() };
    return {
      ...result,
      id: c.id,
      runtime: c.runtime,
      snapshots: c.snapshots,
      ...(c.record.autoRemove ? {} : { kept: c.dir }),
      warnings: c.warnings,
    };
  } finally {
    await c.finish(exit);
  }
}
