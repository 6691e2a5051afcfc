/**
 * `run(image, options)`: what `berth run` does, with its flags as options (the same defaults and errors):
 * the image opened (a bare reference or `docker://REF` from the local store, pulled into it when missing),
 * a container made from it (runc or crun, a private network by default), run, and cleaned up.
 * `createContainer` is the first half, for callers that run it themselves (the CLI's `-d`).
 */
import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { resolve } from "node:path";
import { BerthError } from "../errors.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import { parsePlatform } from "../oci/platform.ts";
import { Store } from "../oci/store.ts";
// The modules themselves, not runtime/index.ts: `berth run` then loads neither the sandbox nor the layer
// engine.
import { emulationOptions, ensureEmulation } from "../runtime/binfmt.ts";
import { Container } from "../runtime/container.ts";
import type { ProcessResult, StdioOptions } from "../runtime/exec.ts";
import { parseNetworkMode, parsePublish } from "../runtime/network.ts";
import { capabilityName, type RootlessIds, type Volume } from "../runtime/spec.ts";
import type { ExitRecord } from "../runtime/state.ts";
import { subordinateIds } from "../runtime/userns.ts";
import { openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../transport/parse.ts";
import { type Host, type HostOptions, hostOf, withShared } from "./host.ts";
import { type PullPolicy, parsePullPolicy, pullIntoStore } from "./pull.ts";

export { type PullPolicy, parsePullPolicy } from "./pull.ts";

/** `berth run`'s flags as options. */
export interface RunImageOptions extends HostOptions {
  /** The command and its arguments, replacing the image's Cmd (`berth run IMAGE CMD…`). */
  cmd?: string[];
  /** Replace the image's Entrypoint (and its Cmd, unless `cmd` is given): `--entrypoint`. */
  entrypoint?: string | undefined;
  /**
   * `K=V` to set, `K` alone to take K from `hostEnv` (-e); or a record. Over `envFiles`' (docker's order).
   */
  env?: string[] | Record<string, string>;
  /** docker's `--env-file`s: `K=V` a line, relative to `cwd`. */
  envFiles?: string[];
  /** `HOST:CONTAINER[:ro|rw]` bind mounts, HOST relative to `cwd` (-v). */
  volumes?: string[];
  /** Working directory in the container (-w). */
  workdir?: string | undefined;
  /** NAME, UID, NAME:GROUP, UID:GID… (-u); default the image's User. */
  user?: string | undefined;
  /** "default" (a private network with outbound access, not the host's loopback), "host" or "none". */
  network?: string;
  /**
   * docker's `-p [IP:]HOST:CTR[/udp]` (default network only; with "host" they are dropped with a warning).
   */
  publish?: string[];
  capAdd?: string[];
  capDrop?: string[];
  hostname?: string | undefined;
  /** docker's `--security-opt`: only `seccomp=unconfined` (no seccomp filter). */
  securityOpt?: string[];
  /** From a multi-platform image, this platform's (os/arch[/variant]); default this machine's. */
  platform?: string | undefined;
  /** When a registry image is pulled into the store: "missing" (default), "always", "never". */
  pull?: PullPolicy | string;
  /** A unique name for the container (berth ps, stop, logs, exec, rm take it). */
  name?: string | undefined;
  /** Run tini as PID 1 (--init). */
  init?: boolean;
  /** Give the container a pseudo-terminal (-t; the output then goes to `stdoutFd`/`stderrFd`). */
  tty?: boolean;
  /** Keep the container (its writable layer and exit) until berth rm; default: removed when it ends. */
  keep?: boolean;
}

/** Where a container's input and output go (`run` only). */
export interface RunStdio {
  /** A stream or file descriptor for the container's stdin; default none (/dev/null). */
  stdin?: StdioOptions["stdin"];
  /** Each chunk of output as it comes; the result keeps the last 16 KiB of each anyway. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** File descriptors for the output instead (a terminal, with `tty`). */
  stdoutFd?: number;
  stderrFd?: number;
  /** Aborting kills the container (SIGKILL); `run` then rejects with the reason, after cleaning up. */
  signal?: AbortSignal | undefined;
  /** Signals to pass to the container's process (the CLI forwards Ctrl-C and SIGTERM). */
  forwardSignals?: StdioOptions["forwardSignals"];
  /** Start the runtime in a session of its own (a terminal's Ctrl-C then reaches only the caller). */
  ownSession?: boolean;
}

/** What a run ended with. */
export interface RunImageResult {
  /** The container's id. */
  id: string;
  /** The command's exit code (128+n when signal n killed it; 126/127 when it could not be run). */
  exitCode: number;
  signal: NodeJS.Signals | undefined;
  /** The last 16 KiB of its output. */
  stdout: string;
  stderr: string;
  /** The container's folder, when `keep` kept it (berth rm removes it). */
  kept?: string;
  /** Things to tell the user (a rootless run that could not map the image's user, a -p with host network). */
  warnings: string[];
  runtime: string;
  snapshots: { mode: string; applied: number; reused: number };
}

/**
 * Open an image argument and select this platform's image. As `docker run` does, a bare reference or
 * `docker://REF` runs from the local store, pulled into it first when it is not there (`pull` "missing"),
 * every time ("always") or never; other transports are read in place.
 */
export async function openRunImage(
  host: Host,
  text: string,
  platform: string | undefined,
  pull: PullPolicy = "missing",
): Promise<{ image: Image; name: string; close: () => Promise<void> }> {
  const given = parseImageArgument(text);
  const arg: ImageArgument =
    given.transport === "docker" ? { transport: "store", ref: given.ref, text: given.ref } : given;
  const wanted = platform ? parsePlatform(platform) : undefined;
  if (arg.transport === "store" && pull === "always") await pullIntoStore(host, arg.ref, wanted);
  let opened: Awaited<ReturnType<typeof openSource>>;
  try {
    opened = await openSource(arg, host.ctx);
  } catch (err) {
    if (!(err instanceof BerthError && err.code === "IMAGE_NOT_FOUND" && arg.transport === "store"))
      throw err;
    if (pull !== "missing") {
      throw new BerthError("IMAGE_NOT_FOUND", `no image ${arg.ref} in the local store (--pull ${pull})`, {
        cause: err,
        hint: `pull it first: berth pull ${arg.ref}`,
      });
    }
    host.info(`berth: no image ${Store.normalize(arg.ref)} in the local store, pulling it`);
    await pullIntoStore(host, arg.ref, wanted);
    opened = await openSource(arg, host.ctx);
  }
  try {
    const root = await loadRoot(opened.source, opened.root);
    const image = await selectImage(root, wanted);
    return { image, name: text, close: opened.close };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/**
 * Whether docker's `--security-opt` values turn seccomp off; the only one berth takes is seccomp=unconfined.
 */
export function seccompOff(values: readonly string[]): boolean {
  for (const v of values) {
    if (v !== "seccomp=unconfined" && v !== "seccomp:unconfined") {
      throw new BerthError(
        "USAGE",
        `--security-opt ${JSON.stringify(v)} is not supported (only seccomp=unconfined)`,
      );
    }
  }
  return values.length > 0;
}

/** The caller's ids when not root (rootless mode). */
export function rootlessIds(host: Pick<Host, "uid" | "gid">): RootlessIds | undefined {
  return host.uid === 0 ? undefined : { uid: host.uid, gid: host.gid };
}

/**
 * `rootlessIds` plus the caller's subordinate ranges (/etc/subuid, /etc/subgid) when newuidmap/newgidmap are
 * installed: the container can then run as the image's non-root user.
 */
async function rootlessIdsWithSubordinates(host: Host): Promise<RootlessIds | undefined> {
  const ids = rootlessIds(host);
  if (!ids) return undefined;
  let name: string | undefined;
  try {
    const u = userInfo();
    name = u.uid === ids.uid ? u.username : undefined;
  } catch {
    name = undefined; // no passwd entry for this uid: /etc/subuid may still name it by number
  }
  const sub = await subordinateIds(
    name,
    ids.uid,
    ids.gid,
    host.searchPath || "/usr/sbin:/usr/bin:/sbin:/bin",
  );
  return sub ? { ...ids, subUids: sub.uids, subGids: sub.gids } : ids;
}

function parseVolume(text: string, cwd: string): Volume {
  const parts = text.split(":");
  let ro = false;
  if (parts.length === 3) {
    if (parts[2] !== "ro" && parts[2] !== "rw")
      throw new BerthError("USAGE", `volume ${JSON.stringify(text)}: the mode must be ro or rw`);
    ro = parts[2] === "ro";
  } else if (parts.length !== 2) {
    throw new BerthError("USAGE", `volume ${JSON.stringify(text)} is not HOST:CONTAINER[:ro]`);
  }
  const [host, ctr] = parts as [string, string];
  if (!host || !ctr.startsWith("/")) {
    throw new BerthError("USAGE", `volume ${JSON.stringify(text)}: the container path must be absolute`);
  }
  return { source: resolve(cwd, host), destination: ctr, readonly: ro };
}

function parseEnv(items: string[], env: Record<string, string | undefined>): string[] {
  return items.map((e) => {
    if (e.includes("=")) return e;
    const v = env[e];
    return v === undefined ? e : `${e}=${v}`;
  });
}

/**
 * docker's `--env-file`: a `K=V` a line, taken as it is (no quotes, no expansion); `K` alone takes K from
 * `env` (left out when unset); blank lines and lines starting with `#` are skipped.
 */
function parseEnvFile(text: string, file: string, env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/^[ \t]+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    const at = `${file} line ${i + 1}`;
    if (key === "") throw new BerthError("USAGE", `${at}: no variable name before "="`);
    if (/\s/.test(key)) {
      throw new BerthError("USAGE", `${at}: the variable name ${JSON.stringify(key)} contains whitespace`, {
        hint: "write one VAR=VALUE a line (values are taken as they are, quotes included)",
      });
    }
    if (eq >= 0) out.push(line);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  }
  return out;
}

/** The environment from `--env-file`s then `-e`s (docker's order: -e wins). */
export async function environment(
  host: Pick<Host, "cwd" | "env">,
  files: readonly string[],
  items: readonly string[] | Record<string, string>,
): Promise<string[]> {
  const fromFiles: string[] = [];
  for (const f of files) {
    const path = resolve(host.cwd, f);
    const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new BerthError(
        "USAGE",
        `--env-file ${f}: ${err.code === "ENOENT" ? "no such file" : err.message}`,
      );
    });
    fromFiles.push(...parseEnvFile(text, f, host.env));
  }
  const list = Array.isArray(items)
    ? [...items]
    : Object.entries(items as Record<string, string>).map(([k, v]) => `${k}=${v}`);
  return [...fromFiles, ...parseEnv(list, host.env)];
}

