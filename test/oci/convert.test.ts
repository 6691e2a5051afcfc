import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { convertImage, rewriteIndex } from "../../src/oci/convert.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { type Digest, digestBytes } from "../../src/oci/digest.ts";
import { Image, ImageIndex } from "../../src/oci/image.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { hostPlatform } from "../../src/oci/platform.ts";

const d = (n: number, mediaType: string): Descriptor => ({
  mediaType,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest,
  size: n,
});

function image(mediaType: string, config: Descriptor, layers: Descriptor[], rawConfig?: Buffer): Image {
  const manifest = { schemaVersion: 2, mediaType, config, layers };
  const raw = Buffer.from(JSON.stringify(manifest));
  const source = { openBlob: async () => Promise.reject(new Error("not here")) };
  return new Image(
    { mediaType, digest: d(9, "").digest, size: raw.length },
    raw,
    manifest as never,
    rawConfig,
    undefined,
    source,
  );
}

describe("convertImage", () => {
  it("writes an OCI manifest in Go's field order, media types mapped, and serves it", async () => {
    const img = image(MediaType.DockerManifest, d(1, MediaType.DockerConfig), [
      d(2, MediaType.DockerLayer),
      d(3, MediaType.DockerLayerTar),
    ]);
    const c = convertImage(img, "oci")!;
    expect(c.manifest.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.OciManifest}","config":{"mediaType":"${MediaType.OciConfig}","digest":"${d(1, "").digest}","size":1},` +
        `"layers":[{"mediaType":"${MediaType.OciLayerGzip}","digest":"${d(2, "").digest}","size":2},{"mediaType":"${MediaType.OciLayer}","digest":"${d(3, "").digest}","size":3}]}`,
    );
    expect(c.descriptor.mediaType).toBe(MediaType.OciManifest);
    expect((await buffer(await c.source.openBlob(c.descriptor))).equals(c.manifest)).toBe(true);
    expect(convertImage(img, "v2s2")).toBeUndefined();
  });

  it("rewrites a Docker config as skopeo's OCI config and serves it; a docker-archive's OCI manifest too", async () => {
    const docker = Buffer.from(
      '{"os":"linux","architecture":"amd64","config":{"Labels":{"a":"<b>"},"Hostname":"h"}}',
    );
    const ours =
      '{"architecture":"amd64","os":"linux","config":{"Labels":{"a":"\\u003cb\\u003e"}},"rootfs":{"type":"","diff_ids":null}}';
    const config = { mediaType: MediaType.OciConfig, digest: digestBytes(ours), size: ours.length };
    for (const [mt, configType, dockerConfig] of [
      [MediaType.DockerManifest, MediaType.DockerConfig, false],
      [MediaType.OciManifest, MediaType.OciConfig, true],
    ] as const) {
      const img = image(mt, d(1, configType), [d(2, MediaType.OciLayerGzip)], docker);
      const c = convertImage(img, "oci", dockerConfig)!;
      expect(JSON.parse(c.manifest.toString()).config).toEqual(config);
      expect((await buffer(await c.source.openBlob(config))).toString()).toBe(ours);
      expect(c.source.originOf?.(config)).toBeUndefined();
    }
    // an OCI image's config is its own: nothing to convert
    expect(
      convertImage(image(MediaType.OciManifest, d(1, MediaType.OciConfig), [], docker), "oci"),
    ).toBeUndefined();
  });

  it("writes Docker's with size before digest, and refuses zstd layers", () => {
    const img = image(MediaType.OciManifest, d(1, MediaType.OciConfig), [d(2, MediaType.OciLayerGzip)]);
    expect(convertImage(img, "v2s2")!.manifest.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.DockerManifest}","config":{"mediaType":"${MediaType.DockerConfig}","size":1,"digest":"${d(1, "").digest}"},` +
        `"layers":[{"mediaType":"${MediaType.DockerLayer}","size":2,"digest":"${d(2, "").digest}"}]}`,
    );
    const zstd = image(MediaType.OciManifest, d(1, MediaType.OciConfig), [d(2, MediaType.OciLayerZstd)]);
    expect(() => convertImage(zstd, "v2s2")).toThrow(
      `--format v2s2: layer ${d(2, "").digest} is zstd, which Docker's format has not`,
    );
  });
});

describe("rewriteIndex", () => {
  // real manifests (a config of an unknown type is not read), served by digest
  const blobs = new Map<string, Buffer>();
  const put = (mediaType: string, doc: unknown): Descriptor => {
    const bytes = Buffer.from(JSON.stringify(doc));
    const desc = { mediaType, digest: digestBytes(bytes), size: bytes.length };
    blobs.set(desc.digest, bytes);
    return desc;
  };
  const source = { openBlob: async (desc: Descriptor) => Readable.from([blobs.get(desc.digest)!]) };
  const manifest = (mediaType: string) =>
    put(mediaType, { schemaVersion: 2, mediaType, config: d(1, "application/x-unknown"), layers: [] });
  const index = (manifests: Descriptor[]) => {
    const doc = { schemaVersion: 2 as const, mediaType: MediaType.OciIndex, manifests };
    const desc = put(MediaType.OciIndex, doc);
    return new ImageIndex(desc, blobs.get(desc.digest)!, doc, source);
  };
  const child = {
    ...manifest(MediaType.OciManifest),
    platform: { os: "linux", architecture: "arm64", variant: "v8" },
  };

  it("writes a Docker list of the rewritten children in Go's field order, platforms kept", async () => {
    const docker = manifest(MediaType.DockerManifest);
    const made = await rewriteIndex(index([child]), "v2s2", async () => ({ source, descriptor: docker }));
    expect(made!.descriptor.mediaType).toBe(MediaType.DockerManifestList);
    expect((await buffer(await made!.source.openBlob(made!.descriptor))).toString()).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.DockerManifestList}","manifests":[{"mediaType":"${MediaType.DockerManifest}","size":${docker.size},"digest":"${docker.digest}","platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}`,
    );
  });

  it("is undefined when nothing changes, and refuses a nested index", async () => {
    const same = async (img: Image) => ({ source: img.source, descriptor: img.descriptor });
    expect(await rewriteIndex(index([child]), "oci", same)).toBeUndefined();
    const nested = index([put(MediaType.OciIndex, { schemaVersion: 2, manifests: [] })]);
    await expect(rewriteIndex(nested, "v2s2", same)).rejects.toThrow(
      /lists another index .* as skopeo 1.9.3 does not$/,
    );
  });

  it("keeps a nested index as it is for index-only, with this machine's platform in a Docker list", async () => {
    const same = async (img: Image) => ({ source: img.source, descriptor: img.descriptor });
    const inner = put(MediaType.OciIndex, { schemaVersion: 2, manifests: [] });
    const made = await rewriteIndex(index([inner, child]), "v2s2", same, true);
    const doc = JSON.parse((await buffer(await made!.source.openBlob(made!.descriptor))).toString());
    const host = hostPlatform();
    expect(doc.manifests[0]).toEqual({
      ...inner,
      platform: { architecture: host.architecture, os: host.os },
    });
    expect(doc.manifests[1].platform).toEqual(child.platform);
  });
});
