import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { digestBytes } from "../../src/oci/digest.ts";
import { discard, readBody } from "../../src/registry/http.ts";
import {
  Authenticator,
  createAgent,
  nextLink,
  parseChallenges,
  parseRetryAfter,
  RegistryClient,
  redactUrl,
  referrersTag,
  sendWith,
  withAuth,
  withRedirects,
  withRetry,
} from "../../src/registry/index.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
const agent = createAgent();

async function serve(handler: Handler): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const a = s.address();
  return `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const noWait = { sleep: async () => undefined };

describe("withRetry", () => {
  it("retries 500 and 429, waiting as Retry-After says", async () => {
    const statuses = [500, 429, 200];
    const host = await serve((_req, res) => {
      const s = statuses.shift()!;
      res.writeHead(s, s === 429 ? { "retry-after": "7" } : {});
      res.end("x");
    });
    const waits: number[] = [];
    const send = withRetry(sendWith(agent), { baseDelay: 10, sleep: async (ms) => waits.push(ms) });
    const res = await send({ method: "GET", url: new URL(`http://${host}/`) });
    expect(res.status).toBe(200);
    expect(waits).toEqual([10, 7000]);
  });

  it("retries a connection reset, and gives up after the attempts", async () => {
    let n = 0;
    const host = await serve((req) => {
      n++;
      req.socket.destroy();
    });
    const send = withRetry(sendWith(agent), { attempts: 3, ...noWait });
    await expect(send({ method: "GET", url: new URL(`http://${host}/`) })).rejects.toThrow();
    expect(n).toBe(3);
  });

  it("does not resend a request marked retry: false, nor a 404", async () => {
    let n = 0;
    const host = await serve((_req, res) => {
      n++;
      res.writeHead(n === 1 ? 500 : 404);
      res.end();
    });
    const send = withRetry(sendWith(agent), noWait);
    expect((await send({ method: "PUT", url: new URL(`http://${host}/`), retry: false })).status).toBe(500);
    expect((await send({ method: "GET", url: new URL(`http://${host}/`) })).status).toBe(404);
    expect(n).toBe(2);
  });

  it("parses Retry-After as seconds or a date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});

describe("withRedirects", () => {
  it("follows a redirect to another host without the Authorization header", async () => {
    const seen: (string | undefined)[] = [];
    const other = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end("blob");
    });
    const first = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(307, { location: `http://${other}/storage/blob` });
      res.end();
    });
    const send = withRedirects(sendWith(agent));
    const res = await send({
      method: "GET",
      url: new URL(`http://${first}/v2/x/blobs/d`),
      headers: { authorization: "Bearer secret" },
    });
    expect((await readBody(res)).toString()).toBe("blob");
    expect(seen).toEqual(["Bearer secret", undefined]);
  });

  it("keeps Authorization on a same-host redirect", async () => {
    const seen: (string | undefined)[] = [];
    const host = await serve((req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === "/a") {
        res.writeHead(302, { location: "/b" });
        res.end();
      } else res.end("ok");
    });
    const res = await withRedirects(sendWith(agent))({
      method: "GET",
      url: new URL(`http://${host}/a`),
      headers: { authorization: "Basic x" },
    });
    await readBody(res);
    expect(seen).toEqual(["Basic x", "Basic x"]);
  });
});

describe("auth", () => {
  it("parses WWW-Authenticate challenges", () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a/b:pull,push" },
      },
    ]);
    expect(parseChallenges('Basic realm="x"')).toEqual([{ scheme: "basic", params: { realm: "x" } }]);
  });

  it("fetches a Bearer token on a 401, caches it per scope, and refreshes it when expired", async () => {
    let tokenCalls = 0;
    let now = 0;
    const host = await serve((req, res) => {
      if (req.url?.startsWith("/token")) {
        tokenCalls++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ token: `t${tokenCalls}`, expires_in: 60 }));
        return;
      }
      if (req.headers.authorization !== `Bearer t${tokenCalls}` || tokenCalls === 0) {
        res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="svc"` });
        res.end();
        return;
      }
      res.end("ok");
    });
    const base = withRetry(sendWith(agent), noWait);
    const auth = new Authenticator({ host, credential: async () => undefined, send: base, now: () => now });
    const send = withAuth(base, auth);
    const req = {
      method: "GET" as const,
      url: new URL(`http://${host}/v2/x`),
      scopes: ["repository:x:pull"],
    };
    for (let i = 0; i < 3; i++) expect((await send(req)).status).toBe(200);
    expect(tokenCalls).toBe(1);
    now = 120_000;
    expect((await send(req)).status).toBe(200);
    expect(tokenCalls).toBe(2);
  });

  it("sends credentials to the registry's own host only", async () => {
    const seen: (string | undefined)[] = [];
    const host = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end();
    });
    const auth = new Authenticator({
      host: "registry.example",
      credential: async () => ({ kind: "registryToken", token: "tok" }),
      send: sendWith(agent),
    });
    await readBody(await withAuth(sendWith(agent), auth)({ method: "GET", url: new URL(`http://${host}/`) }));
    expect(seen).toEqual([undefined]);
  });
});

