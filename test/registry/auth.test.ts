import { chmod, mkdir, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { copy } from "../../src/oci/copy.ts";
import { parseReference } from "../../src/oci/reference.ts";
import {
  login,
  logout,
  RegistryClient,
  type RegistryOptions,
  registrySink,
  resolveCredential,
} from "../../src/registry/index.ts";
import { tempDir } from "../helpers/temp.ts";
import { htpasswdLine, makePki, makeSigningCert } from "./helpers/certs.ts";
import { randomLayout } from "./helpers/images.ts";
import { type RegistryHarness, startRegistry } from "./helpers/registry.ts";
import { startTokenServer, type TokenServer } from "./helpers/tokenserver.ts";

const SECRET = "s3cret-Pa55word-never-printed";
const READER_SECRET = "r3ader-Pa55word-never-printed";

let tmp: string;
/** Every line any client logged, to search for secrets. */
const logged: string[] = [];
const errors: string[] = [];
const logger = {
  debug: (m: string) => logged.push(m),
  info: (m: string) => logged.push(m),
  warn: (m: string) => logged.push(m),
};

function authFile(host: string, user: string, password: string): string {
  return JSON.stringify({
    auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString("base64") } },
  });
}

async function dockerConfig(name: string, content: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), content);
  return dir;
}

async function capture<T>(p: Promise<T>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    let e: unknown = err;
    while (e instanceof Error) {
      errors.push(
        `${e.message} ${(e as { hint?: string }).hint ?? ""} ${JSON.stringify((e as { details?: unknown }).details ?? {})}`,
      );
      e = e.cause;
    }
    return err;
  }
  throw new Error("expected a failure");
}

beforeAll(async () => {
  tmp = await tempDir("berth-auth-");
});

afterAll(async () => {
  // No credential appears in any output or error.
  const all = [...logged, ...errors].join("\n");
  for (const s of [SECRET, READER_SECRET, Buffer.from(`alice:${SECRET}`).toString("base64")]) {
    expect(all).not.toContain(s);
  }
  expect(errors.length).toBeGreaterThan(0);
});

