import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { parseReference } from "../../src/oci/reference.ts";
import { registrySink } from "../../src/registry/sink.ts";
import { registryAndClient } from "./helpers/client.ts";

const peer = registryAndClient();

function doc(mediaType: string, body: unknown): [Descriptor, Buffer] {
  const bytes = Buffer.from(JSON.stringify(body));
  return [{ mediaType, digest: digestBytes(bytes), size: bytes.length }, bytes];
}

const opener = (b: Buffer) => async () => Readable.from([b]);

/** A config and layer in `repository`, a manifest naming them, and an index of that manifest. */
async function image(repository: string) {
  const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/${repository}`));
  const [config, configBytes] = doc(MediaType.OciConfig, { os: "linux", n: randomBytes(4).toString("hex") });
  const layerBytes = randomBytes(1000);
  const layer = {
    mediaType: MediaType.OciLayerGzip,
    digest: digestBytes(layerBytes),
    size: layerBytes.length,
  };
  await sink.putBlob(config, opener(configBytes));
  await sink.putBlob(layer, opener(layerBytes));
  const [manifest, manifestBytes] = doc(MediaType.OciManifest, {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config,
    layers: [layer],
  });
  const [index, indexBytes] = doc(MediaType.OciIndex, {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [manifest],
  });
  return { layer, layerBytes, manifest, manifestBytes, index, indexBytes };
}

async function manifestPuts(): Promise<string[]> {
  return (await peer.reg.requests())
    .filter((r) => r.method === "PUT" && r.uri.includes("/manifests/"))
    .map((r) => r.uri);
}

describe("RegistrySink", () => {
  it("mounts a blob from another repository of the registry, and uploads one with no repository behind it", async () => {
    const img = await image("sink/a");
    const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/sink/b:1`));
    const seen: number[] = [];
    const from = peer.client.repository(peer.reg.host, "sink/a");
    expect(
      await sink.putBlob(img.layer, opener(img.layerBytes), { from, onProgress: (n) => seen.push(n) }),
    ).toBe("mounted");
    expect(seen).toEqual([img.layer.size]);
    const same = peer.client.repository(peer.reg.host, "sink/b");
    const other = randomBytes(10);
    const desc = { mediaType: MediaType.OciLayerGzip, digest: digestBytes(other), size: 10 };
    await peer.reg.markLog();
    expect(await sink.putBlob(desc, opener(other), { from: same })).toBe("written");
    expect((await peer.reg.requests()).filter((r) => r.uri.includes("mount="))).toEqual([]);
    expect(await sink.hasBlob(desc)).toBe(true);
  });

  it("puts children by digest and the root once, by tag, only when committed", async () => {
    const img = await image("sink/tagged");
    const repo = peer.client.repository(peer.reg.host, "sink/tagged");
    const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/sink/tagged:v1`));
    await peer.reg.markLog();
    await sink.putManifest(img.manifest, img.manifestBytes);
    expect(await manifestPuts()).toEqual([]);
    await sink.putManifest(img.index, img.indexBytes);
    expect(await manifestPuts()).toEqual([`/v2/sink/tagged/manifests/${img.manifest.digest}`]);
    expect(await repo.headManifest("v1")).toBeUndefined();
    await sink.commit(img.index);
    await sink.close(false);
    expect(await manifestPuts()).toEqual([
      `/v2/sink/tagged/manifests/${img.manifest.digest}`,
      "/v2/sink/tagged/manifests/v1",
    ]);
    expect((await repo.headManifest("v1"))?.digest).toBe(img.index.digest);
  });

  it("puts no manifest again when the tag already names the root (as skopeo and crane); moves a tag that names another", async () => {
    const img = await image("sink/same");
    const push = async (root: Descriptor, bytes: Buffer) => {
      const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/sink/same:v1`));
      await sink.putManifest(root, bytes);
      await sink.commit(root);
      await sink.close(false);
    };
    await push(img.manifest, img.manifestBytes);
    await peer.reg.markLog();
    await push(img.manifest, img.manifestBytes);
    expect(await manifestPuts()).toEqual([]);
    const asked = (await peer.reg.requests()).map((r) => `${r.method} ${r.uri}`);
    expect(asked).toEqual(["HEAD /v2/sink/same/manifests/v1"]);
    // the tag named the image: the index takes it (its child by digest, the index by tag)
    await peer.reg.markLog();
    const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/sink/same:v1`));
    await sink.putManifest(img.manifest, img.manifestBytes);
    await sink.putManifest(img.index, img.indexBytes);
    await sink.commit(img.index);
    expect(await manifestPuts()).toEqual([
      `/v2/sink/same/manifests/${img.manifest.digest}`,
      "/v2/sink/same/manifests/v1",
    ]);
    const repo = peer.client.repository(peer.reg.host, "sink/same");
    expect((await repo.headManifest("v1"))?.digest).toBe(img.index.digest);
  });

  it("leaves the tag untouched when the copy fails before its commit", async () => {
    const img = await image("sink/failed");
    const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/sink/failed:v1`));
    await sink.putManifest(img.manifest, img.manifestBytes);
    await sink.close(true);
    expect(await peer.client.repository(peer.reg.host, "sink/failed").headManifest("v1")).toBeUndefined();
  });

  it("tags a root put earlier by digest, fetching its bytes", async () => {
    const img = await image("sink/retag");
    await peer.client
      .repository(peer.reg.host, "sink/retag", { push: true })
      .putManifest(img.manifest.digest, img.manifestBytes, MediaType.OciManifest);
    const sink = registrySink(peer.client, parseReference(`${peer.reg.host}/sink/retag:again`));
    await sink.commit(img.manifest);
    expect((await peer.client.repository(peer.reg.host, "sink/retag").headManifest("again"))?.digest).toBe(
      img.manifest.digest,
    );
  });

  it("pushed by digest, puts each manifest at once, and refuses to commit one it never saw", async () => {
    const img = await image("sink/digest");
    const sink = registrySink(
      peer.client,
      parseReference(`${peer.reg.host}/sink/digest@${img.manifest.digest}`),
    );
    await peer.reg.markLog();
    await sink.putManifest(img.manifest, img.manifestBytes);
    expect(await manifestPuts()).toEqual([`/v2/sink/digest/manifests/${img.manifest.digest}`]);
    await sink.commit(img.manifest);
    const err = await sink.commit(img.index).catch((e: unknown) => e);
    expect(isBerthError(err, "INTERNAL")).toBe(true);
    expect((err as Error).message).toBe(`commit of ${img.index.digest} before its manifest was written`);
  });
});
