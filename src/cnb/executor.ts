/**
 * Where buildpacks run. A phase sees the CNB directories twice: as host paths (where berth reads and writes
 * them) and as run paths (what the buildpack is told). `hostExecutor` runs `bin/detect` and `bin/build`
 * directly on this machine (`--isolation host`); `sandboxExecutor` runs them inside the build image through
 * the runtime sandbox, as CNB_USER_ID:CNB_GROUP_ID, with `/workspace`, `/layers`, `/platform` and
 * `/cnb/buildpacks` mounted and nothing else of the host (no registry credentials) in reach.
 */
import { spawn } from "node:child_process";
import { chown, mkdir, readdir, readFile } from "node:fs/promises";
import { constants, userInfo } from "node:os";
import { basename, dirname, isAbsolute, relative } from "node:path";
import { BerthError } from "../errors.ts";
import type { Image } from "../oci/image.ts";
import type { NetworkMode, RuntimeContext, SandboxOptions, SnapshotChain } from "../runtime/index.ts";
import {
  chainUnion,
  lookupUnion,
  prepareSnapshots,
  runInSandbox,
  type UnionLayer,
} from "../runtime/index.ts";
import type { CompileOptions } from "../util/compile.ts";
import { ConfinedTree } from "../util/confined.ts";
import { groupRunner, RunnerSession, refusedCode } from "./group-runner.ts";

export interface CnbPaths {
  /** The application (`/workspace`). */
  app: string;
  /** The layers directory (`/layers`). */
  layers: string;
  /** The platform directory (`/platform`). */
  platform: string;
  /** Where buildpacks live (`/cnb/buildpacks`). */
  buildpacks: string;
  /** The operator's build config (`/cnb/build-config`). */
  buildConfig: string;
  /** Where image extensions live (`/cnb/extensions`), when the builder has any. */
  extensions?: string;
}

export const CONTAINER_PATHS: CnbPaths = {
  app: "/workspace",
  layers: "/layers",
  platform: "/platform",
  buildpacks: "/cnb/buildpacks",
  buildConfig: "/cnb/build-config",
  extensions: "/cnb/extensions",
};

export interface ExecRequest {
  args: string[];
  /** The full environment, `K=V`. */
  env: string[];
  /** Working directory, as a run path. */
  cwd: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  signal?: AbortSignal | undefined;
}

/** One shape whether the command succeeded or not (as the runtime's ProcessResult). */
export interface ExecResult {
  exitCode: number;
  signal: string | undefined;
  stdoutTail: string;
  stderrTail: string;
  command: string[];
}

export interface Executor {
  readonly kind: "host" | "sandbox";
  readonly host: CnbPaths;
  readonly run: CnbPaths;
  /** The user buildpacks run as; files berth makes for them are chowned to it (when root). */
  readonly owner: { uid: number; gid: number } | undefined;
  exec(req: ExecRequest): Promise<ExecResult>;
  /** A file of the build environment's root filesystem (e.g. `/etc/os-release`), if present. */
  readRootFile(path: string): Promise<string | undefined>;
}

/**
 * An executor that runs several commands in one go (the sandbox: one container for all, and for the batches
 * after, until `release`, through the group runner), each exactly as `exec` would run it on its own: its env, cwd, output and exit code its own, and
 * nothing it left running or in /dev/shm seen by the next. Results are in the order of the requests.
 */
export interface BatchExecutor extends Executor {
  execAll(reqs: readonly ExecRequest[]): Promise<ExecResult[]>;
  /** End the container `execAll` keeps for the next batch (`exec` ends it too, before it runs). */
  release(): Promise<void>;
}

export function canExecAll(e: Executor): e is BatchExecutor {
  return typeof (e as Partial<BatchExecutor>).execAll === "function";
}

/** Each command with `exec`, all started at once (the sandbox queues them): without `execAll`. */
export function execEach(e: Executor, reqs: readonly ExecRequest[]): Promise<ExecResult[]> {
  return Promise.all(reqs.map((req) => e.exec(req)));
}

