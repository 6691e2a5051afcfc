/**
 * What the library's entry points (`build`, `buildDockerfile`, `rebase`, `run`) need from the host, given
 * by the caller: library code never reads the process's environment. `fromEnvironment(env)` gives the
 * CLI's defaults.
 */
import { homedir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import type { LintWarning } from "../dockerfile/lint-rules.ts";
import type { StepEvent } from "../dockerfile/progress.ts";
import { BerthError } from "../errors.ts";
import type { BlobEvent } from "../oci/sink.ts";
import { closeContext, type SharedState, type TransportContext } from "../transport/context.ts";

/** Where progress goes; every field is optional (the default is silence). */
export interface Logger {
  /** Progress lines (what the CLI prints on stderr). */
  info?: (line: string) => void;
  warn?: (line: string) => void;
  debug?: (line: string) => void;
  /** Output of build steps (RUN, buildpacks) as it comes. */
  output?: (chunk: Buffer, stream: "stdout" | "stderr") => void;
  /** Dockerfile builds: each step and image write as a vertex of BuildKit's solve status (`--progress rawjson`). */
  step?: (event: StepEvent) => void;
  /** Dockerfile builds: each build check's warning as it comes (whether or not the build gets through). */
  warning?: (warning: LintWarning) => void;
}

export interface HostOptions {
  /**
   * BERTH_HOME: the store, caches, snapshots and containers. The CLI's: $BERTH_HOME, else
   * ${XDG_DATA_HOME:-~/.local/share}/berth.
   */
  home: string;
  /**
   * The environment berth reads: credentials (DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME), `KEY` alone in env
   * lists and build args, SSH_AUTH_SOCK for `ssh: ["default"]`. Default: empty.
   */
  hostEnv?: Record<string, string | undefined>;
  /** The folder relative paths are resolved against; default: the current folder. */
  cwd?: string | undefined;
  /** OCI runtime, a name or a path (the CLI's `--runtime`, else $BERTH_RUNTIME); default runc, else crun. */
  runtime?: string | undefined;
  /**
   * Where runc, crun, pasta and newuidmap are looked for (the CLI's $PATH); default
   * /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin.
   */
  searchPath?: string | undefined;
  /** The user berth runs as; default os.userInfo()'s. Not 0: rootless containers and builds. */
  uid?: number | undefined;
  gid?: number | undefined;
  /** Registries reached over plain HTTP besides localhost and 127.0.0.1 (the CLI's --insecure-registry). */
  insecureRegistries?: string[];
  /** A PEM CA file registries' certificates are checked against besides the system's (--ca-cert). */
  caCert?: string;
  /** Parallel blob transfers (--jobs). */
  jobs?: number;
  /**
   * SOURCE_DATE_EPOCH: file times and created times of Dockerfile builds, the created time of buildpacks builds
   * (unless `creationTime`); default none (0 for files).
   */
  sourceDateEpoch?: number | undefined;
  logger?: Logger;
  /** Registry diagnostics (retries, fallbacks; never credentials): the CLI's BERTH_DEBUG lines. */
  diagnostics?: TransportContext["logger"];
  /** Each blob of a pull as it starts, moves and ends (for progress). */
  onBlob?: (event: BlobEvent) => void;
  /**
   * A reporter for each transfer (a pull, a build's push, a lifecycle image): its blobs, then one final
   * line; it takes the place of `onBlob`. The CLI's draws README's "Progress".
   */
  progress?: TransportContext["progress"];
  /**
   * What several calls share: the registry client (connections, tokens). The caller that gives one ends it with
   * `closeContext`; without it each call makes its own and ends it before returning (the CLI gives its command's).
   */
  shared?: SharedState;
}

/**
 * Run a library call with the registry client its calls share: the caller's (`o.shared`, which the caller ends)
 * or one made for this call and ended when it returns, so no connection outlives the call.
 */
export async function withShared<O extends HostOptions, T>(o: O, fn: (o: O) => Promise<T>): Promise<T> {
  if (o.shared) return fn(o);
  const shared: SharedState = {};
  try {
    return await fn({ ...o, shared });
  } finally {
    await closeContext({ home: o.home, env: {}, shared }).catch(() => undefined);
  }
}

/** BERTH_HOME, else ${XDG_DATA_HOME:-~/.local/share}/berth. */
export function berthHome(env: Record<string, string | undefined>): string {
  if (env.BERTH_HOME) return env.BERTH_HOME;
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(data, "berth");
}

/** SOURCE_DATE_EPOCH as a number of seconds (undefined when unset or empty). */
export function sourceDateEpochOf(env: Record<string, string | undefined>): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v))
    throw new BerthError("USAGE", `SOURCE_DATE_EPOCH ${JSON.stringify(v)} is not a number of seconds`);
  return Number(v);
}

/**
 * The CLI's host options from an environment (the process's, given by the caller): BERTH_HOME,
 * BERTH_RUNTIME, PATH, SOURCE_DATE_EPOCH, and the environment itself for credentials.
 */
export function fromEnvironment(
  env: Record<string, string | undefined>,
  o: { cwd?: string; uid?: number; gid?: number } = {},
): HostOptions {
  const epoch = sourceDateEpochOf(env);
  return {
    home: berthHome(env),
    hostEnv: env,
    cwd: o.cwd,
    runtime: env.BERTH_RUNTIME || undefined,
    searchPath: env.PATH || undefined,
    uid: o.uid,
    gid: o.gid,
    sourceDateEpoch: epoch,
  };
}

/** The host options as the lower layers take them. */
export interface Host {
  ctx: TransportContext;
  env: Record<string, string | undefined>;
  cwd: string;
  runtime: string | undefined;
  searchPath: string | undefined;
  uid: number;
  gid: number;
  info: (line: string) => void;
  warn: (line: string) => void;
  debug: (line: string) => void;
  output: (chunk: Buffer, stream: "stdout" | "stderr") => void;
  onBlob: ((event: BlobEvent) => void) | undefined;
}

export function hostOf(o: HostOptions): Host {
  if (typeof o.home !== "string" || !o.home) {
    throw new BerthError("USAGE", "no home: give BERTH_HOME as the home option", {
      hint: "fromEnvironment(env) with the environment gives the CLI's default (~/.local/share/berth)",
    });
  }
  const env = o.hostEnv ?? {};
  let uid = o.uid;
  let gid = o.gid;
  if (uid === undefined || gid === undefined) {
    const u = userInfo();
    uid ??= u.uid;
    gid ??= u.gid;
  }
  const noop = () => {};
  return {
    ctx: {
      home: o.home,
      env,
      insecureRegistries: o.insecureRegistries,
      caCert: o.caCert || undefined,
      jobs: o.jobs || undefined,
      logger: o.diagnostics,
      progress: o.progress,
      shared: o.shared,
    },
    env,
    cwd: resolve(o.cwd ?? "."),
    runtime: o.runtime,
    searchPath: o.searchPath,
    uid,
    gid,
    info: o.logger?.info ?? noop,
    warn: o.logger?.warn ?? noop,
    debug: o.logger?.debug ?? noop,
    output: o.logger?.output ?? noop,
    onBlob: o.onBlob,
  };
}