/**
 * Make a container from an image, as `berth run` does before it starts it: options checked (with the CLI's
 * errors), the image opened (pulled when the policy says so), the root and network prepared. `detached`:
 * for a supervisor that runs it (the CLI's `-d`); `autoRemove` defaults to `!keep`.
 */
export function createContainer(
  image: string,
  o: RunImageOptions,
  how: { detached?: boolean; autoRemove?: boolean } = {},
): Promise<Container> {
  return withShared(o, (o) => createContainerOnce(image, o, how));
}

async function createContainerOnce(
  image: string,
  o: RunImageOptions,
  how: { detached?: boolean; autoRemove?: boolean },
): Promise<Container> {
  const host = hostOf(o);
  const network = parseNetworkMode(o.network ?? "default");
  let ports = (o.publish ?? []).map(parsePublish);
  const capAdd = (o.capAdd ?? []).map((c) => capabilityName(c, "--cap-add"));
  const capDrop = (o.capDrop ?? []).map((c) => capabilityName(c, "--cap-drop"));
  if (ports.length > 0 && network === "host") {
    // docker warns and goes on: the container's ports are the host's already.
    for (const p of ports) {
      host.warn(
        `berth: warning: -p ${p.hostPort}:${p.containerPort} is not needed with --network host: the container's port ${p.containerPort}/${p.protocol} is the host's port ${p.containerPort} already`,
      );
    }
    ports = [];
  }
  if (ports.length > 0 && network === "none") {
    throw new BerthError(
      "USAGE",
      "-p publishes ports of the container's own network, and --network none has none",
      {
        hint: "drop --network none (the default network publishes -p ports), or use --network host",
      },
    );
  }
  const volumes = (o.volumes ?? []).map((v) => parseVolume(v, host.cwd));
  const unconfined = seccompOff(o.securityOpt ?? []);
  const environ = await environment(host, o.envFiles ?? [], o.env ?? []);
  const opened = await openRunImage(host, image, o.platform, parsePullPolicy(o.pull ?? "missing"));
  try {
    const platform = opened.image.platform();
    if (platform) await ensureEmulation(platform, emulationOptions(host.env, host.info));
    const rootless = await rootlessIdsWithSubordinates(host);
    return await Container.create({
      ...(unconfined ? { seccomp: false } : {}),
      home: host.ctx.home,
      image: opened.image,
      imageName: opened.name,
      args: o.cmd ?? [],
      ...(o.entrypoint !== undefined ? { entrypoint: [o.entrypoint] } : {}),
      env: environ,
      cwd: o.workdir || undefined,
      user: o.user,
      volumes,
      network,
      ports,
      capAdd,
      capDrop,
      hostname: o.hostname || undefined,
      runtime: host.runtime || undefined,
      searchPath: host.searchPath || undefined,
      rootless,
      name: o.name,
      init: Boolean(o.init),
      terminal: Boolean(o.tty),
      detached: Boolean(how.detached),
      autoRemove: how.autoRemove ?? !o.keep,
      onApply: (i, n) => host.debug(`berth: applying layer ${i + 1}/${n}`),
    });
  } finally {
    await opened.close();
  }
}

