import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copy } from "../../src/oci/copy.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import type { Manifest } from "../../src/oci/manifest.ts";
import { parseReference } from "../../src/oci/reference.ts";
import { RegistryClient, registrySink } from "../../src/registry/index.ts";
import { tempDir } from "../helpers/temp.ts";
import { randomLayout } from "./helpers/images.ts";
import { type RegistryHarness, startRegistry } from "./helpers/registry.ts";

let reg: RegistryHarness;
let tmp: string;
let client: RegistryClient;

beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("berth-api-");
  client = new RegistryClient({ env: {}, chunkThreshold: 100_000, chunkSize: 64 * 1024 });
});

afterAll(async () => {
  await client?.close();
  await reg?.stop();
});

describe("registry API", () => {
  it("pings over plain HTTP on 127.0.0.1", async () => {
    await client.ping(reg.host);
    expect(await client.host(reg.host).base()).toBe(`http://${reg.host}`);
  });

  it("copying to another repository of the same registry mounts every blob and uploads no layer bytes", async () => {
    const { layout, root } = await randomLayout(join(tmp, "m"), "t", { layers: 3, layerSize: 50_000 });
    await copy(layout, root, registrySink(client, parseReference(`${reg.host}/team/a:1`)));
    await reg.markLog();
    const source = client.repository(reg.host, "team/a");
    const result = await copy(source, root, registrySink(client, parseReference(`${reg.host}/team/b:1`)));
    expect(result.blobs).toMatchObject({ mounted: 4, written: 0 });
    const log = await reg.requests();
    const toB = log.filter((r) => r.uri.startsWith("/v2/team/b/"));
    const mounts = toB.filter((r) => r.method === "POST" && r.uri.includes("mount="));
    expect(mounts).toHaveLength(4);
    expect(mounts.every((r) => r.status === 201)).toBe(true);
    expect(toB.filter((r) => r.method === "PATCH")).toHaveLength(0);
    expect(toB.filter((r) => r.method === "PUT" && r.uri.includes("/blobs/uploads/"))).toHaveLength(0);
    expect((await client.repository(reg.host, "team/b").getManifest("1")).descriptor.digest).toBe(
      root.digest,
    );
  });

  it("uploads large blobs in chunks (PATCH with Content-Range) and reports progress", async () => {
    const { layout, root } = await randomLayout(join(tmp, "c"), "t", { layers: 1, layerSize: 300_000 });
    await reg.markLog();
    const progress: number[] = [];
    await copy(layout, root, registrySink(client, parseReference(`${reg.host}/chunked/x:1`)), {
      onBlob: (e) => {
        if (e.type === "progress") progress.push(e.bytes);
      },
    });
    const patches = (await reg.requests()).filter((r) => r.method === "PATCH");
    expect(patches.length).toBeGreaterThanOrEqual(4);
    expect(progress.at(-1)).toBeGreaterThan(300_000);
    const repo = client.repository(reg.host, "chunked/x");
    const got = await repo.getManifest("1");
    expect(got.descriptor.digest).toBe(root.digest);
    const layer = (
      JSON.parse(got.bytes.toString()) as { layers: { digest: string; size: number; mediaType: string }[] }
    ).layers[0]!;
    const chunks: Buffer[] = [];
    for await (const c of await repo.openBlob(layer)) chunks.push(c as Buffer);
    expect(digestBytes(Buffer.concat(chunks))).toBe(layer.digest);
  });

  // distribution 2.8 ignores `n` and answers with one page; Link pagination is covered in http.test.ts.
  it("lists tags", async () => {
    const { layout, root } = await randomLayout(join(tmp, "t"), "t", { layers: 1 });
    const names = ["a", "b", "c", "d", "e"];
    for (const n of names)
      await copy(layout, root, registrySink(client, parseReference(`${reg.host}/tags/x:${n}`)));
    const tags = await client.repository(reg.host, "tags/x").tags({ pageSize: 2 });
    expect(tags.sort()).toEqual(names);
  });

  it("deletes a manifest, after which it is unknown", async () => {
    const { layout, root } = await randomLayout(join(tmp, "d"), "t", { layers: 1 });
    await copy(layout, root, registrySink(client, parseReference(`${reg.host}/del/x:1`)));
    const repo = client.repository(reg.host, "del/x");
    await repo.deleteManifest(root.digest);
    expect(await repo.headManifest(root.digest)).toBeUndefined();
    await expect(repo.getManifest(root.digest)).rejects.toMatchObject({ code: "REGISTRY_MANIFEST_UNKNOWN" });
  });

  it("keeps the referrers fallback tag on a registry without the referrers API", async () => {
    const { layout, root } = await randomLayout(join(tmp, "r"), "t", { layers: 1 });
    await copy(layout, root, registrySink(client, parseReference(`${reg.host}/refs/x:1`)));
    const repo = client.repository(reg.host, "refs/x", { push: true });
    expect(await repo.referrers(root.digest)).toEqual([]);
    const empty = Buffer.from("{}");
    const emptyDesc = { mediaType: "application/vnd.oci.empty.v1+json", digest: digestBytes(empty), size: 2 };
    await repo.putBlob(emptyDesc, async () => (await import("node:stream")).Readable.from([empty]));
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.example.sbom",
        config: emptyDesc,
        layers: [emptyDesc],
        subject: { mediaType: root.mediaType, digest: root.digest, size: root.size },
      }),
    );
    const put = await repo.putManifest(
      digestBytes(artifact),
      artifact,
      "application/vnd.oci.image.manifest.v1+json",
    );
    const refs = await repo.referrers(root.digest);
    expect(refs).toHaveLength(1);
    expect(refs[0]).toMatchObject({ digest: put.digest, artifactType: "application/vnd.example.sbom" });
    expect(await repo.referrers(root.digest, { artifactType: "other/type" })).toEqual([]);
    expect(await repo.tags()).toContain(`sha256-${root.digest.slice(7)}`);
  });

  it("pushing from a layout reads the blob files in pieces and still refuses one changed on disk", async () => {
    const { layout, root } = await randomLayout(join(tmp, "r"), "t", { layers: 2, layerSize: 300_000 });
    await copy(layout, root, registrySink(client, parseReference(`${reg.host}/range/ok:1`)));
    expect((await client.repository(reg.host, "range/ok").getManifest("1")).descriptor.digest).toBe(
      root.digest,
    );

    const manifest = JSON.parse(await readFile(layout.blobPath(root.digest), "utf8")) as Manifest;
    const fh = await open(layout.blobPath(manifest.layers[0]!.digest), "r+");
    await fh.write(Buffer.from([0xff, 0x00, 0xff]), 0, 3, 1000);
    await fh.close();
    const err = await copy(
      layout,
      root,
      registrySink(client, parseReference(`${reg.host}/range/bad:1`)),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(client.repository(reg.host, "range/bad").getManifest("1")).rejects.toMatchObject({
      code: "REGISTRY_MANIFEST_UNKNOWN",
    });
  });

  it("reports a missing manifest and a missing blob with their codes", async () => {
    const repo = client.repository(reg.host, "nothing/here");
    await expect(repo.getManifest("nope")).rejects.toMatchObject({ code: "REGISTRY_MANIFEST_UNKNOWN" });
    const d = digestBytes("x");
    expect(await repo.hasBlob(d)).toBe(false);
    await expect(
      repo.openBlob({ mediaType: "application/octet-stream", digest: d, size: 1 }),
    ).rejects.toMatchObject({
      code: "REGISTRY_BLOB_UNKNOWN",
    });
  });
});