/** A run path for a host path under one of the CNB directories. */
export function toRunPath(e: Executor, hostPath: string): string {
  if (e.kind === "host") return hostPath;
  for (const k of Object.keys(e.host) as (keyof CnbPaths)[]) {
    const host = e.host[k];
    if (host === undefined) continue;
    const rel = relative(host, hostPath);
    if (rel === "") return e.run[k]!;
    if (!rel.startsWith("..") && !rel.startsWith("/")) return `${e.run[k]}/${rel}`;
  }
  throw new BerthError("INTERNAL", `${hostPath} is not under a CNB directory`);
}

/**
 * The layers directory, as a tree berth writes into but buildpacks own: a buildpack may have replaced any
 * directory in it with a symlink, which berth refuses instead of following (see util/confined.ts).
 */
export function layersTree(e: Executor): ConfinedTree {
  return new ConfinedTree(e.host.layers, {
    owner: "the layers directory",
    name: "the layers directory",
    seenAs: e.run.layers,
    hint: "a buildpack replaced a directory of the platform's with a symlink",
  });
}

/** mkdir -p and give the new directory to the buildpack user; a symlink on the way is refused. */
export async function makeOwnedDir(e: Executor, dir: string): Promise<void> {
  const rel = relative(e.host.layers, dir);
  const own = e.owner && isRoot() ? e.owner : undefined;
  if (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel)) {
    await layersTree(e).mkdirs(rel, own);
    return;
  }
  await mkdir(dir, { recursive: true });
  if (own) await chown(dir, own.uid, own.gid);
}

function isRoot(): boolean {
  return userInfo().uid === 0;
}

class Tail {
  #buf = Buffer.alloc(0);
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  push(b: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, b]);
    if (this.#buf.length > this.max) this.#buf = this.#buf.subarray(this.#buf.length - this.max);
  }
  toString(): string {
    return this.#buf.toString("utf8");
  }
}

export interface HostExecutorOptions {
  paths: CnbPaths;
  /** Run buildpacks as this user (needs root); default: as berth itself. */
  owner?: { uid: number; gid: number };
}

/** Run buildpacks directly on this machine. */
export function hostExecutor(o: HostExecutorOptions): Executor {
  return {
    kind: "host",
    host: o.paths,
    run: o.paths,
    owner: o.owner,
    async readRootFile(path) {
      return readFile(path, "utf8").catch(() => undefined);
    },
    exec(req) {
      return new Promise<ExecResult>((resolvePromise, reject) => {
        const env: Record<string, string> = {};
        for (const e of req.env) {
          const i = e.indexOf("=");
          if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
        }
        const child = spawn(req.args[0]!, req.args.slice(1), {
          cwd: req.cwd,
          env,
          stdio: ["ignore", "pipe", "pipe"],
          ...(o.owner && isRoot() ? { uid: o.owner.uid, gid: o.owner.gid } : {}),
          signal: req.signal,
        });
        const out = new Tail(16 * 1024);
        const err = new Tail(16 * 1024);
        child.stdout.on("data", (c: Buffer) => {
          out.push(c);
          req.onStdout?.(c);
        });
        child.stderr.on("data", (c: Buffer) => {
          err.push(c);
          req.onStderr?.(c);
        });
        child.on("error", (e: NodeJS.ErrnoException) => {
          if (req.signal?.aborted) return reject(req.signal.reason);
          // As a shell would: 127 not found, 126 not executable.
          const code = e.code === "ENOENT" ? 127 : e.code === "EACCES" ? 126 : undefined;
          if (code === undefined)
            return reject(new BerthError("IO", `running ${req.args[0]}: ${e.message}`, { cause: e }));
          resolvePromise({
            exitCode: code,
            signal: undefined,
            stdoutTail: out.toString(),
            stderrTail: `${err}${e.message}\n`,
            command: req.args,
          });
        });
        child.on("close", (code, signal) => {
          if (req.signal?.aborted) return reject(req.signal.reason);
          resolvePromise({
            // 128 + the signal's number, as a shell and the sandbox executor (runtime/exec.ts) report it.
            exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
            signal: signal ?? undefined,
            stdoutTail: out.toString(),
            stderrTail: err.toString(),
            command: req.args,
          });
        });
      });
    },
  };
}

