import { copyFile, mkdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, describe, expect, it, vi } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { parseReference } from "../../src/oci/reference.ts";
import { openRegistryClient, RegistryClient } from "../../src/registry/client.ts";
import { tempDir } from "../helpers/temp.ts";
import { makePki, selfSigned } from "./helpers/certs.ts";

let server: Server | undefined;
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
});

describe("RegistryClient", () => {
  it("keeps one host per registry and hands out repositories on it", async () => {
    const client = new RegistryClient();
    expect(client.host("127.0.0.1:5000")).toBe(client.host("127.0.0.1:5000"));
    expect(client.host("127.0.0.1:5000")).not.toBe(client.host("127.0.0.1:5001"));
    const repo = client.repositoryOf(parseReference("127.0.0.1:5000/team/app:1"));
    expect([repo.name, repo.host]).toEqual(["127.0.0.1:5000/team/app", client.host("127.0.0.1:5000")]);
    expect(repo.readScopes).toEqual(["repository:team/app:pull"]);
    expect(client.repository("127.0.0.1:5000", "x", { push: true }).readScopes).toEqual([
      "repository:x:pull,push",
    ]);
    await client.close();
  });

  it("uses a separate pool without certificate checks for an insecure host only", async () => {
    const client = new RegistryClient({ insecure: ["reg.invalid:5000"] });
    const secure = client.agentFor("127.0.0.1:5000");
    expect(client.agentFor("other.invalid")).toBe(secure);
    expect(client.agentFor("reg.invalid:5000")).not.toBe(secure);
    await client.close();
    // closed pools are replaced on the next use
    expect(client.agentFor("127.0.0.1:5000")).not.toBe(secure);
    await client.close();
  });

  it("finds that a loopback registry speaks plain HTTP without loading the CA store", async () => {
    server = createServer((_req, res) => res.writeHead(200).end("{}"));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const a = server.address();
    const host = `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
    const contexts = vi.spyOn(tls, "createSecureContext");
    const client = new RegistryClient();
    try {
      await client.ping(host);
      expect(await client.host(host).base()).toBe(`http://${host}`);
      // the probe's TLS context trusts nothing: none was made with the default roots (options without `ca`)
      const made = contexts.mock.calls.map(([o]) => (o?.ca === undefined ? "default roots" : "no roots"));
      expect(made).toEqual(["no roots"]);
    } finally {
      contexts.mockRestore();
      await client.close();
      server.closeAllConnections();
      await new Promise((r) => server!.close(r));
      server = undefined;
    }
  });

  it("passes its logger to the retry policy unless the policy has one", () => {
    const logger = { warn: () => {} };
    const own = { warn: () => {} };
    expect(new RegistryClient({ logger, retry: { attempts: 2 } }).retryOptions()).toEqual({
      attempts: 2,
      logger,
    });
    expect(new RegistryClient({ logger, retry: { logger: own } }).retryOptions().logger).toBe(own);
  });

  it("names a CA file it cannot read", async () => {
    const missing = join(await tempDir(), "ca.pem");
    const err = await openRegistryClient({ caCert: missing }).catch((e: unknown) => e);
    expect(isBerthError(err, "IO")).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^reading CA certificates ${missing}: ENOENT`));
  });

  it("pings a registry with the credential it was given", async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? "-");
      if (req.headers.authorization) return res.end("{}");
      res.writeHead(401, { "www-authenticate": 'Basic realm="r"' });
      res.end();
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const a = server.address();
    const host = `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
    const asked: string[] = [];
    const client = await openRegistryClient({
      credential: async (r) => {
        asked.push(r);
        return { kind: "basic", username: "u", password: "p" };
      },
    });
    await client.ping(host);
    await client.close();
    expect(asked).toEqual([host]);
    expect(seen.at(-1)).toBe(`Basic ${Buffer.from("u:p").toString("base64")}`);
  });
});

describe("RegistryClient's certDir (containers-certs.d, skopeo's --cert-dir)", () => {
  it("trusts its *.crt and shows its *.cert/*.key pair to a registry that asks for one", async () => {
    const dir = await tempDir();
    const pki = await makePki(dir);
    // the client's certificate: self-signed, the one the registry trusts
    await selfSigned(dir, "client", "/CN=berth client");
    const pem = (n: string) => readFile(join(dir, n), "utf8");
    const httpsServer = createHttpsServer(
      {
        key: await pem("server.key"),
        cert: await pem("server.crt"),
        ca: await pem("client.crt"),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const authorized = (req.socket as tls.TLSSocket).authorized;
        res.writeHead(authorized ? 200 : 403).end();
      },
    );
    await new Promise<void>((r) => httpsServer.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(httpsServer.address() as { port: number }).port}`;
    try {
      const certs = join(dir, "certs.d");
      await mkdir(certs);
      await copyFile(pki.caCert, join(certs, "registry.crt"));
      // the CA alone: the registry refuses a client without a certificate
      const caOnly = await openRegistryClient({ certDir: certs });
      await expect(caOnly.ping(host)).rejects.toThrow(/403/);
      await caOnly.close();
      await copyFile(join(dir, "client.crt"), join(certs, "client.cert"));
      await expect(openRegistryClient({ certDir: certs })).rejects.toThrow(
        `the client certificate ${join(certs, "client.cert")} has no key client.key beside it`,
      );
      await copyFile(join(dir, "client.key"), join(certs, "client.key"));
      const full = await openRegistryClient({ certDir: certs });
      await full.ping(host);
      await full.close();
      // no CA from the directory: the registry's certificate is unknown
      const none = await openRegistryClient({});
      await expect(none.ping(host)).rejects.toThrow();
      await none.close();
    } finally {
      httpsServer.closeAllConnections();
      await new Promise((r) => httpsServer.close(r));
    }
  });

  it("names a directory it cannot read", async () => {
    await expect(openRegistryClient({ certDir: "/nonexistent/certs.d" })).rejects.toThrow(
      /^reading certificates \/nonexistent\/certs.d: ENOENT/,
    );
  });
});
