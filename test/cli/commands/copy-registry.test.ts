/**
 * `berth copy` with skopeo copy's per-side registry flags, each run beside skopeo 1.9 on the same input: a
 * docker-registry on 127.0.0.1 over TLS (a test CA) with htpasswd auth.
 */
import { createHash } from "node:crypto";
import { copyFile, cp, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth, type RunResult } from "../../helpers/cli.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { run } from "../../helpers/exec.ts";
import { putBlob, readIndex, writeIndex } from "../../helpers/layout.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";
import { htpasswdLine, makePki, makeSigningCert } from "../../registry/helpers/certs.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { startTokenServer, type TokenServer } from "../../registry/helpers/tokenserver.ts";

const SECRET = "s3cret-copy-flags-Pw";
const B64 = Buffer.from(`alice:${SECRET}`).toString("base64");
const TOKEN = "opaque-registry-token-Xq";

let dir: string;
let home: string;
let src: string;
let srcDigest: string;
let certs: string;
let reg: RegistryHarness;
/** Every output of berth in this file: none may hold the secret. */
const outputs: string[] = [];

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  src = join(dir, "src");
  await umociImage(src, "v1", [[{ path: "etc/hello.txt", content: "hello\n" }]], { cmd: ["/bin/sh"] });
  srcDigest = (await readIndex(src)).manifests[0]!.digest;
  const pki = await makePki(await mkdtemp(join(dir, "pki-")));
  certs = join(dir, "certs.d");
  await mkdir(certs);
  await copyFile(pki.caCert, join(certs, "ca.crt"));
  reg = await startRegistry({
    tls: { cert: pki.serverCert, key: pki.serverKey },
    htpasswd: [await htpasswdLine("alice", SECRET)],
  });
});
afterAll(async () => {
  await reg?.stop();
  for (const o of outputs) {
    expect(o).not.toContain(SECRET);
    expect(o).not.toContain(B64);
    expect(o).not.toContain(TOKEN);
  }
});

async function b(args: string[]): Promise<RunResult> {
  const r = await berth(["copy", ...args], { home, env: { HOME: dir } });
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** skopeo copy with its own HOME; its exit as a result rather than a throw. */
async function skopeo(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    return {
      ok: true,
      out: await run("skopeo", ["copy", ...args], { env: { HOME: dir, PATH: process.env.PATH } }),
    };
  } catch (err) {
    return { ok: false, out: (err as Error).message };
  }
}

/** The manifest digest of a pushed image, as skopeo reads it with the CA and credentials. */
async function pushedDigest(ref: string): Promise<string> {
  const raw = await run("skopeo", [
    "inspect",
    "--format",
    "{{.Digest}}",
    "--cert-dir",
    certs,
    "--creds",
    `alice:${SECRET}`,
    `docker://${reg.host}/${ref}`,
  ]);
  return raw.trim();
}

