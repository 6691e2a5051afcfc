import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { copy } from "../../src/oci/copy.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../src/oci/layout/sink.ts";
import { parseReference } from "../../src/oci/reference.ts";
import { RegistryClient, registrySink } from "../../src/registry/index.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { type FaultProxy, startFaultProxy } from "./helpers/faultproxy.ts";
import { randomLayout } from "./helpers/images.ts";
import { type RegistryHarness, startRegistry } from "./helpers/registry.ts";

let reg: RegistryHarness;
let proxy: FaultProxy;
let tmp: string;
let client: RegistryClient;
let direct: RegistryClient;
const BLOB_GET = /^\/v2\/[^?]+\/blobs\/sha256:/;

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.port);
  tmp = await tempDir("berth-faults-");
  client = new RegistryClient({
    env: {},
    retry: { baseDelay: 5, maxDelay: 2000 },
    chunkThreshold: 200_000,
    chunkSize: 64 * 1024,
  });
  direct = new RegistryClient({ env: {} });
});

afterEach(() => proxy.clear());

afterAll(async () => {
  await client?.close();
  await direct?.close();
  await proxy?.close();
  await reg?.stop();
});

let n = 0;
/** Push a random image straight to the registry (no faults), to pull through the proxy. */
async function seeded(layerSize = 100_000): Promise<{ repo: string; root: Descriptor; layer: RegExp }> {
  const repo = `seed/img${++n}`;
  const { layout, root } = await randomLayout(join(tmp, `seed${n}`), "t", { layers: 2, layerSize });
  await copy(layout, root, registrySink(direct, parseReference(`${reg.host}/${repo}:1`)));
  const manifest = JSON.parse(
    (await direct.repository(reg.host, repo).getManifest("1")).bytes.toString(),
  ) as {
    layers: Descriptor[];
  };
  return { repo, root, layer: new RegExp(`/blobs/${manifest.layers[0]!.digest}$`) };
}

async function pullThroughProxy(repo: string): Promise<{ layout: OciLayout; root: Descriptor }> {
  const dest = await OciLayout.openOrCreate(join(tmp, `pull${++n}`));
  const source = client.repository(proxy.host, repo);
  const desc = await source.resolve("1");
  const result = await copy(source, desc, new LayoutSink(dest, "1"));
  return { layout: dest, root: result.root };
}

describe("pull through faults", () => {
  it("a connection reset in the middle of a blob is resumed with a Range request", async () => {
    const { repo, root, layer } = await seeded();
    proxy.add({ method: "GET", path: layer, fault: { kind: "reset-body", after: 30_000 }, times: 2 });
    const pulled = await pullThroughProxy(repo);
    expect(pulled.root.digest).toBe(root.digest);
    expect(proxy.seen.filter((s) => s.fault === "reset-body")).toHaveLength(2);
    expect(proxy.seen.filter((s) => s.range === "bytes=30000-")).toHaveLength(1);
    expect(proxy.seen.filter((s) => s.range === "bytes=60000-")).toHaveLength(1);
  });

  it("a truncated body is resumed", async () => {
    const { repo, root, layer } = await seeded();
    proxy.add({ method: "GET", path: layer, fault: { kind: "truncate", after: 10_000 } });
    const pulled = await pullThroughProxy(repo);
    expect(pulled.root.digest).toBe(root.digest);
    expect(proxy.seen.filter((s) => s.fault === "truncate")).toHaveLength(1);
    expect(proxy.seen.filter((s) => s.range === "bytes=10000-")).toHaveLength(1);
  });

  it("500s and a 429 with Retry-After are retried", async () => {
    const { repo, root } = await seeded();
    proxy.add({ method: "GET", path: /\/manifests\//, fault: { kind: "status", status: 500 }, times: 2 });
    proxy.add({
      method: "GET",
      path: BLOB_GET,
      fault: { kind: "status", status: 429, headers: { "retry-after": "1" } },
    });
    proxy.add({ method: "GET", path: BLOB_GET, fault: { kind: "status", status: 503 } });
    const pulled = await pullThroughProxy(repo);
    expect(pulled.root.digest).toBe(root.digest);
    expect(proxy.seen.filter((s) => s.fault === "status")).toHaveLength(4);
  });

  it("a corrupted blob fails with a digest mismatch and the destination gets neither blob nor tag", async () => {
    const { repo, layer } = await seeded();
    proxy.add({ method: "GET", path: layer, fault: { kind: "corrupt" }, times: Infinity });
    const source = client.repository(proxy.host, repo);
    const dest = parseReference(`${reg.host}/corrupt/dest:1`);
    const err = await copy(source, await source.resolve("1"), registrySink(direct, dest)).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err, "DIGEST_MISMATCH")).toBe(true);
    expect((err as Error).message).toMatch(
      /has digest sha256:[0-9a-f]{64} where sha256:[0-9a-f]{64} was expected/,
    );
    const destRepo = direct.repository(reg.host, "corrupt/dest");
    expect(await destRepo.headManifest("1")).toBeUndefined();
    const digest = /sha256:[0-9a-f]{64}/.exec(layer.source)![0];
    expect(await destRepo.hasBlob(digest)).toBe(false);
  });

  it("a registry that keeps failing gives a clear error after the retries", async () => {
    const { repo } = await seeded();
    proxy.add({
      method: "GET",
      path: /\/manifests\//,
      fault: { kind: "status", status: 502 },
      times: Infinity,
    });
    const err = await client
      .repository(proxy.host, repo)
      .getManifest("1")
      .catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_ERROR")).toBe(true);
    expect((err as Error).message).toMatch(/getting manifest .* answered 502/);
    expect(proxy.seen.length).toBe(5);
  });
});

