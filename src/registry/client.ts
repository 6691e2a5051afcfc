/**
 * The registry client: one per transport context (the CLI's command, a library call), holding the connection
 * pools and, per registry host, the scheme (https, or plain http where allowed) and the authenticator with its
 * token cache. `repository()` hands out Repository handles; `close()` ends the pools.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import type { Agent } from "undici";
import { BerthError } from "../errors.ts";
import type { Reference } from "../oci/reference.ts";
import { type Credential, type Env, resolveCredential } from "./credentials.ts";
import { type HostAccess, listedInsecure, RegistryHost } from "./host.ts";
import { createAgent, type Logger, type RetryOptions } from "./http.ts";
import { Repository } from "./repository.ts";

export interface RegistryOptions {
  /** The environment the keychain reads (DOCKER_CONFIG, HOME, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH). */
  env?: Env;
  /** Hosts (`host[:port]`) reached over plain HTTP, or HTTPS without certificate checks (`--insecure-registry`). */
  insecure?: string[] | undefined;
  /** Hosts reached over verified HTTPS only, loopback too (skopeo's `--tls-verify=true`). */
  secure?: string[] | undefined;
  /** A PEM file of CA certificates to trust (`--ca-cert`, or SSL_CERT_FILE passed in by the CLI). */
  caCert?: string | undefined;
  /**
   * A directory of certificates as containers-certs.d(5) lays it out (skopeo's `--cert-dir`): each `*.crt` a
   * CA trusted besides the system's, a `*.cert` with its `*.key` the client certificate shown to registries.
   */
  certDir?: string | undefined;
  /** An auth file searched before the keychain (skopeo's `--authfile`). */
  authFile?: string | undefined;
  /** Parallel blob transfers a caller should run; also sizes the connection pools. */
  jobs?: number | undefined;
  logger?: Logger | undefined;
  retry?: RetryOptions;
  /** Credentials to use instead of the keychain (login verifies with these). */
  credential?: (registry: string) => Promise<Credential | undefined>;
  /** Blobs larger than this are uploaded in chunks (default 64 MiB). */
  chunkThreshold?: number;
  /** Size of each PATCH of a chunked upload (default 16 MiB). */
  chunkSize?: number;
  /** Milliseconds to wait for response headers, and between body chunks. */
  headersTimeout?: number;
  bodyTimeout?: number;
}

export class RegistryClient {
  readonly options: RegistryOptions;
  readonly #hosts = new Map<string, RegistryHost>();
  readonly #access: HostAccess;
  #agent: Agent | undefined;
  #insecureAgent: Agent | undefined;
  #probeAgent: Agent | undefined;
  #ca: string | readonly string[] | undefined;
  #client: { cert: string; key: string } | undefined;

  constructor(options: RegistryOptions = {}) {
    this.options = options;
    const credential =
      options.credential ??
      ((r: string) => resolveCredential(r, { env: options.env ?? {}, authFile: options.authFile }));
    this.#access = {
      agentFor: (host) => this.agentFor(host),
      probeAgent: () => this.#probe(),
      retry: this.retryOptions(),
      credential,
      logger: options.logger,
      insecure: options.insecure,
      secure: options.secure,
    };
  }

  /** Read the CA file once; call before the first request when `caCert` is set (done by `open`). */
  async init(): Promise<this> {
    if (this.options.caCert !== undefined && this.#ca === undefined) {
      try {
        this.#ca = await readFile(this.options.caCert, "utf8");
      } catch (err) {
        throw new BerthError(
          "IO",
          `reading CA certificates ${this.options.caCert}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    if (this.options.certDir !== undefined) await this.#readCertDir(this.options.certDir);
    return this;
  }

  async #readCertDir(dir: string): Promise<void> {
    const fail = (what: string, err: unknown): never => {
      throw new BerthError("IO", `reading certificates ${what}: ${(err as Error).message}`, {
        cause: err,
        hint: "give a directory of *.crt CA files and *.cert/*.key client pairs (containers-certs.d)",
      });
    };
    const names = (await readdir(dir).catch((err) => fail(dir, err))).sort();
    const read = (name: string) =>
      readFile(join(dir, name), "utf8").catch((err) => fail(join(dir, name), err));
    const cas = await Promise.all(names.filter((n) => n.endsWith(".crt")).map(read));
    const base = this.#ca === undefined ? rootCertificates : [this.#ca as string];
    if (cas.length) this.#ca = [...base, ...cas];
    const cert = names.find((n) => n.endsWith(".cert"));
    if (!cert) return;
    const key = `${cert.slice(0, -".cert".length)}.key`;
    if (!names.includes(key))
      throw new BerthError("USAGE", `the client certificate ${join(dir, cert)} has no key ${key} beside it`);
    this.#client = { cert: await read(cert), key: await read(key) };
  }

  retryOptions(): RetryOptions {
    const r: RetryOptions = { ...this.options.retry };
    if (r.logger === undefined && this.options.logger) r.logger = this.options.logger;
    return r;
  }

  agentFor(host: string): Agent {
    const connections = Math.max(4, (this.options.jobs ?? 4) * 2);
    const timeouts = { headersTimeout: this.options.headersTimeout, bodyTimeout: this.options.bodyTimeout };
    const client = this.#client;
    if (listedInsecure(host, this.options.insecure)) {
      this.#insecureAgent ??= createAgent({ rejectUnauthorized: false, connections, ...client, ...timeouts });
      return this.#insecureAgent;
    }
    this.#agent ??= createAgent({ ca: this.#ca, connections, ...client, ...timeouts });
    return this.#agent;
  }

  /**
   * The pool of the TLS probe (`RegistryHost.base`): trusting no CA and checking no certificate, it loads no CA
   * store (the first TLS context with the defaults costs 7–20 ms of CPU, most of a fresh process's TLS cost, for
   * a registry that then turns out to speak plain HTTP). No credential goes through it (the probe is an
   * anonymous GET /v2/), and its answer only picks the scheme: the requests that follow verify as usual.
   */
  #probe(): Agent {
    this.#probeAgent ??= createAgent({ ca: [], rejectUnauthorized: false, connections: 1 });
    return this.#probeAgent;
  }

  host(registry: string): RegistryHost {
    let h = this.#hosts.get(registry);
    if (!h) {
      h = new RegistryHost(this.#access, registry);
      this.#hosts.set(registry, h);
    }
    return h;
  }

  /** A handle on one repository; `push` asks for push access up front (one token for all requests). */
  repository(registry: string, repository: string, options: { push?: boolean } = {}): Repository {
    return new Repository(this.host(registry), repository, options.push ?? false, {
      chunkThreshold: this.options.chunkThreshold,
      chunkSize: this.options.chunkSize,
    });
  }

  /** The repository a reference names. */
  repositoryOf(ref: Reference, options: { push?: boolean } = {}): Repository {
    return this.repository(ref.registry, ref.repository, options);
  }

  async ping(registry: string): Promise<void> {
    await this.host(registry).ping();
  }

  /** Close the connection pools. */
  async close(): Promise<void> {
    await Promise.all([this.#agent?.close(), this.#insecureAgent?.close(), this.#probeAgent?.close()]);
    this.#agent = undefined;
    this.#insecureAgent = undefined;
    this.#probeAgent = undefined;
  }
}

/** Create a client and read its CA file. */
export async function openRegistryClient(options: RegistryOptions = {}): Promise<RegistryClient> {
  return new RegistryClient(options).init();
}
