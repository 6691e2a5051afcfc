/**
 * Issue 19: a layer named by a digest berth cannot verify (`sha384:…`) was never checked, so a digest-pinned
 * image ran substituted content and `store fsck` said clean. Such digests are refused wherever they are read.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth, tempDir } from "../../helpers/cli.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";

let dir: string;
let cleanup: () => Promise<void>;

type Algo = "sha256" | "sha384" | "sha512";
const hash = (algo: Algo, b: Buffer) => createHash(algo).update(b).digest("hex");

/** A tar holding one file `hello` with `content`, made by the system's tar. */
async function tarOf(content: string): Promise<Buffer> {
  const d = join(dir, `t-${hash("sha256", Buffer.from(content)).slice(0, 8)}`);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, "hello"), content);
  return execFileSync("tar", [
    "--sort=name",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "-C",
    d,
    "-cf",
    "-",
    "hello",
  ]);
}

interface Crafted {
  layerDigest: string;
  manifest: Buffer;
  config: Buffer;
  /** Blob bytes by digest, as the image's writer put them (the layer possibly substituted). */
  blobs: Map<string, Buffer>;
}

/**
 * An image (by hand, independently of berth) whose only layer is named by an `algo` digest of a tar saying
 * "real"; with `substitute`, the blob under that name says "evil" instead.
 */
async function craft(algo: Algo, substitute: boolean): Promise<Crafted> {
  const real = await tarOf("real\n");
  const layerDigest = `${algo}:${hash(algo, real)}`;
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/hello"] },
      rootfs: { type: "layers", diff_ids: [`sha256:${hash("sha256", real)}`] },
    }),
  );
  const configDigest = `sha256:${hash("sha256", config)}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: configDigest,
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: real.length },
      ],
    }),
  );
  const layer = substitute ? await tarOf("evil\n") : real;
  return {
    layerDigest,
    manifest,
    config,
    blobs: new Map([
      [layerDigest, layer],
      [configDigest, config],
    ]),
  };
}

/** Write a crafted image into an OCI layout (the store is one too) under `name`. */
async function writeLayout(layout: string, c: Crafted, name: string): Promise<void> {
  const manifestDigest = `sha256:${hash("sha256", c.manifest)}`;
  const blobs = new Map(c.blobs).set(manifestDigest, c.manifest);
  for (const [digest, bytes] of blobs) {
    const [algo, hex] = digest.split(":") as [string, string];
    await mkdir(join(layout, "blobs", algo), { recursive: true });
    await writeFile(join(layout, "blobs", algo, hex), bytes);
  }
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: c.manifest.length,
          annotations: { "org.opencontainers.image.ref.name": name },
        },
      ],
    }),
  );
}

/** Push a crafted image to a registry over its HTTP API by hand (the registry checks each blob's digest). */
async function pushRaw(reg: RegistryHarness, repo: string, tag: string, c: Crafted): Promise<void> {
  for (const [digest, bytes] of c.blobs) {
    const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    expect(start.status).toBe(202);
    const loc = new URL(start.headers.get("location")!, reg.url);
    loc.searchParams.set("digest", digest);
    const put = await fetch(loc, {
      method: "PUT",
      body: bytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(put.status, await put.text()).toBe(201);
  }
  const m = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    body: c.manifest,
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
  });
  expect(m.status, await m.text()).toBe(201);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

describe("digests berth cannot verify are refused", () => {
  let reg: RegistryHarness;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  it("a layout whose layer is named sha384:… (content substituted) is not copied", async () => {
    const home = join(dir, "h-layout");
    const c = await craft("sha384", true);
    await writeLayout(join(dir, "l384"), c, "t");
    const r = await berth(["copy", `oci:${join(dir, "l384")}:t`, "app:1"], { home });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(c.layerDigest);
    expect(r.stderr).toMatch(/cannot verify/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a registry image with a sha384 layer is refused by pull and copy", async () => {
    const home = join(dir, "h-reg");
    const c = await craft("sha384", false);
    await pushRaw(reg, "odd/app", "1", c);
    const pull = await berth(["pull", `${reg.host}/odd/app:1`], { home });
    expect(pull.code, pull.stderr).toBe(4);
    expect(pull.stderr).toContain(c.layerDigest);
    const copy = await berth(["copy", `docker://${reg.host}/odd/app:1`, `oci:${join(dir, "out384")}:t`], {
      home,
    });
    expect(copy.code, copy.stderr).toBe(4);
    expect(copy.stderr).toContain(c.layerDigest);
  });

  it("a reference pinned with @sha384:… is refused", async () => {
    const r = await berth(["pull", `${reg.host}/odd/app@sha384:${"a".repeat(96)}`], {
      home: join(dir, "h-ref"),
    });
    expect([2, 4], r.stderr).toContain(r.code);
    expect(r.stderr).toMatch(/sha384/);
  });

  it("a store holding such an image: export refuses it and fsck reports it", async () => {
    const home = join(dir, "h-store");
    const c = await craft("sha384", true);
    await writeLayout(join(home, "store"), c, "docker.io/library/odd:1");
    const exp = await berth(["export", "odd:1", "-o", join(dir, "odd.tar")], { home });
    expect(exp.code, exp.stderr).toBe(4);
    expect(exp.stderr).toContain(c.layerDigest);
    const fsck = await berth(["store", "fsck"], { home });
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(4);
    expect(fsck.stdout).toContain(c.layerDigest);
  });

  it("sha512 layers still work end to end (layout -> store -> registry -> store -> files)", async () => {
    const home = join(dir, "h-512");
    const c = await craft("sha512", false);
    await writeLayout(join(dir, "l512"), c, "t");
    let r = await berth(["copy", `oci:${join(dir, "l512")}:t`, "five:1"], { home });
    expect(r.code, r.stderr).toBe(0);
    r = await berth(["push", "five:1", `${reg.host}/five/app:1`], { home });
    expect(r.code, r.stderr).toBe(0);
    const home2 = join(dir, "h-512b");
    r = await berth(["pull", `${reg.host}/five/app:1`], { home: home2 });
    expect(r.code, r.stderr).toBe(0);
    r = await berth(["export", `${reg.host}/five/app:1`, "-o", join(dir, "five.tar")], { home: home2 });
    expect(r.code, r.stderr).toBe(0);
    const files = execFileSync("tar", ["-xOf", join(dir, "five.tar"), "hello"]).toString();
    expect(files).toBe("real\n");
    expect((await berth(["store", "fsck"], { home: home2 })).code).toBe(0);
    expect(await readFile(join(home2, "store", "blobs", "sha512", c.layerDigest.slice(7)))).toBeTruthy();
  });
});