describe("berth copy takes skopeo's registry flags", () => {
  it("--multi-arch index-only: the registry refuses an index whose images it lacks, from both", async () => {
    const multi = join(dir, "index-only");
    await cp(src, multi, { recursive: true });
    const m = (await readIndex(multi)).manifests[0]!;
    const oci = "application/vnd.oci.image.index.v1+json";
    const platform = { os: "linux", architecture: "amd64" };
    const child = { mediaType: m.mediaType, digest: m.digest, size: m.size, platform };
    const d = await putBlob(
      multi,
      JSON.stringify({ schemaVersion: 2, mediaType: oci, manifests: [child] }),
      oci,
    );
    await writeIndex(multi, [{ ...d, annotations: { "org.opencontainers.image.ref.name": "idx" } }]);
    const flags = ["--dest-creds", `alice:${SECRET}`, "--dest-cert-dir", certs, "--multi-arch", "index-only"];
    expect((await skopeo([...flags, `oci:${multi}:idx`, `docker://${reg.host}/s/io:1`])).ok).toBe(false);
    const r = await b([...flags, `oci:${multi}:idx`, `docker://${reg.host}/b/io:1`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/MANIFEST_BLOB_UNKNOWN: blob unknown to registry/);
    // with its images (--all), the same index is taken
    const all = await b([...flags.slice(0, -2), "--all", `oci:${multi}:idx`, `docker://${reg.host}/b/io:2`]);
    expect(all.code, all.stderr).toBe(0);
    expect(await pushedDigest("b/io:2")).toBe(d.digest);
  });

  it("--dest-creds and --dest-cert-dir push as skopeo does; without them, both are refused", async () => {
    const flags = ["--dest-creds", `alice:${SECRET}`, "--dest-cert-dir", certs];
    expect((await skopeo([...flags, `oci:${src}:v1`, `docker://${reg.host}/s/app:1`])).ok).toBe(true);
    const r = await b([...flags, `oci:${src}:v1`, `docker://${reg.host}/b/app:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await pushedDigest("b/app:1")).toBe(await pushedDigest("s/app:1"));
    expect(await pushedDigest("b/app:1")).toBe(srcDigest);

    // the CA unknown: a certificate error for both
    const noCa = ["--dest-creds", `alice:${SECRET}`, `oci:${src}:v1`, `docker://${reg.host}/b/app:2`];
    expect((await skopeo(noCa)).ok).toBe(false);
    expect((await b(noCa)).code).not.toBe(0);
    // no credentials: both refused
    const anon = ["--dest-cert-dir", certs, `oci:${src}:v1`, `docker://${reg.host}/b/app:3`];
    expect((await skopeo(anon)).ok).toBe(false);
    expect((await b(anon)).code).toBe(5);
    // --dest-username/--dest-password mean --dest-creds
    const split = ["--dest-username", "alice", "--dest-password", SECRET, "--dest-cert-dir", certs];
    expect((await b([...split, `oci:${src}:v1`, `docker://${reg.host}/b/app:4`])).code).toBe(0);
    expect(await pushedDigest("b/app:4")).toBe(srcDigest);
  });

  it("--dest-tls-verify=false skips the certificate check, as skopeo's", async () => {
    const flags = ["--dest-tls-verify=false", "--dest-creds", `alice:${SECRET}`];
    expect((await skopeo([...flags, `oci:${src}:v1`, `docker://${reg.host}/s/tls:1`])).ok).toBe(true);
    const r = await b([...flags, `oci:${src}:v1`, `docker://${reg.host}/b/tls:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await pushedDigest("b/tls:1")).toBe(await pushedDigest("s/tls:1"));
  });

  it("--src-creds, --src-authfile/--authfile and --src-no-creds read as skopeo's", async () => {
    await b([
      "--dest-creds",
      `alice:${SECRET}`,
      "--dest-cert-dir",
      certs,
      `oci:${src}:v1`,
      `docker://${reg.host}/r/app:1`,
    ]);
    const from = `docker://${reg.host}/r/app:1`;
    const tls = ["--src-cert-dir", certs];
    for (const [name, flags] of [
      ["creds", ["--src-creds", `alice:${SECRET}`]],
      ["token-less authfile", ["--src-authfile", join(dir, "auth.json")]],
      ["shared authfile", ["--authfile", join(dir, "auth.json")]],
    ] as const) {
      await writeFile(join(dir, "auth.json"), JSON.stringify({ auths: { [reg.host]: { auth: B64 } } }));
      const s = await skopeo([...tls, ...flags, from, `oci:${join(dir, `s-${name}`)}:t`]);
      expect(s.ok, s.out).toBe(true);
      const r = await b([...tls, ...flags, from, `oci:${join(dir, `b-${name}`)}:t`]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const digest = (l: string) => readIndex(join(dir, l)).then((i) => i.manifests[0]!.digest);
      expect(await digest(`b-${name}`)).toBe(await digest(`s-${name}`));
    }
    // --src-no-creds: anonymous though the auth file has credentials; both refused
    const anon = [...tls, "--authfile", join(dir, "auth.json"), "--src-no-creds", from];
    expect((await skopeo([...anon, `oci:${join(dir, "s-anon")}:t`])).ok).toBe(false);
    expect((await b([...anon, `oci:${join(dir, "b-anon")}:t`])).code).toBe(5);
    // a registry token is sent as a Bearer header: this htpasswd registry refuses it, from both
    const token = [...tls, "--src-registry-token", TOKEN, from];
    expect((await skopeo([...token, `oci:${join(dir, "s-tok")}:t`])).ok).toBe(false);
    expect((await b([...token, `oci:${join(dir, "b-tok")}:t`])).code).toBe(5);
  });
});

describe("--format converts manifests as skopeo's", () => {
  it("-f v2s2 pushes skopeo's Docker manifest; -f oci pulls it back into skopeo's OCI one", async () => {
    const push = ["--dest-creds", `alice:${SECRET}`, "--dest-cert-dir", certs, "-f", "v2s2", `oci:${src}:v1`];
    expect((await skopeo([...push, `docker://${reg.host}/f/s:1`])).ok).toBe(true);
    const r = await b([...push, `docker://${reg.host}/f/b:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await pushedDigest("f/b:1")).toBe(await pushedDigest("f/s:1"));
    expect(await pushedDigest("f/b:1")).not.toBe(srcDigest);
    const pull = [
      "--src-creds",
      `alice:${SECRET}`,
      "--src-cert-dir",
      certs,
      "-f",
      "oci",
      `docker://${reg.host}/f/b:1`,
    ];
    expect((await skopeo([...pull, `oci:${join(dir, "f-s")}:t`])).ok).toBe(true);
    expect((await b([...pull, `oci:${join(dir, "f-b")}:t`])).code).toBe(0);
    // Docker → OCI: the config rewritten as skopeo rewrites it (an OCI config in Go's field order), so the
    // manifest is skopeo's byte for byte; umoci unpacks berth's
    const raw = async (l: string) => run("skopeo", ["inspect", "--raw", `oci:${join(dir, l)}:t`]);
    expect(await raw("f-b")).toBe(await raw("f-s"));
    await run("umoci", ["unpack", "--rootless", "--image", `${join(dir, "f-b")}:t`, join(dir, "f-bundle")]);
    expect(await readFile(join(dir, "f-bundle/rootfs/etc/hello.txt"), "utf8")).toBe("hello\n");
  });
});

describe("-f oci of a Docker image gives skopeo's digests", () => {
  it("a config with Docker's fields, history, labels with <>& and non-ASCII, pushed as Docker's by skopeo", async () => {
    // a docker-archive made by hand: one empty layer, a config as Docker writes it
    const d = join(dir, "rich");
    await mkdir(d);
    const config = JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: "2024-05-06T07:08:09.100000000Z",
      docker_version: "20.10.24",
      author: "Ops <ops@example.com>",
      config: {
        Hostname: "",
        User: "app",
        ExposedPorts: { "8080/tcp": {}, "53/udp": {} },
        Env: ["PATH=/bin", "GREETING=héllo <world> & co"],
        Cmd: ["serve"],
        Healthcheck: { Test: ["CMD", "true"], Interval: 30_000_000_000 },
        Volumes: { "/data": {} },
        WorkingDir: "/srv",
        Entrypoint: null,
        OnBuild: null,
        Labels: { "org.example/z": "1", "org.example/a": "ünïcode <b> & \u2028" },
        StopSignal: "SIGQUIT",
      },
      container_config: { Cmd: ["/bin/sh", "-c", "#(nop) CMD [serve]"] },
      rootfs: {
        type: "layers",
        diff_ids: [`sha256:${createHash("sha256").update(Buffer.alloc(1024)).digest("hex")}`],
      },
      history: [
        { created: "2024-05-06T07:08:09Z", created_by: "/bin/sh -c #(nop) ADD file", comment: "<base>" },
        { created: "2024-05-06T07:08:09.1Z", created_by: "/bin/sh -c #(nop) CMD [serve]", empty_layer: true },
      ],
    });
    const hex = createHash("sha256").update(config).digest("hex");
    await writeFile(join(d, `${hex}.json`), config);
    await writeFile(join(d, "layer.tar"), Buffer.alloc(1024));
    await writeFile(
      join(d, "manifest.json"),
      JSON.stringify([{ Config: `${hex}.json`, RepoTags: ["rich:1"], Layers: ["layer.tar"] }]),
    );
    const tar = join(dir, "rich.tar");
    await run("tar", ["-cf", tar, "-C", d, `${hex}.json`, "layer.tar", "manifest.json"]);
    const push = ["--dest-creds", `alice:${SECRET}`, "--dest-cert-dir", certs, `docker-archive:${tar}`];
    expect((await skopeo([...push, `docker://${reg.host}/f/rich:1`])).ok).toBe(true);
    // berth pushes it as skopeo does: a v2s2 manifest, the config's bytes kept, the layer gzipped (by berth's
    // gzip, not Go's: its bytes differ)
    const pushed = await b([...push, `docker://${reg.host}/f/richb:1`]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const remote = async (r: string) =>
      JSON.parse(
        await run("skopeo", ["inspect", "--raw", "--creds", `alice:${SECRET}`, "--cert-dir", certs, r]),
      );
    const [mb, ms] = [
      await remote(`docker://${reg.host}/f/richb:1`),
      await remote(`docker://${reg.host}/f/rich:1`),
    ];
    const types = (m: { layers: { mediaType: string }[] }) => m.layers.map((l) => l.mediaType);
    expect({ ...mb, layers: types(mb) }).toEqual({ ...ms, layers: types(ms) });
    expect(mb.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(types(mb)).toEqual(["application/vnd.docker.image.rootfs.diff.tar.gzip"]);
    // both gzipped the 1024-byte tar (skopeo's v2s2 source calls it tar.gzip before it is)
    for (const m of [mb, ms]) expect(m.layers[0].size).toBeLessThan(100);
    const pull = ["--src-creds", `alice:${SECRET}`, "--src-cert-dir", certs, "-f", "oci"];
    const from = `docker://${reg.host}/f/rich:1`;
    expect((await skopeo([...pull, from, `oci:${join(dir, "rich-s")}:t`])).ok).toBe(true);
    const r = await b([...pull, from, `oci:${join(dir, "rich-b")}:t`]);
    expect(r.code, r.stderr).toBe(0);
    const raw = async (l: string) => run("skopeo", ["inspect", "--raw", `oci:${join(dir, l)}:t`]);
    expect(await raw("rich-b")).toBe(await raw("rich-s"));
    const cfg = async (l: string) => run("skopeo", ["inspect", "--config", "--raw", `oci:${join(dir, l)}:t`]);
    expect(await cfg("rich-b")).toBe(await cfg("rich-s"));
    expect(await cfg("rich-b")).toContain('"author":"Ops \\u003cops@example.com\\u003e"');
    // -f v2s2 of an OCI image keeps the config's bytes, as skopeo's: the round trip ends where it began
    const back = ["--dest-creds", `alice:${SECRET}`, "--dest-cert-dir", certs, "-f", "v2s2"];
    expect(
      (await skopeo([...back, `oci:${join(dir, "rich-s")}:t`, `docker://${reg.host}/f/rich2s:1`])).ok,
    ).toBe(true);
    const r2 = await b([...back, `oci:${join(dir, "rich-b")}:t`, `docker://${reg.host}/f/rich2b:1`]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await pushedDigest("f/rich2b:1")).toBe(await pushedDigest("f/rich2s:1"));
  });
});

describe("--dest-compress-format zstd of a Docker image converts it to OCI unasked, as skopeo", () => {
  const creds = (side: "src" | "dest") => [`--${side}-creds`, `alice:${SECRET}`, `--${side}-cert-dir`, certs];
  const raw = async (l: string, config = false) =>
    JSON.parse(
      await run("skopeo", ["inspect", ...(config ? ["--config"] : []), "--raw", `oci:${join(dir, l)}:t`]),
    );

  it("one image: skopeo's config and media types (zstd's bytes are the encoder's own)", async () => {
    // a Docker manifest pushed by skopeo
    const from = `docker://${reg.host}/f/z:1`;
    expect((await skopeo([...creds("dest"), "-f", "v2s2", `oci:${src}:v1`, from])).ok).toBe(true);
    const zstd = [...creds("src"), "--dest-compress-format", "zstd", from];
    expect((await skopeo([...zstd, `oci:${join(dir, "z1-s")}:t`])).ok).toBe(true);
    const r = await b([...zstd, `oci:${join(dir, "z1-b")}:t`]);
    expect(r.code, r.stderr).toBe(0);
    const [mb, ms] = [await raw("z1-b"), await raw("z1-s")];
    expect(mb.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(mb.config).toEqual(ms.config);
    expect(mb.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(
      ms.layers.map((l: { mediaType: string }) => l.mediaType),
    );
    expect(mb.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
  });

  it("--all of a Docker manifest list: an OCI index of OCI images, as skopeo's", async () => {
    // a list of two platforms (the one image twice), pushed by skopeo as Docker's
    const multi = join(dir, "z-multi");
    await cp(src, multi, { recursive: true });
    const m = (await readIndex(src)).manifests[0]!;
    const oci = "application/vnd.oci.image.index.v1+json";
    const manifests = ["amd64", "arm64"].map((architecture) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      platform: { os: "linux", architecture },
    }));
    const d = await putBlob(multi, JSON.stringify({ schemaVersion: 2, mediaType: oci, manifests }), oci);
    await writeIndex(multi, [{ ...d, annotations: { "org.opencontainers.image.ref.name": "l" } }]);
    const list = `docker://${reg.host}/f/list:1`;
    expect((await skopeo([...creds("dest"), "--all", "-f", "v2s2", `oci:${multi}:l`, list])).ok).toBe(true);
    const zstd = [...creds("src"), "--all", "--dest-compress-format", "zstd", list];
    expect((await skopeo([...zstd, `oci:${join(dir, "zl-s")}:t`])).ok).toBe(true);
    const r = await b([...zstd, `oci:${join(dir, "zl-b")}:t`]);
    expect(r.code, r.stderr).toBe(0);
    const shape = (doc: { mediaType: string; manifests: { mediaType: string; platform: unknown }[] }) => [
      doc.mediaType,
      doc.manifests.map((c) => [c.mediaType, c.platform]),
    ];
    const [ib, is] = [await raw("zl-b"), await raw("zl-s")];
    expect(shape(ib)).toEqual(shape(is));
    expect(ib.mediaType).toBe(oci);
    const child = async (l: string, digest: string) =>
      JSON.parse(await readFile(join(dir, l, "blobs", ...digest.split(":")), "utf8"));
    for (const [i, c] of ib.manifests.entries()) {
      const [cb, cs] = [await child("zl-b", c.digest), await child("zl-s", is.manifests[i].digest)];
      expect(cb.config).toEqual(cs.config);
      expect(cb.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    }
  });
});

describe("berth copy's refusals of skopeo's flags", () => {
  const refuse = async (argv: string[]) => {
    const r = await runCommand(["copy", ...argv, "oci:/nonexistent:x", "docker://127.0.0.1:1/a:1"], {
      home: await tempDir(),
    });
    return r.error as { code?: string; message?: string };
  };

  it("names the flag of a bad value in one sentence", async () => {
    expect(await refuse(["--src-tls-verify=maybe"])).toMatchObject({
      code: "USAGE",
      message: '--src-tls-verify takes true or false, not "maybe"',
    });
    expect(await refuse(["--dest-creds", "alice"])).toMatchObject({
      code: "USAGE",
      message: "--dest-creds gives a user name and no password",
    });
    expect(await refuse(["--dest-creds", ":pw"])).toMatchObject({
      message: '--dest-creds gives no user name before the ":"',
    });
    expect(await refuse(["--src-creds", "a:b", "--src-no-creds"])).toMatchObject({
      message: "--src-creds and --src-no-creds cannot be used together",
    });
    expect(await refuse(["--dest-username", "a"])).toMatchObject({
      message: "--dest-username and --dest-password must be given together",
    });
  });
});

describe("--dest-registry-token and --src-registry-token", () => {
  let tokens: TokenServer;
  let treg: RegistryHarness;
  beforeAll(async () => {
    const signing = await makeSigningCert(await mkdtemp(join(dir, "tok-")));
    const service = "berth-test-registry";
    tokens = await startTokenServer({
      keyPem: signing.keyPem,
      issuer: "berth-test-issuer",
      service,
      users: { alice: { password: SECRET, actions: ["pull", "push"] } },
    });
    treg = await startRegistry({
      token: { realm: tokens.realm, service, issuer: "berth-test-issuer", rootCertBundle: signing.cert },
    });
  });
  afterAll(async () => {
    await treg?.stop();
    await tokens?.close();
  });

  it("send the token as it is, as skopeo's: a token for the repository pushes and pulls", async () => {
    const url = `${tokens.realm}?service=berth-test-registry&scope=repository:t/app:pull,push`;
    const res = await fetch(url, { headers: { authorization: `Basic ${B64}` } });
    const token = ((await res.json()) as { token: string }).token;
    const flags = ["--dest-tls-verify=false", "--dest-registry-token", token, `oci:${src}:v1`];
    expect((await skopeo([...flags, `docker://${treg.host}/t/app:s`])).ok).toBe(true);
    const r = await b([...flags, `docker://${treg.host}/t/app:b`]);
    expect(r.code, r.stderr).toBe(0);
    const pulled = join(dir, "tok-pulled");
    const back = await b(["--src-registry-token", token, `docker://${treg.host}/t/app:b`, `oci:${pulled}:t`]);
    expect(back.code, back.stderr).toBe(0);
    expect((await readIndex(pulled)).manifests[0]!.digest).toBe(srcDigest);
    // the token server was asked by nobody but this test: both clients sent the token as given
    expect(tokens.log.filter((l) => l.who !== "alice")).toEqual([]);
    // without it: anonymous, refused
    expect((await b([`docker://${treg.host}/t/app:b`, `oci:${join(dir, "tok-anon")}:t`])).code).toBe(5);
    for (const o of outputs) expect(o).not.toContain(token);
  });
});

describe("--dest-tls-verify=true", () => {
  let plain: RegistryHarness;
  beforeAll(async () => {
    plain = await startRegistry();
  });
  afterAll(() => plain?.stop());

  it("requires HTTPS on loopback too: a plain-HTTP registry is refused, as by skopeo", async () => {
    const to = `docker://${plain.host}/v/app:1`;
    expect((await skopeo(["--dest-tls-verify=true", `oci:${src}:v1`, to])).ok).toBe(false);
    const r = await b(["--dest-tls-verify=true", `oci:${src}:v1`, to]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/127\.0\.0\.1/);
    // berth's default, as docker's: plain HTTP allowed on loopback
    expect((await b([`oci:${src}:v1`, to])).code).toBe(0);
    expect((await skopeo(["--dest-tls-verify=false", `oci:${src}:v1`, to])).ok).toBe(true);
  });
});