describe("Basic auth over TLS with a test CA", () => {
  let reg: RegistryHarness;
  let ca: string;
  beforeAll(async () => {
    const pki = await makePki(await mkdtemp(join(tmp, "pki-")));
    ca = pki.caCert;
    reg = await startRegistry({
      tls: { cert: pki.serverCert, key: pki.serverKey },
      htpasswd: [await htpasswdLine("alice", SECRET)],
    });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const client = async (o: RegistryOptions) => new RegistryClient({ caCert: ca, logger, ...o }).init();

  it("pushes and pulls with credentials from a docker config.json, over https", async () => {
    const cfg = await dockerConfig("basic-ok", authFile(reg.host, "alice", SECRET));
    const c = await client({ env: { DOCKER_CONFIG: cfg } });
    const { layout, root } = await randomLayout(join(tmp, "b1"), "t");
    await copy(layout, root, registrySink(c, parseReference(`${reg.host}/secure/app:1`)));
    expect(await c.host(reg.host).base()).toBe(`https://${reg.host}`);
    const got = await c.repository(reg.host, "secure/app").getManifest("1");
    expect(got.descriptor.digest).toBe(root.digest);
    await c.close();
  });

  it("wrong credentials give a clear 401 message", async () => {
    const cfg = await dockerConfig("basic-bad", authFile(reg.host, "alice", "wrong-password"));
    const c = await client({ env: { DOCKER_CONFIG: cfg } });
    const err = await capture(c.repository(reg.host, "secure/app").getManifest("1"));
    expect(isBerthError(err, "REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((err as Error).message).toMatch(/rejected the credentials as "alice" \(401 Unauthorized\)/);
    await c.close();
  });

  it("no credentials: says so", async () => {
    const c = await client({ env: {} });
    const err = await capture(c.repository(reg.host, "secure/app").getManifest("1"));
    expect((err as Error).message).toMatch(/requires authentication and no credentials were found/);
    await c.close();
  });

  it("refuses a certificate it cannot verify", async () => {
    const c = new RegistryClient({ env: {}, logger });
    const err = await capture(c.ping(reg.host));
    expect(isBerthError(err, "REGISTRY_UNREACHABLE")).toBe(true);
    expect((err as Error).message).toMatch(/certificate/i);
    await c.close();
  });

  it("login verifies, writes config.json with mode 0600, and logout removes it", async () => {
    const cfg = join(tmp, "login-cfg");
    const env = { DOCKER_CONFIG: cfg };
    const bad = await capture(login(reg.host, "alice", "nope", { env, caCert: ca, logger }));
    expect(isBerthError(bad, "REGISTRY_UNAUTHORIZED")).toBe(true);
    const where = await login(reg.host, "alice", SECRET, { env, caCert: ca, logger });
    expect(where).toBe(join(cfg, "config.json"));
    expect((await stat(where)).mode & 0o777).toBe(0o600);
    expect(await resolveCredential(reg.host, { env })).toEqual({
      kind: "basic",
      username: "alice",
      password: SECRET,
    });
    const c = await client({ env });
    await c.ping(reg.host);
    await c.close();
    expect(await logout(reg.host, { env })).toBe(true);
    expect(await resolveCredential(reg.host, { env })).toBeUndefined();
    expect(await readFile(where, "utf8")).not.toContain(Buffer.from(`alice:${SECRET}`).toString("base64"));
  });
});

describe("token auth (auth.token with a test token server)", () => {
  let reg: RegistryHarness;
  let tokens: TokenServer;
  beforeAll(async () => {
    const signing = await makeSigningCert(await mkdtemp(join(tmp, "tok-")));
    tokens = await startTokenServer({
      keyPem: signing.keyPem,
      issuer: "berth-test-issuer",
      service: "berth-test-registry",
      users: {
        alice: { password: SECRET, actions: ["pull", "push"] },
        reader: { password: READER_SECRET, actions: ["pull"] },
      },
    });
    reg = await startRegistry({
      token: {
        realm: tokens.realm,
        service: "berth-test-registry",
        issuer: "berth-test-issuer",
        rootCertBundle: signing.cert,
      },
    });
  });
  afterAll(async () => {
    await reg?.stop();
    await tokens?.close();
  });

  it("pushes and pulls with credentials from a credential helper; tokens are cached per scope", async () => {
    const bin = join(tmp, "bin");
    await mkdir(bin, { recursive: true });
    const helper = join(bin, "docker-credential-test");
    await writeFile(
      helper,
      `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "${reg.host}" ]; then\n  printf '{"ServerURL":"%s","Username":"alice","Secret":"${SECRET}"}' "$server"\n  exit 0\nfi\necho "credentials not found in native keychain"\nexit 1\n`,
    );
    await chmod(helper, 0o755);
    const cfg = await dockerConfig("helper", JSON.stringify({ credHelpers: { [reg.host]: "test" } }));
    const env = { DOCKER_CONFIG: cfg, PATH: `${bin}:/usr/bin:/bin` };
    expect(await resolveCredential("other.example:5000", { env })).toBeUndefined();
    const c = new RegistryClient({ env, logger });
    const { layout, root } = await randomLayout(join(tmp, "t1"), "t", { layers: 3 });
    const before = tokens.log.length;
    await copy(layout, root, registrySink(c, parseReference(`${reg.host}/tok/app:1`)));
    const pushTokens = tokens.log.slice(before);
    expect(pushTokens.every((t) => t.who === "alice" && t.status === 200)).toBe(true);
    // One token for pull,push on the repository, reused by every request of the push.
    expect(pushTokens).toHaveLength(1);
    const got = await c.repository(reg.host, "tok/app").getManifest("1");
    expect(got.descriptor.digest).toBe(root.digest);
    await c.close();
  });

  it("a pull-only token can pull but cannot push, with a clear error", async () => {
    const cfg = await dockerConfig("reader", authFile(reg.host, "reader", READER_SECRET));
    const c = new RegistryClient({ env: { DOCKER_CONFIG: cfg }, logger });
    const got = await c.repository(reg.host, "tok/app").getManifest("1");
    expect(got.descriptor.size).toBeGreaterThan(0);
    const { layout, root } = await randomLayout(join(tmp, "t2"), "t");
    const err = await capture(copy(layout, root, registrySink(c, parseReference(`${reg.host}/tok/other:1`))));
    expect(isBerthError(err, "REGISTRY_DENIED")).toBe(true);
    expect((err as Error).message).toMatch(
      /denied repository:tok\/other:pull,push to the client authenticated as "reader"/,
    );
    expect(await c.repository(reg.host, "tok/other").headManifest("1")).toBeUndefined();
    await c.close();
  });

  it("wrong credentials at the token service give a clear 401 message", async () => {
    const cfg = await dockerConfig("tok-bad", authFile(reg.host, "alice", "not-the-password"));
    const c = new RegistryClient({ env: { DOCKER_CONFIG: cfg }, logger });
    const err = await capture(c.repository(reg.host, "tok/app").getManifest("1"));
    expect(isBerthError(err, "REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((err as Error).message).toMatch(
      /rejected the credentials as "alice": its token service .* answered 401/,
    );
    await c.close();
  });

  it("uses the OAuth2 POST form with an identity token", async () => {
    // Get a refresh token the way docker login does (offline_token=true), then use it as identitytoken.
    const res = await fetch(`${tokens.realm}?service=berth-test-registry&offline_token=true`, {
      headers: { authorization: `Basic ${Buffer.from(`alice:${SECRET}`).toString("base64")}` },
    });
    const refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
    const cfg = await dockerConfig(
      "identity",
      JSON.stringify({ auths: { [reg.host]: { identitytoken: refresh } } }),
    );
    const c = new RegistryClient({ env: { DOCKER_CONFIG: cfg }, logger });
    const before = tokens.log.length;
    const got = await c.repository(reg.host, "tok/app").getManifest("1");
    expect(got.descriptor.size).toBeGreaterThan(0);
    expect(tokens.log.slice(before).map((t) => `${t.method} ${t.who}`)).toEqual(["POST refresh:alice"]);
    await c.close();
  });

  it("anonymous pulls get a token with no access and fail clearly", async () => {
    const c = new RegistryClient({ env: {}, logger });
    const err = await capture(c.repository(reg.host, "tok/app").getManifest("1"));
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(/denied|authentication/);
    await c.close();
  });
});
