/**
 * A token service for distribution's `auth.token` mode: checks Basic credentials (GET) or a refresh token
 * (OAuth2 POST form), grants each user a fixed set of actions on any repository, and signs RS256 JWTs with
 * a test key whose certificate is the registry's rootcertbundle (the `kid` is libtrust's key ID).
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface TokenUser {
  password: string;
  /** Actions granted on every repository: ["pull"] or ["pull", "push"]. */
  actions: string[];
}

export interface TokenServerOptions {
  keyPem: string;
  issuer: string;
  service: string;
  users: Record<string, TokenUser>;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
  /** Answer 404 to the OAuth2 POST (to test the fallback to GET). */
  noOAuth?: boolean;
}

export interface TokenServer {
  realm: string;
  /** What was asked: method, scopes, and who (user name or "anonymous" / "refresh:<user>"). */
  log: { method: string; scopes: string[]; who: string; status: number }[];
  /** Refresh tokens handed out, by user. */
  refreshTokens: Map<string, string>;
  close(): Promise<void>;
}

function base32(bytes: Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** libtrust's key ID: base32 of the first 240 bits of sha256(DER SPKI), in groups of four joined by ':'. */
function libtrustKeyId(keyPem: string): string {
  const der = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
  const s = base32(createHash("sha256").update(der).digest().subarray(0, 30));
  return s.match(/.{1,4}/g)!.join(":");
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startTokenServer(o: TokenServerOptions): Promise<TokenServer> {
  const key = createPrivateKey(o.keyPem);
  const kid = libtrustKeyId(o.keyPem);
  const log: TokenServer["log"] = [];
  const refreshTokens = new Map<string, string>();

  const mint = (user: string | undefined, scopes: string[]) => {
    const granted = user ? (o.users[user]?.actions ?? []) : [];
    const access = scopes
      .map((s) => s.split(":"))
      .filter((p) => p.length === 3 && p[0] === "repository")
      .map(([type, name, actions]) => ({
        type,
        name,
        actions: actions!.split(",").filter((a) => granted.includes(a)),
      }));
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: o.issuer,
      sub: user ?? "",
      aud: o.service,
      exp: now + (o.expiresIn ?? 300),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
    const payload = b64url(JSON.stringify(claims));
    const sig = sign("sha256", Buffer.from(`${head}.${payload}`), key);
    return `${head}.${payload}.${b64url(sig)}`;
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const reply = (status: number, doc: unknown, who: string, scopes: string[]) => {
      log.push({ method: req.method ?? "", scopes, who, status });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(doc));
    };
    if (req.method === "POST") {
      const form = new URLSearchParams(await body(req));
      const scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
      if (o.noOAuth) return reply(404, { error: "not found" }, "oauth-disabled", scopes);
      let user: string | undefined;
      if (form.get("grant_type") === "refresh_token") {
        for (const [u, t] of refreshTokens) if (t === form.get("refresh_token")) user = u;
      } else if (form.get("grant_type") === "password") {
        const u = form.get("username") ?? "";
        if (o.users[u]?.password === form.get("password")) user = u;
      }
      if (!user) return reply(401, { error: "invalid_grant" }, "rejected", scopes);
      return reply(
        200,
        { access_token: mint(user, scopes), expires_in: o.expiresIn ?? 300 },
        `refresh:${user}`,
        scopes,
      );
    }
    const scopes = url.searchParams.getAll("scope");
    const auth = req.headers.authorization;
    let user: string | undefined;
    if (auth?.startsWith("Basic ")) {
      const decoded = Buffer.from(auth.slice(6), "base64").toString("utf8");
      const i = decoded.indexOf(":");
      const u = decoded.slice(0, i);
      if (o.users[u]?.password !== decoded.slice(i + 1))
        return reply(401, { errors: [{ code: "UNAUTHORIZED" }] }, "rejected", scopes);
      user = u;
    }
    const doc: Record<string, unknown> = { token: mint(user, scopes), expires_in: o.expiresIn ?? 300 };
    if (user && url.searchParams.get("offline_token") === "true") {
      const t = randomUUID();
      refreshTokens.set(user, t);
      doc.refresh_token = t;
    }
    return reply(200, doc, user ?? "anonymous", scopes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    log,
    refreshTokens,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
