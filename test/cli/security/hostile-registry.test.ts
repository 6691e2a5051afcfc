/**
 * Issue 19, hostile registries: an endless error body was drained forever; a Bearer realm on plain HTTP
 * behind an https registry got the user's credentials; a body that kept breaking off ended in an internal
 * error instead of the network exit code. Each is a small server on 127.0.0.1 here.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { makePki, type TestPki } from "../../registry/helpers/certs.ts";
import { type FaultProxy, startFaultProxy } from "../../registry/helpers/faultproxy.ts";
import { randomLayout } from "../../registry/helpers/images.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { hasStackTrace } from "./craft.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let dir: string;
let pki: TestPki;
const servers: Server[] = [];

async function serve(handler: Handler, tls = false): Promise<string> {
  const server = tls
    ? createHttpsServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) }, handler)
    : createHttpServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return `127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
}

/** Answer with `status` and a body that never ends (until the client goes away). */
function endless(status: number, headers: Record<string, string> = {}, prefix = ""): Handler {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  return (req, res) => {
    req.resume();
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.write(prefix);
    let gone = false;
    res.on("close", () => {
      gone = true;
    });
    const pump = () => {
      while (!gone && res.write(chunk)) {
        // until the socket's buffer is full
      }
    };
    res.on("drain", pump);
    pump();
  };
}

beforeAll(async () => {
  dir = await tempDir();
  const pkiDir = join(dir, "pki");
  await mkdir(pkiDir);
  pki = await makePki(pkiDir);
});
afterAll(async () => {
  for (const s of servers) s.closeAllConnections?.();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe("error bodies are capped, then the connection is dropped", () => {
  it("an endless 500 body: berth gives up after its retries with the network exit code", async () => {
    const host = await serve(endless(500, {}, '{"errors":[{"code":"UNKNOWN","message":"'));
    const r = await berth(["pull", `${host}/hostile/app:1`], { home: join(dir, "h500") });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/answered 500/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  }, 60_000);

  it("an endless 401 body: berth reports the refusal", async () => {
    const host = await serve(endless(401, { "www-authenticate": 'Basic realm="hostile"' }));
    const r = await berth(["pull", `${host}/hostile/app:1`], { home: join(dir, "h401") });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/requires authentication/);
  }, 60_000);

  it("an endless manifest: a clear error once it passes the document size limit", async () => {
    const host = await serve(
      endless(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }, '{"schemaVersion":2,'),
    );
    const r = await berth(["pull", `${host}/hostile/app:1`], { home: join(dir, "hman") });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/getting manifest .*larger than the \d+ bytes allowed/);
  }, 60_000);

  it("a manifest body that breaks off: the network exit code, no stack trace", async () => {
    const host = await serve((req, res) => {
      req.resume();
      res.writeHead(200, {
        "content-type": "application/vnd.oci.image.manifest.v1+json",
        "content-length": "1000",
      });
      res.write('{"schemaVersion":2,');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const r = await berth(["pull", `${host}/hostile/app:1`], { home: join(dir, "hcut") });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/broke off/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  }, 60_000);
});

describe("a Bearer realm that downgrades https to http gets no credentials", () => {
  it("berth sends nothing to the http realm and names it in the error", async () => {
    const SECRET = "hostile-realm-s3cret";
    const seen: { url: string; authorization: string | undefined; body: string }[] = [];
    const realm = await serve((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        seen.push({ url: req.url ?? "", authorization: req.headers.authorization, body });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ token: "stolen-nothing" }));
      });
    });
    const registry = await serve((req, res) => {
      req.resume();
      res.writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": `Bearer realm="http://${realm}/token",service="hostile",scope="repository:hostile/app:pull"`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }, true);
    const docker = join(dir, "docker-config");
    await mkdir(docker, { recursive: true });
    await writeFile(
      join(docker, "config.json"),
      JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`user:${SECRET}`).toString("base64") } } }),
    );
    const r = await berth(["--ca-cert", pki.caCert, "pull", `${registry}/hostile/app:1`], {
      home: join(dir, "hrealm"),
      env: { DOCKER_CONFIG: docker },
    });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`http://${realm}/token`);
    expect(r.stderr).toMatch(/no credentials were sent/);
    expect(r.stderr).not.toContain(SECRET);
    expect(seen.filter((s) => s.authorization !== undefined)).toEqual([]);
    expect(seen.filter((s) => s.url.includes("account=") || s.body.includes(SECRET))).toEqual([]);
  }, 60_000);
});

describe("a blob body that keeps breaking off", () => {
  let reg: RegistryHarness;
  let proxy: FaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await reg?.stop();
  });

  it("gives the network exit code after the resumes, naming the blob", async () => {
    const home = join(dir, "hblob");
    await randomLayout(join(dir, "blob-src"), "t", { layers: 1, layerSize: 512 * 1024 });
    let r = await berth(["copy", `oci:${join(dir, "blob-src")}:t`, `docker://${reg.host}/cut/app:1`], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    proxy.add({
      method: "GET",
      path: /\/blobs\/sha256:/,
      fault: { kind: "reset-body", after: 1000 },
      times: Infinity,
    });
    r = await berth(["pull", `${proxy.host}/cut/app:1`], { home });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/pulling blob sha256:[0-9a-f]{64}/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  }, 120_000);
});
