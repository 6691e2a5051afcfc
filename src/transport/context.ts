import { join } from "node:path";
import type { Descriptor } from "../oci/descriptor.ts";
import type { BlobEvent } from "../oci/sink.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { Credential } from "../registry/credentials.ts";

/**
 * Progress of one transfer, reported by whoever moves blobs (a copy, a pull inside a build) and shown by the
 * caller (the CLI's is src/cli/progress.ts). Optional everywhere: without one, nothing is reported.
 */
export interface TransferReporter {
  onPlan(blobs: readonly Descriptor[]): void;
  onBlob(event: BlobEvent): void;
  /** The transfer succeeded: one line saying `what` was done, its size and time. */
  finish(what: string): void;
  /** Stop reporting (after a failure too). */
  close(): void;
}

/**
 * What the sources and sinks of one context share, made on first use: the registry client (its connection
 * pools, each host's scheme and the token cache). Copies of a context (`{ ...ctx, jobs }`) share it.
 */
export interface SharedState {
  registry?: Promise<RegistryClient> | undefined;
}

/** What transports need from the environment; built by the CLI, so that library code never reads process.*. */
export interface TransportContext {
  /** BERTH_HOME: the store and every cache live here. */
  home: string;
  /** Environment variables for credential lookup (DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME, …). */
  env: Record<string, string | undefined>;
  /** Registries reached over plain HTTP besides localhost. */
  insecureRegistries?: string[] | undefined;
  caCert?: string | undefined;
  /** How registries are reached beyond the environment's keychain and CAs (one side of `berth copy`). */
  registryAccess?: RegistryAccess | undefined;
  /** Parallel blob transfers. */
  jobs?: number | undefined;
  /** Receives diagnostics (retries, fallbacks); never credentials. */
  logger?:
    | { debug?: (line: string) => void; info?: (line: string) => void; warn?: (line: string) => void }
    | undefined;
  /** A reporter for each transfer that library code makes on its own (a lifecycle image pulled, a build published). */
  progress?: (() => TransferReporter) | undefined;
  /**
   * The state this context's sources and sinks share (see `SharedState`); a context made without one gets
   * its own on first use. The context's owner ends it with `closeContext`.
   */
  shared?: SharedState | undefined;
}

/** skopeo's per-side registry flags (`--src-creds`, `--src-authfile`, `--src-cert-dir`, …). */
export interface RegistryAccess {
  /** Use this credential for every registry, or none (`--no-creds`), instead of the keychain. */
  credential?: Credential | "anonymous" | undefined;
  /** An auth file searched before the keychain. */
  authFile?: string | undefined;
  /** A containers-certs.d directory: `*.crt` CAs, a `*.cert`/`*.key` client pair. */
  certDir?: string | undefined;
  /** Registries reached over verified HTTPS only, loopback too (skopeo's `--tls-verify=true`). */
  secure?: string[] | undefined;
  /** Each registry request's attempts and first backoff (skopeo's `--retry-times`, `--retry-delay`). */
  retry?: { attempts?: number; baseDelay?: number } | undefined;
}

/** Run a transfer with a reporter (a context's `progress`, if any), closing it however the transfer ends. */
export async function reported<T>(
  progress: (() => TransferReporter) | undefined,
  what: (result: T) => string,
  fn: (hooks: Partial<Pick<TransferReporter, "onBlob" | "onPlan">>) => Promise<T>,
): Promise<T> {
  const r = progress?.();
  try {
    const result = await fn(r ? { onBlob: (e) => r.onBlob(e), onPlan: (b) => r.onPlan(b) } : {});
    r?.close();
    r?.finish(what(result));
    return result;
  } finally {
    r?.close();
  }
}

export function tmpDirOf(ctx: TransportContext): string {
  return join(ctx.home, "tmp");
}

const implicit = new WeakMap<TransportContext, SharedState>();

/** The state the sources and sinks of `ctx` share. */
export function sharedState(ctx: TransportContext): SharedState {
  if (ctx.shared) return ctx.shared;
  let s = implicit.get(ctx);
  if (!s) {
    s = {};
    implicit.set(ctx, s);
  }
  return s;
}

/**
 * End what the sources and sinks of `ctx` shared (the registry client's connections); for the context's owner
 * (a CLI command, a library call) once it is done with every source and sink. The context stays usable: a
 * later source makes a new client.
 */
export async function closeContext(ctx: TransportContext): Promise<void> {
  const s = sharedState(ctx);
  const client = s.registry;
  s.registry = undefined;
  await (await client?.catch(() => undefined))?.close();
}
