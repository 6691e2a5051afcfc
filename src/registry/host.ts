/**
 * One registry host (`host[:port]`): whether it speaks TLS, its authenticator, and the composed request
 * function. It needs only a narrow `HostAccess` from its client, so that the repository and upload modules,
 * which work through hosts, do not depend on the client (client → repository → upload, no way back).
 */
import type { Agent } from "undici";
import { BerthError } from "../errors.ts";
import { Authenticator, withAuth } from "./auth.ts";
import type { Credential } from "./credentials.ts";
import { networkError, responseError } from "./errors.ts";
import {
  discard,
  type HttpRequest,
  type HttpResponse,
  type Logger,
  type RetryOptions,
  type Send,
  sendWith,
  withRedirects,
  withRetry,
} from "./http.ts";

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

/** Whether a registry (`host[:port]`) is on this machine's loopback. */
export function isLoopbackRegistry(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Whether docker would allow plain HTTP for this host: loopback, or listed as insecure. */
export function allowsPlainHttp(host: string, insecure: string[] = []): boolean {
  return isLoopbackRegistry(host) || listedInsecure(host, insecure);
}

/**
 * Whether a host is listed as insecure (`--insecure-registry`, skopeo's `--tls-verify=false`): its
 * certificates go unchecked, on loopback too, where plain HTTP alone is allowed without the listing.
 */
export function listedInsecure(host: string, insecure: string[] = []): boolean {
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

/**
 * What a registry host needs from the client that owns it, and no more: connections (the agent), the retry
 * policy, credentials, a logger, and the hosts reached over plain HTTP. The repository and upload modules see
 * only hosts, so none of them depends on the client.
 */
export interface HostAccess {
  /** The connection pool for a host (`host[:port]`). */
  agentFor(host: string): Agent;
  /**
   * The pool that asks a host whether it speaks TLS (`base`), when it is not `agentFor`'s: one that trusts and
   * verifies nothing, so that finding a plain-HTTP registry loads no CA store.
   */
  probeAgent?(): Agent;
  retry: RetryOptions;
  /** Credentials for a registry as references name it (`docker.io`). */
  credential(registry: string): Promise<Credential | undefined>;
  logger?: Logger | undefined;
  /** Hosts reached over plain HTTP (or HTTPS without certificate checks) besides loopback. */
  insecure?: string[] | undefined;
  /** Hosts reached over verified HTTPS only, on loopback too (skopeo's `--tls-verify=true`). */
  secure?: string[] | undefined;
}

/** One registry host: its base URL and the composed request function (redirects → auth → retry → send). */
export class RegistryHost {
  readonly host: string;
  readonly auth: Authenticator;
  readonly #access: HostAccess;
  #base: Promise<string> | undefined;
  #send: Send | undefined;

  /** `registry` is the name in references (`docker.io`); `host` is where requests go (`registry-1.docker.io`). */
  readonly registry: string;

  constructor(access: HostAccess, registry: string) {
    this.#access = access;
    this.registry = registry;
    const host = registry === "docker.io" ? "registry-1.docker.io" : registry;
    this.host = host;
    this.auth = new Authenticator({
      host,
      credential: () => access.credential(registry),
      send: (req) => this.#plainSend()(req),
      logger: access.logger,
    });
  }

  #plainSend(): Send {
    const agent = this.#access.agentFor(this.host);
    return withRedirects(withRetry(sendWith(agent, this.#access.logger), this.#access.retry));
  }

  get send(): Send {
    this.#send ??= withRedirects(
      withAuth(
        withRetry(sendWith(this.#access.agentFor(this.host), this.#access.logger), this.#access.retry),
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
    if (!allowsPlainHttp(this.host, this.#access.insecure) || listedInsecure(this.host, this.#access.secure))
      return https;
    const send = sendWith(this.#access.probeAgent?.() ?? this.#access.agentFor(this.host));
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
