/**
 * Registry authentication: Basic, and the Bearer token flow from `WWW-Authenticate` (distribution's token.md,
 * oauth.md). Tokens are cached per scope set and fetched again when they expire. Secrets never reach a message.
 */
import { BerthError } from "../errors.ts";
import { parseJson } from "../util/json.ts";
import type { Credential } from "./credentials.ts";
import {
  discard,
  type HttpRequest,
  type HttpResponse,
  header,
  type Logger,
  readBody,
  redactUrl,
  type Send,
} from "./http.ts";

export interface Challenge {
  /** Lowercased: `basic`, `bearer`. */
  scheme: string;
  params: Record<string, string>;
}

/** Parse a `WWW-Authenticate` value: `Bearer realm="…",service="…",scope="…"` (several challenges allowed). */
export function parseChallenges(value: string): Challenge[] {
  const out: Challenge[] = [];
  const re =
    /\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)|\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
  let current: Challenge | undefined;
  let i = 0;
  while (i < value.length) {
    re.lastIndex = i;
    const m = re.exec(value);
    if (!m || m[0] === "") break;
    i = re.lastIndex;
    if (m[2] !== undefined && current) {
      current.params[m[2].toLowerCase()] = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : (m[4] ?? "");
    } else if (m[1] !== undefined) {
      current = { scheme: m[1].toLowerCase(), params: {} };
      out.push(current);
    } else if (value[i] === ",") {
      i++;
    }
  }
  return out;
}

