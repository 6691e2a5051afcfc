import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { convertImage } from "../../src/oci/convert.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import type { Digest } from "../../src/oci/digest.ts";
import { Image } from "../../src/oci/image.ts";
import { MediaType } from "../../src/oci/mediatype.ts";

const d = (n: number, mediaType: string): Descriptor => ({
  mediaType,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest,
  size: n,
});

function image(mediaType: string, config: Descriptor, layers: Descriptor[]): Image {
  const manifest = { schemaVersion: 2, mediaType, config, layers };
  const raw = Buffer.from(JSON.stringify(manifest));
  const source = { openBlob: async () => Promise.reject(new Error("not here")) };
  return new Image(
    { mediaType, digest: d(9, "").digest, size: raw.length },
    raw,
    manifest as never,
    undefined,
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