describe("push through faults", () => {
  async function push(repo: string, layerSize = 100_000) {
    const { layout, root } = await randomLayout(join(tmp, `push${++n}`), "t", { layers: 2, layerSize });
    const result = await copy(layout, root, registrySink(client, parseReference(`${proxy.host}/${repo}:1`)));
    return { root, result };
  }

  it("a monolithic upload reset mid-request starts a new session and completes", async () => {
    proxy.add({ method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "reset" }, times: 2 });
    const { root } = await push("faults/mono");
    expect((await direct.repository(reg.host, "faults/mono").getManifest("1")).descriptor.digest).toBe(
      root.digest,
    );
    expect(proxy.seen.filter((s) => s.fault === "reset")).toHaveLength(2);
  });

  it("a chunked upload resumes after a dropped PATCH (GET <location>) and after a 416", async () => {
    proxy.add({ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset" } });
    proxy.add({ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 416 } });
    const { root } = await push("faults/chunked", 300_000);
    expect((await direct.repository(reg.host, "faults/chunked").getManifest("1")).descriptor.digest).toBe(
      root.digest,
    );
    const statusChecks = proxy.seen.filter((s) => s.method === "GET" && s.url.includes("/blobs/uploads/"));
    expect(statusChecks.length).toBeGreaterThanOrEqual(2);
  });

  it("500 and 429 on manifest PUT are retried", async () => {
    proxy.add({ method: "PUT", path: /\/manifests\//, fault: { kind: "status", status: 500 } });
    proxy.add({
      method: "PUT",
      path: /\/manifests\//,
      fault: { kind: "status", status: 429, headers: { "retry-after": "0" } },
    });
    const { root } = await push("faults/manifest");
    expect((await direct.repository(reg.host, "faults/manifest").getManifest("1")).descriptor.digest).toBe(
      root.digest,
    );
  });

  it("a push that cannot upload a blob fails clearly and never commits the tag", async () => {
    proxy.add({
      method: "PUT",
      path: /\/blobs\/uploads\//,
      fault: { kind: "status", status: 500 },
      times: Infinity,
    });
    const err = await push("faults/broken").catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_ERROR")).toBe(true);
    expect((err as Error).message).toMatch(
      /uploading blob sha256:[0-9a-f]{64} to .*faults\/broken: .* answered 500/,
    );
    expect(await direct.repository(reg.host, "faults/broken").headManifest("1")).toBeUndefined();
    expect(proxy.seen.some((s) => s.method === "PUT" && s.url.includes("/manifests/"))).toBe(false);
  });
});

describe("manifest puts", () => {
  const manifestPuts = () =>
    proxy.seen.filter((s) => s.method === "PUT" && s.url.includes("/manifests/")).map((s) => s.url);

  it("berth copy --all of an index puts each manifest once: the children by digest, the root by tag only", async () => {
    const platforms = [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ];
    const dir = join(tmp, `puts${++n}`);
    const { layout, root } = await randomLayout(dir, "t", { platforms, layers: 1 });
    const children = (JSON.parse((await layout.readBlob(root)).toString()) as { manifests: Descriptor[] })
      .manifests;
    const home = join(tmp, `home${n}`);
    const r = await berth(["copy", "--all", `oci:${dir}:t`, `docker://${proxy.host}/puts/index:1`], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(manifestPuts().sort()).toEqual(
      [...children.map((c) => `/v2/puts/index/manifests/${c.digest}`), "/v2/puts/index/manifests/1"].sort(),
    );
    expect((await direct.repository(reg.host, "puts/index").getManifest("1")).descriptor.digest).toBe(
      root.digest,
    );
    expect((await direct.repository(reg.host, "puts/index").headManifest(root.digest))?.digest).toBe(
      root.digest,
    );

    // Pushed by digest only: the root goes up by its digest, once.
    proxy.clear();
    const byDigest = await berth(
      [
        "copy",
        "--platform",
        "linux/amd64",
        `oci:${dir}:t`,
        `docker://${proxy.host}/puts/bydigest@${children[0]!.digest}`,
      ],
      {
        home,
      },
    );
    expect(byDigest.code, byDigest.stderr).toBe(0);
    expect(manifestPuts()).toEqual([`/v2/puts/bydigest/manifests/${children[0]!.digest}`]);
  });
});
