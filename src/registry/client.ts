/**
 * The registry client: one per process, holding the connection pools and, per registry host, the scheme
 * (https, or plain http where allowed) and the authenticator. `repository()` hands out Repository handles.
 */
import { readFile } from "node:fs/promises";
import type { Agent } from "undici";
import { BerthError } from "../errors.ts";
import type { Reference } from "../oci/reference.ts";
import { Authenticator, withAuth } from "./auth.ts";
import { type Credential, type Env, resolveCredential } from "./credentials.ts";
import { networkError, responseError } from "./errors.ts";
import {
  createAgent,
  discard,
  type HttpRequest,
  type HttpResponse,
  type Logger,
  type RetryOptions,
  redactUrl,
  type Send,
  sendWith,
  withRedirects,
  withRetry,
} from "./http.ts";
import { Repository } from "./repository.ts";

export interface RegistryOptions {
  /** The environment the keychain reads (DOCKER_CONFIG, HOME, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH). */
  env?: Env;
  /** Hosts (`host[:port]`) reached over plain HTTP, or HTTPS without certificate checks (`--insecure-registry`). */
  insecure?: string[];
  /** A PEM file of CA certificates to trust (`--ca-cert`, or SSL_CERT_FILE passed in by the CLI). */
  caCert?: string;
  /** Parallel blob transfers a caller should run; also sizes the connection pools. */
  jobs?: number;
  logger?: Logger;
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

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

/** Whether a registry (`host[:port]`) is on this machine's loopback. */
export function isLoopbackRegistry(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Whether docker would allow plain HTTP for this host: loopback, or listed as insecure. */
export function allowsPlainHttp(host: string, insecure: string[] = []): boolean {
  if (isLoopbackRegistry(host)) return true;
  const h = host.toLowerCase();
  return insecure.some((i) => i.toLowerCase() === h || i.toLowerCase() === h.replace(/:\d+$/, ""));
}

function isTlsMismatch(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; e && i < 5; i++) {
    const x = e as { code?: string; message?: string; cause?: unknown };
    if (
      x.code === "EPROTO" ||
      x.code?.startsWith("ERR_SSL_") ||
      /wrong version number|packet length too long/i.test(x.message ?? "")
    ) {
      return true;
    }
    e = x.cause;
  }
  return false;
}

/** One registry host: its base URL and the composed request function (redirects → auth → retry → send). */
export class RegistryHost {
  readonly host: string;
  readonly auth: Authenticator;
  readonly #client: RegistryClient;
  #base: Promise<string> | undefined;
  #send: Send | undefined;

  /** `registry` is the name in references (`docker.io`); `host` is where requests go (`registry-1.docker.io`). */
  readonly registry: string;

  constructor(client: RegistryClient, registry: string) {
    this.#client = client;
    this.registry = registry;
    const host = registry === "docker.io" ? "registry-1.docker.io" : registry;
    this.host = host;
    const creds =
      client.options.credential ?? ((r: string) => resolveCredential(r, { env: client.options.env ?? {} }));
    this.auth = new Authenticator({
      host,
      credential: () => creds(registry),
      send: (req) => this.#plainSend()(req),
      logger: client.options.logger,
    });
  }

  #plainSend(): Send {
    const agent = this.#client.agentFor(this.host);
    return withRedirects(
      withRetry(sendWith(agent, this.#client.options.logger), this.#client.retryOptions()),
    );
  }

  get send(): Send {
    this.#send ??= withRedirects(
      withAuth(
        withRetry(
          sendWith(this.#client.agentFor(this.host), this.#client.options.logger),
          this.#client.retryOptions(),
        ),
        this.auth,
      ),
    );
    return this.#send;
  }

  /** `https://host` or, where allowed and the host does not speak TLS, `http://host`. */
  base(): Promise<string> {
    this.#base ??= this.#detect();
    this.#base.catch(() => {
      this.#base = undefined;
    });
    return this.#base;
  }

  async #detect(): Promise<string> {
    const https = `https://${this.host}`;
    if (!allowsPlainHttp(this.host, this.#client.options.insecure)) return https;
    const send = sendWith(this.#client.agentFor(this.host));
    try {
      const res = await send({ method: "GET", url: new URL(`${https}/v2/`) });
      await discard(res);
      return https;
    } catch (err) {
      if (isTlsMismatch(err)) return `http://${this.host}`;
      throw networkError(`reaching registry ${this.host}`, new URL(`${https}/v2/`), err);
    }
  }

  async url(path: string): Promise<URL> {
    return new URL(path, await this.base());
  }

  /** Send a request; network failures become REGISTRY_UNREACHABLE naming the step. */
  async request(step: string, req: HttpRequest): Promise<HttpResponse> {
    try {
      return await this.send(req);
    } catch (err) {
      if (err instanceof BerthError) {
        throw new BerthError(err.code, `${step}: ${err.message}`, {
          cause: err,
          hint: err.hint,
          details: err.details,
        });
      }
      throw networkError(step, req.url, err);
    }
  }

  /** `GET /v2/`: checks that the registry is there and the credentials (if any) are accepted. */
  async ping(): Promise<void> {
    const url = await this.url("/v2/");
    const res = await this.request(`pinging ${this.host}`, { method: "GET", url });
    if (res.status !== 200) throw await responseError(`pinging ${this.host}`, res);
    await discard(res);
  }
}

export class RegistryClient {
  readonly options: RegistryOptions;
  readonly #hosts = new Map<string, RegistryHost>();
  #agent: Agent | undefined;
  #insecureAgent: Agent | undefined;
  #ca: string | undefined;

  constructor(options: RegistryOptions = {}) {
    this.options = options;
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
    return this;
  }

  retryOptions(): RetryOptions {
    const r: RetryOptions = { ...this.options.retry };
    if (r.logger === undefined && this.options.logger) r.logger = this.options.logger;
    return r;
  }

  agentFor(host: string): Agent {
    const connections = Math.max(4, (this.options.jobs ?? 4) * 2);
    const timeouts = { headersTimeout: this.options.headersTimeout, bodyTimeout: this.options.bodyTimeout };
    if (allowsPlainHttp(host, this.options.insecure) && !LOOPBACK.test(host)) {
      this.#insecureAgent ??= createAgent({ rejectUnauthorized: false, connections, ...timeouts });
      return this.#insecureAgent;
    }
    this.#agent ??= createAgent({ ca: this.#ca, connections, ...timeouts });
    return this.#agent;
  }

  host(registry: string): RegistryHost {
    let h = this.#hosts.get(registry);
    if (!h) {
      h = new RegistryHost(this, registry);
      this.#hosts.set(registry, h);
    }
    return h;
  }

  /** A handle on one repository; `push` asks for push access up front (one token for all requests). */
  repository(registry: string, repository: string, options: { push?: boolean } = {}): Repository {
    return new Repository(this, this.host(registry), repository, options.push ?? false);
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
    await Promise.all([this.#agent?.close(), this.#insecureAgent?.close()]);
    this.#agent = undefined;
    this.#insecureAgent = undefined;
  }
}

/** Create a client and read its CA file. */
export async function openRegistryClient(options: RegistryOptions = {}): Promise<RegistryClient> {
  return new RegistryClient(options).init();
}

export { redactUrl };
