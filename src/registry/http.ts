/**
 * The HTTP layer of the registry client: one request function over a pooled undici Agent, and small wrappers
 * around it (retry, redirects; auth lives in auth.ts), each a few lines and tested alone.
 */

import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Agent, Dispatcher } from "undici";
import { BerthError } from "../errors.ts";

export interface Logger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
}

/** A body that can be sent more than once: bytes, or an opener called for each attempt. */
export type RequestBody = Buffer | (() => Promise<Readable> | Readable);

export interface HttpRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: URL;
  headers?: Record<string, string> | undefined;
  body?: RequestBody | undefined;
  /** Token scopes this request needs (`repository:foo:pull,push`); read by the auth wrapper. */
  scopes?: string[] | undefined;
  /** Whether the retry wrapper may resend it (default: true unless the body is a one-shot upload). */
  retry?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** The URL that answered (after redirects). */
  url: URL;
}

export type Send = (req: HttpRequest) => Promise<HttpResponse>;

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** How long a whole document (manifest, index, token, tag list) may take to arrive, however it trickles. */
const DOCUMENT_DEADLINE_MS = 60_000;

/**
 * Read a response body whole (small documents and error bodies only), at most `limit` bytes and within
 * `deadline` ms in all: past either, the connection is dropped and the read fails, so a hostile registry
 * cannot keep berth reading forever. A body that breaks off is a network failure (REGISTRY_UNREACHABLE).
 */
export async function readBody(
  res: HttpResponse,
  limit = 16 * 1024 * 1024,
  deadline = DOCUMENT_DEADLINE_MS,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    res.body.destroy();
  }, deadline);
  try {
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length;
      if (n > limit) {
        res.body.destroy();
        throw new BerthError(
          "REGISTRY_ERROR",
          `the response from ${redactUrl(res.url)} is larger than the ${limit} bytes allowed`,
        );
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError(
      "REGISTRY_UNREACHABLE",
      late
        ? `the response from ${redactUrl(res.url)} took longer than ${deadline / 1000} s to arrive (${n} bytes so far)`
        : `the response from ${redactUrl(res.url)} broke off after ${n} bytes: ${(err as Error).message}`,
      { cause: err, details: { url: redactUrl(res.url) } },
    );
  } finally {
    clearTimeout(timer);
  }
  if (late) {
    throw new BerthError(
      "REGISTRY_UNREACHABLE",
      `the response from ${redactUrl(res.url)} took longer than ${deadline / 1000} s to arrive (${n} bytes so far)`,
      { details: { url: redactUrl(res.url) } },
    );
  }
  return Buffer.concat(chunks);
}

/** What of an unused body (an error's, a redirect's) is read before the connection is dropped instead. */
const DISCARD_LIMIT = 64 * 1024;
const DISCARD_DEADLINE_MS = 5_000;

/**
 * Throw away the body of a response berth does not use: a short one is read to its end so that the connection
 * goes back to the pool; one longer than 64 KiB, or slower than 5 s, is cut off with its connection (an
 * endless 500 body used to be drained forever).
 */
export async function discard(res: HttpResponse): Promise<void> {
  let n = 0;
  const timer = setTimeout(() => res.body.destroy(), DISCARD_DEADLINE_MS);
  try {
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length;
      if (n > DISCARD_LIMIT) {
        res.body.destroy();
        return;
      }
    }
  } catch {
    // a broken body of a response we do not use does not matter
  } finally {
    clearTimeout(timer);
  }
}

const SENSITIVE_PARAM = /token|sig|signature|credential|secret|password|key|_state|auth/i;

/** A URL fit for messages and logs: no user info, sensitive query values replaced. */
export function redactUrl(url: URL | string): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return "<invalid URL>";
  }
  u.username = "";
  u.password = "";
  for (const key of [...u.searchParams.keys()]) {
    if (SENSITIVE_PARAM.test(key)) u.searchParams.set(key, "REDACTED");
  }
  return u.toString();
}

export interface AgentOptions {
  /** PEM CA bundle trusted in addition to nothing else (replaces the defaults when set; none trusts nothing). */
  ca?: string | Buffer | readonly string[] | undefined;
  /** Skip TLS certificate verification (insecure registries only). */
  rejectUnauthorized?: boolean | undefined;
  /** A client certificate and its key (PEM), shown to registries that ask for one. */
  cert?: string | undefined;
  key?: string | undefined;
  connections?: number | undefined;
  headersTimeout?: number | undefined;
  bodyTimeout?: number | undefined;
  connectTimeout?: number | undefined;
}

/**
 * The two parts of undici berth uses, loaded on first use: the Agent (pooled keep-alive connections) and the
 * `request` API over any dispatcher. The package's entry point also loads fetch, WebSocket, caches, mocks and
 * more (about 28 MiB of resident memory where these two take 15, and 30 ms of start-up); most commands (layouts,
 * archives, layers) never talk to a registry. Falls back to the entry point if undici's files ever move. berth's
 * bundle has the two in one file of its own (chunks/undici.cjs, its HTTP/2 client loaded on first use).
 */
export interface Undici {
  Agent: typeof Agent;
  request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
}
let undici: Undici | undefined;
/** In berth's bundle, undici's two parts in one file beside this module's chunk (scripts/lib/undici.ts). */
const BUNDLED_UNDICI = "./undici.cjs";
let undiciLoader: (() => Undici) | undefined;

