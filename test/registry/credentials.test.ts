import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DOCKER_HUB_KEY, resolveCredential, storeCredential } from "../../src/registry/index.ts";
import { tempDir } from "../helpers/temp.ts";

let tmp: string;
const b64 = (s: string) => Buffer.from(s).toString("base64");

async function write(path: string, doc: unknown): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, typeof doc === "string" ? doc : JSON.stringify(doc));
}

async function helper(name: string, script: string): Promise<string> {
  const bin = join(tmp, `bin-${name}`);
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${script}\n`);
  await chmod(join(bin, `docker-credential-${name}`), 0o755);
  return `${bin}:/usr/bin:/bin`;
}

beforeAll(async () => {
  tmp = await tempDir("berth-creds-");
});

describe("keychain", () => {
  it("reads docker config auths, matching keys with a scheme or path, and the Docker Hub key", async () => {
    const cfg = join(tmp, "d1");
    await write(join(cfg, "config.json"), {
      auths: {
        "https://reg.example:5000/v1/": { auth: b64("u1:p1") },
        [DOCKER_HUB_KEY]: { auth: b64("hub:pw") },
        "id.example": { identitytoken: "refresh-me", auth: b64("someone:") },
      },
    });
    const env = { DOCKER_CONFIG: cfg };
    expect(await resolveCredential("reg.example:5000", { env })).toEqual({
      kind: "basic",
      username: "u1",
      password: "p1",
    });
    expect(await resolveCredential("docker.io", { env })).toEqual({
      kind: "basic",
      username: "hub",
      password: "pw",
    });
    expect(await resolveCredential("id.example", { env })).toEqual({
      kind: "identityToken",
      token: "refresh-me",
      username: "someone",
    });
    expect(await resolveCredential("nothing.example", { env })).toBeUndefined();
  });

  it("falls back to REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR, then ~/.config/containers/auth.json", async () => {
    const home = join(tmp, "home");
    const xdg = join(tmp, "xdg");
    await write(join(home, ".config", "containers", "auth.json"), {
      auths: { a: { auth: b64("home:1") }, b: { auth: b64("home:2") }, c: { auth: b64("home:3") } },
    });
    await write(join(xdg, "containers", "auth.json"), {
      auths: { a: { auth: b64("xdg:1") }, b: { auth: b64("xdg:2") } },
    });
    await write(join(tmp, "raf.json"), { auths: { a: { auth: b64("raf:1") } } });
    const env = { HOME: home, XDG_RUNTIME_DIR: xdg, REGISTRY_AUTH_FILE: join(tmp, "raf.json") };
    expect(await resolveCredential("a", { env })).toMatchObject({ username: "raf" });
    expect(await resolveCredential("b", { env })).toMatchObject({ username: "xdg" });
    expect(await resolveCredential("c", { env })).toMatchObject({ username: "home" });
  });

  it("asks credHelpers before credsStore, passes the server URL on stdin, and treats 'not found' as anonymous", async () => {
    const path1 = await helper("one", 'read s; printf \'{"Username":"h1","Secret":"x-%s"}\' "$s"');
    const path2 = await helper("two", 'echo "credentials not found in native keychain"; exit 1');
    const cfg = join(tmp, "d2");
    await write(join(cfg, "config.json"), {
      credsStore: "two",
      credHelpers: { "helped.example": "one", "docker.io": "one" },
    });
    const env = { DOCKER_CONFIG: cfg, PATH: `${path1}:${path2}` };
    expect(await resolveCredential("helped.example", { env })).toEqual({
      kind: "basic",
      username: "h1",
      password: "x-helped.example",
    });
    expect(await resolveCredential("docker.io", { env })).toMatchObject({ password: `x-${DOCKER_HUB_KEY}` });
    expect(await resolveCredential("other.example", { env })).toBeUndefined();
  });

  it("reads <token> from a helper as an identity token, and reports a failing helper without its output", async () => {
    const p = await helper(
      "tok",
      'read s; if [ "$s" = bad.example ]; then echo "secret-output-xyz" >&2; exit 3; fi; echo \'{"Username":"<token>","Secret":"rt"}\'',
    );
    const cfg = join(tmp, "d3");
    await write(join(cfg, "config.json"), { credsStore: "tok" });
    const env = { DOCKER_CONFIG: cfg, PATH: p };
    expect(await resolveCredential("a.example", { env })).toEqual({ kind: "identityToken", token: "rt" });
    const err = await resolveCredential("bad.example", { env }).catch((e: Error) => e);
    expect(err).toMatchObject({ code: "REGISTRY_CREDENTIALS" });
    expect((err as Error).message).toContain("exit 3");
    expect((err as Error).message).not.toContain("secret-output-xyz");
  });

  it("says which file is broken without quoting it", async () => {
    const cfg = join(tmp, "d4");
    await write(join(cfg, "config.json"), '{"auths": {"x": {"auth": "c2VjcmV0LXRleHQ="}} oops');
    const err = await resolveCredential("x", { env: { DOCKER_CONFIG: cfg } }).catch((e: Error) => e);
    expect(err).toMatchObject({ code: "REGISTRY_CREDENTIALS" });
    expect((err as Error).message).not.toContain("c2VjcmV0");
  });

  it("stores into config.json, keeping other fields, and through a credsStore helper when set", async () => {
    const cfg = join(tmp, "d5");
    await write(join(cfg, "config.json"), {
      auths: { "https://r.example/v1/": { auth: b64("old:old") } },
      psFormat: "x",
    });
    await storeCredential("r.example", "new", "pw", { env: { DOCKER_CONFIG: cfg } });
    const doc = JSON.parse(
      await (await import("node:fs/promises")).readFile(join(cfg, "config.json"), "utf8"),
    );
    expect(doc).toEqual({ auths: { "r.example": { auth: b64("new:pw") } }, psFormat: "x" });
    const stored = join(tmp, "stored.txt");
    const p = await helper("store", `cat > ${stored}`);
    const cfg2 = join(tmp, "d6");
    await write(join(cfg2, "config.json"), { credsStore: "store" });
    expect(await storeCredential("r.example", "u", "pw", { env: { DOCKER_CONFIG: cfg2, PATH: p } })).toBe(
      "docker-credential-store",
    );
    expect(JSON.parse(await (await import("node:fs/promises")).readFile(stored, "utf8"))).toEqual({
      ServerURL: "r.example",
      Username: "u",
      Secret: "pw",
    });
  });
});

describe("a given auth file (skopeo's --authfile)", () => {
  it("is searched before docker's config; a file that is not there holds nothing", async () => {
    const cfg = join(tmp, "af");
    await write(join(cfg, "config.json"), { auths: { "reg.example": { auth: b64("docker:d") } } });
    await write(join(tmp, "af.json"), { auths: { "reg.example": { auth: b64("given:g") } } });
    const env = { DOCKER_CONFIG: cfg };
    expect(await resolveCredential("reg.example", { env, authFile: join(tmp, "af.json") })).toEqual({
      kind: "basic",
      username: "given",
      password: "g",
    });
    expect(await resolveCredential("other.example", { env, authFile: join(tmp, "af.json") })).toBeUndefined();
    expect(
      await resolveCredential("reg.example", { env, authFile: join(tmp, "missing.json") }),
    ).toMatchObject({
      username: "docker",
    });
  });
});