export interface SandboxExecutorOptions {
  runtime: RuntimeContext;
  /** The build image (a builder). */
  image: Image;
  imageName?: string;
  /** Host directories mounted at the container paths. */
  paths: CnbPaths;
  owner: { uid: number; gid: number };
  /** Writable upper directory for changes to the image's root (HOME, /tmp); the caller removes it. */
  upperDir: string;
  /** Default "default": a private namespace with outbound access; "host": the host's; "none". */
  network?: NetworkMode;
  /** Called before the first layer of the image that has to be unpacked (first use: a pause to announce). */
  onUnpack?: (layers: number) => void;
  /**
   * The C compiler for the group runner that `execAll` runs (default gcc on the runtime's search path); when it
   * cannot compile the runner, `execAll` runs each command in a container of its own.
   */
  cc?: string;
  /** The environment berth reads: HOME and XDG_CACHE_HOME place the per-user cache of the runner's binary. */
  hostEnv?: Record<string, string | undefined>;
}

/** Where the group runner's folder is mounted in the container: on its own /dev tmpfs, so that the root keeps no trace. */
const RUNNER_DIR = "/dev/.berth-group-runner";

/** How the group runner is compiled: the runtime's PATH finds the compiler, hostEnv the per-user cache. */
function runnerCompile(o: SandboxExecutorOptions): CompileOptions {
  return {
    home: o.runtime.home,
    cc: o.cc,
    env: { PATH: o.runtime.searchPath || undefined },
    user: { env: o.hostEnv ?? {}, uid: userInfo().uid },
  };
}

/** Run buildpacks inside the build image through the runtime sandbox. */
export async function sandboxExecutor(o: SandboxExecutorOptions): Promise<Executor> {
  let announced = false;
  const chain: SnapshotChain = await prepareSnapshots(o.runtime, o.image, undefined, (_i, n) => {
    if (!announced) o.onUnpack?.(n);
    announced = true;
  });
  await mkdir(o.upperDir, { recursive: true });
  const volumes = [
    { source: o.paths.app, destination: CONTAINER_PATHS.app },
    { source: o.paths.layers, destination: CONTAINER_PATHS.layers },
    { source: o.paths.platform, destination: CONTAINER_PATHS.platform, readonly: true },
    { source: o.paths.buildpacks, destination: CONTAINER_PATHS.buildpacks, readonly: true },
    { source: o.paths.buildConfig, destination: CONTAINER_PATHS.buildConfig, readonly: true },
    ...(o.paths.extensions
      ? [{ source: o.paths.extensions, destination: CONTAINER_PATHS.extensions!, readonly: true }]
      : []),
  ];
  // Every container of this executor shares one upper dir, and overlayfs forbids two mounts with the same
  // upper dir at once ("stale file handle" follows): run them one after another.
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const run = (req: ExecRequest, more: Pick<SandboxOptions, "stdin" | "volumes"> = {}) =>
    // No `image`: the environment is exactly the one given, not the image's Env (the lifecycle filters it).
    oneAtATime(() =>
      runInSandbox({
        ...o.runtime,
        chain,
        upperDir: o.upperDir,
        args: req.args,
        env: req.env,
        user: `${o.owner.uid}:${o.owner.gid}`,
        cwd: req.cwd,
        network: o.network ?? "default",
        volumes,
        imageName: o.imageName ?? o.image.digest,
        onStdout: req.onStdout,
        onStderr: req.onStderr,
        signal: req.signal,
        ...more,
      }),
    );
  let runner: Promise<string | undefined> | undefined;
  let session: RunnerSession | undefined;
  const release = async () => {
    const s = session;
    session = undefined;
    await s?.close();
  };
  const executor: BatchExecutor = {
    kind: "sandbox",
    host: o.paths,
    run: CONTAINER_PATHS,
    owner: o.owner,
    async readRootFile(path) {
      return readImageFile(
        await rootLayers(chain, o.upperDir),
        path,
        `the build image ${o.imageName ?? o.image.digest}`,
      );
    },
    async exec(req) {
      await release();
      const r = await run(req);
      return {
        exitCode: r.exitCode,
        signal: r.signal,
        stdoutTail: r.stdoutTail,
        stderrTail: r.stderrTail,
        command: r.command,
      };
    },
    async execAll(reqs) {
      runner ??= groupRunner(runnerCompile(o)).catch(() => undefined);
      const path = await runner;
      if (!path) return execEach(executor, reqs);
      if (reqs.length === 0) return [];
      // The first batch's signal ends the container (the detect phase gives every batch its own).
      session ??= new RunnerSession(({ stdin, ...stdio }) =>
        run(
          { args: [`${RUNNER_DIR}/${basename(path)}`], env: [], cwd: "/", ...stdio, signal: reqs[0]?.signal },
          {
            stdin,
            volumes: [...volumes, { source: dirname(path), destination: RUNNER_DIR, readonly: true }],
          },
        ),
      );
      return runBatch(session, reqs);
    },
    release,
  };
  return executor;
}