/** Run a container `createContainer` made, in the foreground, and clean it up (removed unless kept). */
export async function runCreated(container: Container, stdio: RunStdio = {}): Promise<RunImageResult> {
  let exit: ExitRecord | undefined;
  let result: ProcessResult;
  try {
    result = await container.run({
      stdin: stdio.stdin ?? "ignore",
      stdoutFd: stdio.stdoutFd,
      stderrFd: stdio.stderrFd,
      onStdout: stdio.onStdout,
      onStderr: stdio.onStderr,
      signal: stdio.signal,
      forwardSignals: stdio.forwardSignals,
      ...(stdio.ownSession ? { ownSession: true } : {}),
    });
    exit = { exitCode: result.exitCode, finishedAt: new Date().toISOString() };
  } finally {
    await container.finish(exit);
  }
  return {
    id: container.id,
    exitCode: result.exitCode,
    signal: result.signal,
    stdout: result.stdoutTail,
    stderr: result.stderrTail,
    ...(container.record.autoRemove ? {} : { kept: container.dir }),
    warnings: [...container.warnings],
    runtime: container.runtime.name,
    snapshots: { ...container.snapshots },
  };
}

/**
 * `berth run IMAGE [CMD…]` as a function: resolves when the container has ended, with its exit code (a
 * non-zero one is a result, not an error) and the end of its output. Errors (a missing image, a bad option,
 * no runtime) are `BerthError`s with the CLI's codes.
 */
export async function run(image: string, o: RunImageOptions & RunStdio): Promise<RunImageResult> {
  const warnings: string[] = [];
  const container = await createContainer(image, {
    ...o,
    logger: {
      ...o.logger,
      warn: (l) => {
        warnings.push(l.replace(/^berth: warning: /, ""));
        o.logger?.warn?.(l);
      },
    },
  });
  const r = await runCreated(container, o);
  return { ...r, warnings: [...warnings, ...r.warnings] };
}
