/**
 * `runContainer`: run an image the way `docker run --rm` does. The root is an overlay over the image's
 * snapshots with a writable upper dir in the container's folder (a copy where overlayfs is not available),
 * the config is converted from the image with Docker's defaults, and the runtime's state lives under
 * `$BERTH_HOME/run/state`. The container's folder and state are removed afterwards unless `keep` is set.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import { wrapError } from "../errors.ts";
import type { ImageConfig } from "../oci/config.ts";
import type { Image } from "../oci/image.ts";
import { type ProcessResult, runBundle, type StdioOptions } from "./exec.ts";
import { unmount } from "./mount.ts";
import { type NetworkSetup, type PortMapping, publishPorts, setupNetwork } from "./network.ts";
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
  type Volume,
} from "./spec.ts";
import { disownContainerDir, makeContainerDir } from "./sweep.ts";
import { resolveInRoot, resolveUser } from "./user.ts";
import { assertUserNamespaces } from "./userns.ts";

/** Where containers live and which runtime runs them. */
export interface RuntimeContext {
  /** BERTH_HOME. */
  home: string;
  /** "runc", "crun" or a path; default: runc, else crun, found on `searchPath`. */
  runtime?: string;
  /** PATH to look for the runtime on. */
  searchPath?: string;
  /** Set when not root: rootless mode with these host ids mapped to 0. */
  rootless?: RootlessIds;
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
  cwd?: string;
  /** NAME, UID, NAME:GROUP, UID:GID…; default: the image's User. */
  user?: string;
  volumes?: Volume[];
  /** Default "default": a private network namespace with outbound access (network.ts). */
  network?: NetworkMode;
  /** Ports to publish (default network only). */
  ports?: readonly PortMapping[];
  /** Capabilities over Docker's default set and taken from it (`CAP_…` or `ALL`). */
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  hostname?: string;
  /** false: no seccomp filter (docker's `--security-opt seccomp=unconfined`); default: Docker's refusals. */
  seccomp?: boolean;
  /** Keep the container's folder (its writable layer) instead of removing it. */
  keep?: boolean;
  /** Called when a layer has to be applied (the image is not cached yet). */
  onApply?: (index: number, count: number) => void;
}

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
 * the host's).
 */
export async function etcMounts(
  dir: string,
  hostname: string,
  network: NetworkMode,
  resolvConf?: string,
): Promise<SpecMount[]> {
  const hostHosts =
    network === "host" ? await readFile("/etc/hosts", "utf8").catch(() => undefined) : undefined;
  const hosts =
    hostHosts ?? `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
  const resolv = resolvConf ?? (await readFile("/etc/resolv.conf", "utf8").catch(() => undefined));
  const files: [string, string][] = [
    ["hostname", `${hostname}\n`],
    ["hosts", hosts],
  ];
  if (resolv !== undefined) files.push(["resolv.conf", resolv]);
  const mounts: SpecMount[] = [];
  for (const [name, content] of files) {
    const p = join(dir, `etc-${name}`);
    await writeFile(p, content);
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

export async function runContainer(o: RunOptions): Promise<RunResult> {
  const runtime = await findRuntime({
    ...(o.runtime ? { want: o.runtime } : {}),
    ...(o.searchPath ? { path: o.searchPath } : {}),
  });
  const name = o.imageName ?? o.image.digest;
  const config = o.image.imageConfig();
  const args = processArgs(
    config,
    { ...(o.args ? { args: o.args } : {}), ...(o.entrypoint ? { entrypoint: o.entrypoint } : {}) },
    name,
  );
  if (o.rootless) await assertUserNamespaces();
  const snapshots = await Snapshots.open(o.home, { rootless: o.rootless !== undefined });
  const chain = await snapshots.prepare(o.image, {
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onApply ? { onApply: (i: number, n: number) => o.onApply!(i, n) } : {}),
  });
  const container = await makeContainerDir(o.home, runtime);
  const { id, dir } = container;
  const network = o.network ?? "default";
  const hostname = o.hostname ?? (network === "host" ? osHostname() : id.slice(6, 18));
  let root: Awaited<ReturnType<typeof createRoot>> | undefined;
  let net: NetworkSetup | undefined;
  let etc: Promise<SpecMount[]> | undefined;
  try {
    net = await setupNetwork({
      network,
      dir,
      rootless: o.rootless !== undefined,
      ...(o.ports ? { ports: o.ports } : {}),
      ...(o.searchPath ? { searchPath: o.searchPath } : {}),
    });
    // Written while the root is mounted (both only wait on the kernel); settled before the folder is removed.
    etc = etcMounts(dir, hostname, network, net.resolvConf);
    etc.catch(() => undefined);
    root = await createRoot(snapshots, chain, dir);
    const user = await resolveUser(root.rootfs, o.user ?? config.config?.User, name);
    const warnings: string[] = [];
    if (o.rootless && !rootlessMapsUser(o.rootless, user)) {
      warnings.push(
        `running as root in the container, not as ${user.name ?? user.uid}:${user.gid}: rootless without subordinate ids (/etc/subuid, /etc/subgid and newuidmap) maps only your own id, to root`,
      );
    }
    const spec = buildSpec({
      user,
      args,
      env: processEnv(config, user, o.env ?? [], hostname),
      cwd: processCwd(config, o.cwd),
      network,
      ...(net.hooks ? { hooks: net.hooks } : {}),
      ...(o.capAdd ? { capAdd: o.capAdd } : {}),
      ...(o.capDrop ? { capDrop: o.capDrop } : {}),
      hostname,
      volumes: [...(o.volumes ?? []), ...(await imageVolumes(config, root.rootfs, dir, o.volumes ?? []))],
      mounts: await etc,
      annotations: imageAnnotations(config),
      rootPath: root.rootfs,
      ...(o.rootless ? { rootless: o.rootless } : {}),
      ...(o.seccomp === false ? { seccomp: false } : {}),
    });
    await writeFile(join(dir, "config.json"), `${JSON.stringify(spec, null, 2)}\n`);
    // Ports are published once slirp4netns is up; a port that cannot be published ends the container.
    const abort = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, abort.signal]) : abort.signal;
    let running = true;
    const published = publishPorts(dir, o.ports ?? [], () => running).catch((err: unknown) => {
      abort.abort(err);
    });
    let result: Awaited<ReturnType<typeof runBundle>>;
    try {
      result = await runBundle(
        { runtime, stateDir: container.stateDir, bundleDir: dir, id, command: args },
        { ...o, signal },
      );
    } finally {
      running = false;
      await published;
    }
    return {
      ...result,
      id,
      runtime,
      snapshots: { mode: chain.mode, applied: chain.applied, reused: chain.reused },
      ...(o.keep ? { kept: dir } : {}),
      warnings,
    };
  } finally {
    await etc?.catch(() => undefined);
    await net?.close();
    if (root?.mounted) await unmount(root.rootfs);
    if (o.keep) await disownContainerDir(container);
    else await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