/** The scope string a repository action needs: `repository:foo/bar:pull,push`. */
export function repositoryScope(repository: string, actions: string[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

export interface AuthenticatorOptions {
  /** `host[:port]` of the registry; credentials go to this host only. */
  host: string;
  /** Looked up once, on first need. */
  credential: () => Promise<Credential | undefined>;
  /** For token requests (retry and redirects, no auth). */
  send: Send;
  logger?: Logger | undefined;
  now?: () => number;
}

function describe(c: Credential | undefined): string {
  if (!c) return "anonymously";
  if (c.kind === "basic") return `as ${JSON.stringify(c.username)}`;
  if (c.kind === "identityToken")
    return c.username ? `as ${JSON.stringify(c.username)} (identity token)` : "with an identity token";
  return "with a registry token";
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

export class Authenticator {
  readonly host: string;
  readonly #options: AuthenticatorOptions;
  #credential: Promise<Credential | undefined> | undefined;
  #challenge: Challenge | undefined;
  /** The scheme the registry answered on (`https:`), from the response that carried the challenge. */
  #registryProtocol: string | undefined;
  readonly #tokens = new Map<string, Promise<CachedToken>>();
  #refreshToken: string | undefined;

  constructor(options: AuthenticatorOptions) {
    this.host = options.host;
    this.#options = options;
  }

  credential(): Promise<Credential | undefined> {
    this.#credential ??= this.#options.credential();
    return this.#credential;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** The Authorization header to send up front, once the registry's scheme is known. */
  async authorization(scopes: string[] | undefined): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    const cred = await this.credential();
    if (cred?.kind === "registryToken") return `Bearer ${cred.token}`;
    if (challenge.scheme === "basic") {
      return cred?.kind === "basic" ? basicHeader(cred.username, cred.password) : undefined;
    }
    if (challenge.scheme === "bearer") return (await this.#token(challenge, scopes, false)).header;
    return undefined;
  }

  /**
   * After a 401: learn the challenge and return the header for another attempt, or undefined when there is
   * nothing better to try.
   */
  async challenged(
    res: HttpResponse,
    scopes: string[] | undefined,
    sent: string | undefined,
  ): Promise<string | undefined> {
    const www = header(res, "www-authenticate") ?? "";
    const challenges = parseChallenges(www);
    const challenge =
      challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (!challenge) return undefined;
    this.#challenge = challenge;
    this.#registryProtocol = res.url.protocol;
    const cred = await this.credential();
    if (cred?.kind === "registryToken") {
      const h = `Bearer ${cred.token}`;
      return h === sent ? undefined : h;
    }
    if (challenge.scheme === "basic") {
      if (cred?.kind !== "basic") return undefined;
      const h = basicHeader(cred.username, cred.password);
      return h === sent ? undefined : h;
    }
    const fresh = await this.#token(challenge, scopes, sent !== undefined);
    return fresh.header === sent ? undefined : fresh.header;
  }

  /** A message for a request still refused after authenticating. */
  async refusal(res: HttpResponse, scopes: string[] | undefined): Promise<BerthError> {
    const cred = await this.credential();
    const www = parseChallenges(header(res, "www-authenticate") ?? "")[0];
    const who = describe(cred);
    const wanted = scopes?.length ? scopes.join(" ") : "access";
    let status = res.status;
    await discard(res);
    if (www?.params.error === "insufficient_scope" || status === 403) {
      status = 403;
      return new BerthError(
        "REGISTRY_DENIED",
        `registry ${this.host} denied ${wanted} to the client authenticated ${who}`,
        {
          hint: "these credentials do not grant the access needed (a pull-only account cannot push)",
          details: { status, url: redactUrl(res.url) },
        },
      );
    }
    return new BerthError(
      "REGISTRY_UNAUTHORIZED",
      cred
        ? `registry ${this.host} rejected the credentials ${who} (401 Unauthorized)`
        : `registry ${this.host} requires authentication and no credentials were found for it (401 Unauthorized)`,
      {
        hint: cred
          ? "check the user name and password, or log in again with `berth login`"
          : "log in with `berth login`",
        details: { status: res.status, url: redactUrl(res.url) },
      },
    );
  }

  #token(challenge: Challenge, scopes: string[] | undefined, force: boolean): Promise<CachedToken> {
    const want = scopes?.length
      ? [...scopes]
      : challenge.params.scope
        ? challenge.params.scope.split(" ")
        : [];
    const key = [...new Set(want)].sort().join(" ");
    const cached = this.#tokens.get(key);
    if (cached && !force) {
      return cached.then((t) => {
        if (t.expiresAt > this.#now()) return t;
        this.#tokens.delete(key);
        return this.#token(challenge, scopes, false);
      });
    }
    const p = this.#fetchToken(challenge, want);
    this.#tokens.set(key, p);
    p.catch(() => this.#tokens.delete(key));
    return p;
  }

  async #fetchToken(challenge: Challenge, scopes: string[]): Promise<CachedToken> {
    const realm = challenge.params.realm;
    if (!realm)
      throw new BerthError("REGISTRY_ERROR", `registry ${this.host} sent a Bearer challenge without a realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new BerthError("REGISTRY_ERROR", `registry ${this.host} sent a token realm that is not a URL`);
    }
    const service = challenge.params.service;
    const cred = await this.credential();
    const refresh = cred?.kind === "identityToken" ? cred.token : this.#refreshToken;
    if (
      this.#registryProtocol === "https:" &&
      realmUrl.protocol !== "https:" &&
      (refresh !== undefined || cred?.kind === "basic")
    ) {
      // A registry reached over TLS that sends clients to a plain-HTTP token service would have the
      // credentials cross the network in the clear: berth sends none there.
      throw new BerthError(
        "REGISTRY_UNAUTHORIZED",
        `registry ${this.host} (on https) names the token service ${redactUrl(realmUrl)}, which is not https: no credentials were sent to it`,
        {
          hint: "the registry's token realm must be an https URL; tell its operator (anonymous pulls still work without credentials)",
          details: { realm: redactUrl(realmUrl) },
        },
      );
    }
    if (refresh !== undefined) {
      const res = await this.#postForm(realmUrl, service, scopes, refresh);
      if (res.status !== 404 && res.status !== 405) return this.#readToken(res, realmUrl);
      await discard(res);
    }
    const url = new URL(realmUrl);
    if (service) url.searchParams.set("service", service);
    for (const s of scopes) url.searchParams.append("scope", s);
    const headers: Record<string, string> = {};
    if (cred?.kind === "basic") {
      url.searchParams.set("account", cred.username);
      headers.authorization = basicHeader(cred.username, cred.password);
    }
    const res = await this.#options.send({ method: "GET", url, headers });
    return this.#readToken(res, realmUrl);
  }

  async #postForm(
    realm: URL,
    service: string | undefined,
    scopes: string[],
    refresh: string,
  ): Promise<HttpResponse> {
    const form = new URLSearchParams();
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", refresh);
    form.set("client_id", "berth");
    if (service) form.set("service", service);
    if (scopes.length) form.set("scope", scopes.join(" "));
    return this.#options.send({
      method: "POST",
      url: realm,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: Buffer.from(form.toString(), "utf8"),
    });
  }

  async #readToken(res: HttpResponse, realm: URL): Promise<CachedToken> {
    const cred = await this.credential();
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw new BerthError(
        "REGISTRY_UNAUTHORIZED",
        `registry ${this.host} rejected the credentials ${describe(cred)}: its token service ${redactUrl(realm)} answered ${res.status}`,
        {
          hint: "check the user name and password, or log in again with `berth login`",
          details: { status: res.status },
        },
      );
    }
    if (res.status !== 200) {
      await discard(res);
      throw new BerthError(
        "REGISTRY_ERROR",
        `getting a token for ${this.host} from ${redactUrl(realm)}: it answered ${res.status}`,
        { details: { status: res.status } },
      );
    }
    const doc = parseJson(
      await readBody(res, 1024 * 1024),
      `the token service ${redactUrl(realm)}'s answer`,
      "REGISTRY_ERROR",
      { secret: true },
    ) as { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    const token = typeof doc.token === "string" && doc.token ? doc.token : doc.access_token;
    if (typeof token !== "string" || token === "") {
      throw new BerthError(
        "REGISTRY_ERROR",
        `the token service ${redactUrl(realm)} answered without a token`,
      );
    }
    if (typeof doc.refresh_token === "string" && doc.refresh_token) this.#refreshToken = doc.refresh_token;
    const seconds = typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : 60;
    // Renew a little early so that a token does not expire between the check and the request.
    const expiresAt = this.#now() + seconds * 1000 * 0.9;
    this.#options.logger?.debug?.(`got a token for ${this.host} valid ${seconds} s`);
    return { header: `Bearer ${token}`, expiresAt };
  }
}

function withAuthorization(req: HttpRequest, value: string | undefined): HttpRequest {
  if (value === undefined) return req;
  return { ...req, headers: { ...req.headers, authorization: value } };
}

/**
 * Authenticate requests to the authenticator's host: send what is known up front, and on a 401 learn the
 * challenge and try once more. A request still refused becomes a clear REGISTRY_UNAUTHORIZED/DENIED error.
 */
export function withAuth(next: Send, auth: Authenticator): Send {
  return async (req) => {
    if (req.url.host !== auth.host) return next(req);
    const first = await auth.authorization(req.scopes);
    const res = await next(withAuthorization(req, first));
    if (res.status !== 401) return res;
    const again = await auth.challenged(res, req.scopes, first);
    if (again === undefined) throw await auth.refusal(res, req.scopes);
    await discard(res);
    const res2 = await next(withAuthorization(req, again));
    if (res2.status === 401) throw await auth.refusal(res2, req.scopes);
    return res2;
  };
}
