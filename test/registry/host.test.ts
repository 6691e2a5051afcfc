import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { allowsPlainHttp, isLoopbackRegistry, RegistryHost } from "../../src/registry/host.ts";
import { createAgent } from "../../src/registry/http.ts";
import { freePort } from "./helpers/ports.ts";

const agent = createAgent();
const servers: Server[] = [];
const access = {
  agentFor: () => agent,
  retry: { attempts: 1 },
  credential: async () => undefined,
};

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<{ host: string; seen: string[] }> {
  const seen: string[] = [];
  const s = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
    handler(req, res);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(port, "127.0.0.1", r));
  const a = s.address();
  return { host: `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`, seen };
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
afterAll(() => agent.close());

describe("isLoopbackRegistry and allowsPlainHttp", () => {
  it("know loopback with or without a port, and nothing else", () => {
    for (const h of ["localhost", "LOCALHOST:5000", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:443"]) {
      expect([h, isLoopbackRegistry(h)]).toEqual([h, true]);
    }
    for (const h of ["127.0.0.2", "localhost.example", "10.0.0.1:5000", "x127.0.0.1", "[::2]"]) {
      expect([h, isLoopbackRegistry(h)]).toEqual([h, false]);
    }
  });

  it("allow plain HTTP for loopback and listed hosts, a listed host matching with any port", () => {
    expect(allowsPlainHttp("127.0.0.1:5000")).toBe(true);
    expect(allowsPlainHttp("reg.internal:5000")).toBe(false);
    expect(allowsPlainHttp("reg.internal:5000", ["REG.internal:5000"])).toBe(true);
    expect(allowsPlainHttp("reg.internal:5000", ["reg.internal"])).toBe(true);
    expect(allowsPlainHttp("reg.internal", ["reg.internal:5000"])).toBe(false);
    expect(allowsPlainHttp("reg.internal:5001", ["reg.internal:5000"])).toBe(false);
  });
});

describe("RegistryHost", () => {
  it("finds that a loopback registry speaks plain HTTP, asking once", async () => {
    const reg = await serve((_req, res) => res.end("{}"));
    const host = new RegistryHost(access, reg.host);
    expect([host.registry, host.host]).toEqual([reg.host, reg.host]);
    expect(await host.base()).toBe(`http://${reg.host}`);
    expect(await host.base()).toBe(`http://${reg.host}`);
    expect((await host.url("/v2/a/tags/list")).href).toBe(`http://${reg.host}/v2/a/tags/list`);
    expect(reg.seen).toEqual([]); // the TLS hello was answered in plain text, no HTTP request was read
  });

  it("uses HTTPS without asking for a host that may not be reached in plain HTTP", async () => {
    const host = new RegistryHost(access, "reg.invalid:5000");
    expect(await host.base()).toBe("https://reg.invalid:5000");
  });

  it("names the host it cannot reach, and asks again next time", async () => {
    const port = await freePort();
    const host = new RegistryHost(access, `127.0.0.1:${port}`);
    const err = await host.base().catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_UNREACHABLE")).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^reaching registry 127\\.0\\.0\\.1:${port}: https://127\\.0\\.0\\.1:${port}/v2/: ECONNREFUSED`,
      ),
    );
    await serve((_req, res) => res.end("{}"), port);
    expect(await host.base()).toBe(`http://127.0.0.1:${port}`);
  });

  it("pings: a 200 passes, a refusal is the registry's error naming the step", async () => {
    const ok = await serve((_req, res) => res.end("{}"));
    await new RegistryHost(access, ok.host).ping();
    expect(ok.seen).toEqual(["GET /v2/ -"]);

    const denied = await serve((_req, res) => {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "DENIED", message: "go away" }] }));
    });
    const err = await new RegistryHost(access, denied.host).ping().catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_DENIED")).toBe(true);
    expect((err as Error).message).toBe(
      `pinging ${denied.host}: http://${denied.host}/v2/ answered 403 (DENIED: go away)`,
    );
  });

  it("sends the stored credential after a Basic challenge, and prefixes the step to its refusal", async () => {
    const reg = await serve((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from("u:p").toString("base64")}`)
        return res.end("{}");
      res.writeHead(401, { "www-authenticate": 'Basic realm="r"' });
      res.end();
    });
    const host = new RegistryHost(
      { ...access, credential: async () => ({ kind: "basic", username: "u", password: "p" }) },
      reg.host,
    );
    await host.ping();
    expect(reg.seen.at(-1)).toMatch(/^GET \/v2\/ Basic /);

    const nobody = new RegistryHost(access, reg.host);
    const err = await nobody
      .request("listing tags", { method: "GET", url: await nobody.url("/v2/") })
      .catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((err as Error).message).toMatch(/^listing tags: /);
  });
});