/** How to load undici where it is not in node_modules (berth's single executable bundles it). */
export function useUndici(load: () => Undici): void {
  undiciLoader = load;
}

function loadUndici(): Undici {
  if (undici) return undici;
  if (undiciLoader) {
    undici = undiciLoader();
    return undici;
  }
  const require = createRequire(import.meta.url);
  try {
    undici = require(BUNDLED_UNDICI) as Undici;
    return undici;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
  }
  try {
    undici = {
      Agent: require("undici/lib/dispatcher/agent.js") as typeof Agent,
      request: require("undici/lib/api/api-request.js") as Undici["request"],
    };
  } catch {
    const all = require("undici") as typeof import("undici");
    undici = { Agent: all.Agent, request: all.Dispatcher.prototype.request as Undici["request"] };
  }
  return undici;
}

export function createAgent(options: AgentOptions = {}): Agent {
  const { Agent } = loadUndici();
  const connect: Record<string, unknown> = { timeout: options.connectTimeout ?? 30_000 };
  if (options.ca !== undefined) connect.ca = options.ca;
  if (options.rejectUnauthorized === false) connect.rejectUnauthorized = false;
  if (options.cert !== undefined) connect.cert = options.cert;
  if (options.key !== undefined) connect.key = options.key;
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: options.connections ?? 16,
    headersTimeout: options.headersTimeout ?? 60_000,
    bodyTimeout: options.bodyTimeout ?? 300_000,
    connect,
  });
}

/** The innermost request function: one HTTP exchange through the agent, no retries, no redirects. */
export function sendWith(dispatcher: Dispatcher, logger?: Logger): Send {
  return async (req) => {
    const headers: Record<string, string> = { "user-agent": "berth", ...req.headers };
    let body: Buffer | Readable | null = null;
    if (Buffer.isBuffer(req.body)) body = req.body;
    else if (typeof req.body === "function") body = await req.body();
    const res = await loadUndici().request.call(dispatcher, {
      origin: req.url.origin,
      path: req.url.pathname + req.url.search,
      method: req.method,
      headers,
      body,
      signal: req.signal ?? null,
    });
    logger?.debug?.(`${req.method} ${redactUrl(req.url)} -> ${res.statusCode}`);
    return {
      status: res.statusCode,
      headers: res.headers as HttpResponse["headers"],
      body: res.body as unknown as Readable,
      url: req.url,
    };
  };
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 5). */
  attempts?: number;
  /** First backoff in milliseconds, doubled each time (default 200). */
  baseDelay?: number;
  /** Longest wait, for backoff and Retry-After alike (default 30 s). */
  maxDelay?: number;
  logger?: Logger;
  /** For tests: how to wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
}

const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

/** Whether an error is a dropped or broken connection worth another attempt. */
export function isTransientNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const x = e as { code?: string; message?: string; cause?: unknown; name?: string };
    if (x.name === "AbortError") return false;
    if (typeof x.code === "string" && RETRYABLE_CODES.has(x.code)) return true;
    if (x.message === "terminated" || x.message === "other side closed") return true;
    e = x.cause;
  }
  return false;
}

/** Seconds or an HTTP date, as milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

function retryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Resend on 5xx, 429 (waiting as Retry-After says) and dropped connections, with exponential backoff. */
export function withRetry(next: Send, options: RetryOptions = {}): Send {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelay ?? 200;
  const max = options.maxDelay ?? 30_000;
  const wait = options.sleep ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }));
  return async (req) => {
    const allowed = req.retry ?? true;
    for (let attempt = 1; ; attempt++) {
      const last = !allowed || attempt >= attempts;
      let delay = Math.min(max, base * 2 ** (attempt - 1));
      try {
        const res = await next(req);
        if (last || !retryableStatus(res.status)) return res;
        const after = parseRetryAfter(header(res, "retry-after"));
        if (after !== undefined) delay = Math.min(max, after);
        await discard(res);
        options.logger?.debug?.(
          `${req.method} ${redactUrl(req.url)} answered ${res.status}; retrying in ${delay} ms (attempt ${attempt + 1} of ${attempts})`,
        );
      } catch (err) {
        if (last || !isTransientNetworkError(err)) throw err;
        options.logger?.debug?.(
          `${req.method} ${redactUrl(req.url)} failed (${(err as Error).message}); retrying in ${delay} ms`,
        );
      }
      await wait(delay, req.signal);
    }
  };
}

/**
 * Follow redirects (301, 302, 303, 307, 308) up to a limit. Authorization set by the caller is dropped when
 * the redirect leaves the original host; the auth wrapper adds credentials only for the registry's own host.
 */
export function withRedirects(next: Send, limit = 10): Send {
  return async (req) => {
    let current = req;
    for (let i = 0; ; i++) {
      const res = await next(current);
      if (![301, 302, 303, 307, 308].includes(res.status)) return res;
      const location = header(res, "location");
      if (!location) return res;
      if (i >= limit) {
        await discard(res);
        throw new BerthError("REGISTRY_ERROR", `too many redirects from ${redactUrl(req.url)}`);
      }
      await discard(res);
      const url = new URL(location, current.url);
      const headers = { ...current.headers };
      if (url.host !== req.url.host || url.protocol !== req.url.protocol) {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === "authorization") delete headers[k];
      }
      const method = res.status === 303 && current.method !== "HEAD" ? "GET" : current.method;
      current = { ...current, method, url, headers, body: method === "GET" ? undefined : current.body };
    }
  };
}