/**
 * The requests as one batch of the runner's session: each command's output to its own handlers and tails, its
 * exit code as the runtime reports one (a command that cannot be run: 127 not found, 126 not executable, as
 * runtime/exec.ts `explainFailure`; any other refusal thrown, as the runtime's failure to start is).
 */
async function runBatch(session: RunnerSession, reqs: readonly ExecRequest[]): Promise<ExecResult[]> {
  const tails = reqs.map(() => ({ out: new Tail(16 * 1024), err: new Tail(16 * 1024) }));
  const ends = await session.run(
    reqs.map((req, i) => ({
      ...req,
      onStdout: (c: Buffer) => {
        tails[i]!.out.push(c);
        req.onStdout?.(c);
      },
      onStderr: (c: Buffer) => {
        tails[i]!.err.push(c);
        req.onStderr?.(c);
      },
    })),
  );
  return ends.map((end, i) => {
    const req = reqs[i]!;
    const result = (exitCode: number, err = tails[i]!.err.toString()): ExecResult => ({
      exitCode,
      signal: exitCode > 128 ? signalNames.get(exitCode - 128) : undefined,
      stdoutTail: tails[i]!.out.toString(),
      stderrTail: err,
      command: req.args,
    });
    if (end.kind === "exit") return result(end.code);
    const code = refusedCode(end);
    if (code === undefined) {
      throw new BerthError("RUNTIME_FAILED", `the container could not start ${req.args[0]}: ${end.message}`);
    }
    const words = `unable to start container process: ${end.message}\n`;
    req.onStderr?.(Buffer.from(words));
    return result(code, words);
  });
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([k, v]) => [v, k as NodeJS.Signals]),
);

/**
 * The layers of the build image's root as its containers see it, top first. overlay: the same union the runtime
 * mounts (`chainUnion`: opaque directories of the snapshots and of the shared upper dir honoured), or, where a
 * layer cannot be read as one (getfattr missing; a `redirect` or `metacopy` xattr), the layers without their
 * opaque markers. full: the upper dir once a container copied the root there, else the top snapshot.
 */
async function rootLayers(chain: SnapshotChain, upperDir: string): Promise<(string | UnionLayer)[]> {
  if (chain.mode === "full") {
    const copied = (await readdir(upperDir).catch(() => [])).length > 0;
    return copied ? [upperDir] : chain.dirs.slice(-1);
  }
  return (await chainUnion(chain, upperDir)) ?? [upperDir, ...[...chain.dirs].reverse()];
}

const MAX_ROOT_FILE = 64 * 1024;

/**
 * Read `path` of an image's root made of overlay-form layer directories (`dirs`, top first, each a directory or
 * a `UnionLayer` naming its opaque directories), resolved as the image sees it and never on the host
 * (`lookupUnion`), and read with `ConfinedTree` from the layer that holds it (no symlink, FIFO or device; 64 KiB
 * at most). Undefined when it does not exist; a symlink whose target does not exist in the image, or that
 * leads through too many others, is an UNSAFE_PATH error naming it.
 */
export async function readImageFile(
  dirs: readonly (string | UnionLayer)[],
  path: string,
  owner: string,
): Promise<string | undefined> {
  const layers = dirs.map((d) => (typeof d === "string" ? { dir: d, opaque: new Set<string>() } : d));
  const r = await lookupUnion(layers, path);
  if (!r.found) {
    if (!r.problem) return undefined;
    const { link, target, why } = r.problem;
    throw new BerthError(
      "UNSAFE_PATH",
      why === "loop"
        ? `${owner}: /${link} goes through too many symlinks`
        : `${owner}: /${link} is a symlink to ${JSON.stringify(target)}, which does not exist in the image`,
      { details: { owner, path: `/${link}` } },
    );
  }
  const tree = new ConfinedTree(r.dir, { owner, name: "the image", seenAs: "/" });
  return (await tree.readFile(r.rel, MAX_ROOT_FILE))?.toString("utf8");
}