describe("repository edge cases (fake registry)", () => {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestBytes("{}"), size: 2 },
      layers: [],
    }),
  );

  it("refuses a Content-Type that contradicts the manifest's mediaType", async () => {
    const host = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/vnd.docker.distribution.manifest.v2+json" });
      res.end(manifest);
    });
    const c = new RegistryClient({ env: {} });
    await expect(c.repository(host, "x").getManifest("1")).rejects.toMatchObject({
      code: "MANIFEST_INVALID",
      message: expect.stringMatching(
        /Content-Type application\/vnd.docker.distribution.manifest.v2\+json but the manifest's mediaType is application\/vnd.oci.image.manifest.v1\+json/,
      ),
    });
    await c.close();
  });

  it("verifies a manifest fetched by digest", async () => {
    const host = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
      res.end(manifest);
    });
    const c = new RegistryClient({ env: {} });
    await expect(c.repository(host, "x").getManifest(digestBytes("other"))).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
    });
    expect((await c.repository(host, "x").getManifest(digestBytes(manifest))).descriptor.size).toBe(
      manifest.length,
    );
    await c.close();
  });

  it("follows Link pagination of tags", async () => {
    const host = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      const last = url.searchParams.get("last");
      const pages: Record<string, [string[], string | undefined]> = {
        "": [["a", "b"], "/v2/x/tags/list?n=2&last=b"],
        b: [["c", "d"], "/v2/x/tags/list?n=2&last=d"],
        d: [["e"], undefined],
      };
      const [tags, next] = pages[last ?? ""]!;
      res.writeHead(200, {
        "content-type": "application/json",
        ...(next ? { link: `<${next}>; rel="next"` } : {}),
      });
      res.end(JSON.stringify({ name: "x", tags }));
    });
    const c = new RegistryClient({ env: {} });
    expect(await c.repository(host, "x").tags({ pageSize: 2 })).toEqual(["a", "b", "c", "d", "e"]);
    await c.close();
  });

  it("checks Docker-Content-Digest on manifest PUT", async () => {
    const host = await serve((req, res) => {
      req.resume();
      res.writeHead(201, { "docker-content-digest": digestBytes("something else") });
      res.end();
    });
    const c = new RegistryClient({ env: {} });
    await expect(
      c.repository(host, "x").putManifest("1", manifest, "application/vnd.oci.image.manifest.v1+json"),
    ).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
    });
    await c.close();
  });
});

describe("helpers", () => {
  it("redacts credentials and secret query values from URLs", () => {
    expect(redactUrl("https://u:p@reg.example/v2/x/blobs/uploads/1?_state=abc&digest=sha256:1")).toBe(
      "https://reg.example/v2/x/blobs/uploads/1?_state=REDACTED&digest=sha256%3A1",
    );
    expect(redactUrl("https://s3.example/b?X-Amz-Signature=zz")).toContain("X-Amz-Signature=REDACTED");
  });

  it("parses Link headers and names fallback referrers tags", () => {
    expect(nextLink('</v2/x/tags/list?last=b&n=2>; rel="next"')).toBe("/v2/x/tags/list?last=b&n=2");
    expect(nextLink(undefined)).toBeUndefined();
    expect(referrersTag(`sha256:${"a".repeat(64)}`)).toBe(`sha256-${"a".repeat(64)}`);
  });
});

describe("bodies from a hostile server (issue 19)", () => {
  const trickle: Handler = (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json" });
    const t = setInterval(() => res.write(" "), 20);
    res.on("close", () => clearInterval(t));
  };

  it("readBody gives up on a body that trickles past its deadline, dropping the connection", async () => {
    const host = await serve(trickle);
    const res = await sendWith(agent)({ method: "GET", url: new URL(`http://${host}/doc`) });
    const err = await readBody(res, 1024 * 1024, 300).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("REGISTRY_UNREACHABLE");
    expect((err as Error).message).toMatch(/took longer than 0\.3 s/);
    expect(res.body.destroyed).toBe(true);
  });

  it("discard cuts off an endless body instead of draining it", async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const host = await serve((req, res) => {
      req.resume();
      res.writeHead(500);
      let gone = false;
      res.on("close", () => {
        gone = true;
      });
      const pump = () => {
        while (!gone && res.write(chunk)) {
          // fill the socket
        }
      };
      res.on("drain", pump);
      pump();
    });
    const res = await sendWith(agent)({ method: "GET", url: new URL(`http://${host}/x`) });
    await discard(res);
    expect(res.body.destroyed).toBe(true);
  });
});
