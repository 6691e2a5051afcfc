/**
 * Issue 19: a layer named by a digest berth cannot verify (`sha384:…`) was never checked, so a digest-pinned
 * image ran substituted content and `store fsck` said clean. Such digests are refused wherever they are read.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { type Algo, type Crafted, craftImage, hash, hasStackTrace, pushRaw, writeLayout } from "./craft.ts";

let dir: string;

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

/**
 * An image whose only layer is named by an `algo` digest of a tar saying "real"; with `substitute`, the blob
 * under that name says "evil" instead.
 */
async function craft(algo: Algo, substitute: boolean): Promise<Crafted & { layerDigest: string }> {
  const real = await tarOf("real\n");
  const layerDigest = `${algo}:${hash(algo, real)}`;
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/hello"] },
    rootfs: { type: "layers", diff_ids: [`sha256:${hash("sha256", real)}`] },
  });
  const bytes = substitute ? await tarOf("evil\n") : real;
  return { ...craftImage(config, [{ digest: layerDigest, bytes, size: real.length }]), layerDigest };
}

beforeAll(async () => {
  dir = await tempDir();
});

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
    expect(hasStackTrace(r.stderr)).toBe(false);
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

  it("a store holding such an image: export and run refuse it, fsck reports it", async () => {
    const home = join(dir, "h-store");
    const c = await craft("sha384", true);
    await writeLayout(join(home, "store"), c, "docker.io/library/odd:1");
    const exp = await berth(["export", "odd:1", "-o", join(dir, "odd.tar")], { home });
    expect(exp.code, exp.stderr).toBe(4);
    expect(exp.stderr).toContain(c.layerDigest);
    const run = await berth(["run", "--network", "none", "odd:1"], { home });
    expect(run.code, run.stderr).toBe(125);
    expect(run.stderr).toContain(c.layerDigest);
    const fsck = await berth(["store", "fsck"], { home });
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(4);
    expect(fsck.stdout).toContain(c.layerDigest);
  });

  it("a store whose index.json names an image by sha384:…: fsck reports it", async () => {
    const home = join(dir, "h-store-root");
    const c = await craft("sha256", false);
    await writeLayout(join(home, "store"), c, "docker.io/library/odd:1");
    const indexPath = join(home, "store", "index.json");
    const index = JSON.parse(await readFile(indexPath, "utf8"));
    const odd = `sha384:${"ab".repeat(48)}`;
    index.manifests[0].digest = odd;
    await writeFile(indexPath, JSON.stringify(index));
    const fsck = await berth(["store", "fsck"], { home });
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(4);
    expect(fsck.stdout).toContain(odd);
    expect(hasStackTrace(fsck.stderr)).toBe(false);
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
    // push gzips the uncompressed layer (as docker does), keeping its digest algorithm
    const pushed = JSON.parse(
      (await berth(["inspect", "--raw", `${reg.host}/five/app:1`], { home: home2 })).stdout,
    ) as { layers: { digest: string }[] };
    expect(pushed.layers[0]!.digest).toMatch(/^sha512:[0-9a-f]{128}$/);
    const layer = await readFile(join(home2, "store", "blobs", "sha512", pushed.layers[0]!.digest.slice(7)));
    expect(`sha512:${hash("sha512", layer)}`).toBe(pushed.layers[0]!.digest);
  });
});
