import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { appendLayers } from "../../src/image/append.ts";
import { compressLayers } from "../../src/image/compress.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { layoutImage } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";

/** An image of one uncompressed layer over one gzip layer, made with berth append. */
async function mixedImage(dir: string) {
  const ctx: TransportContext = { home: join(dir, "home"), env: {} };
  await mkdir(join(dir, "a"));
  await writeFile(join(dir, "a", "f"), "a".repeat(5000));
  const scratch = parseImageArgument("scratch", { allowScratch: true });
  const out = `oci:${join(dir, "out")}`;
  await appendLayers(scratch, [{ source: join(dir, "a"), dest: "/" }], parseImageArgument(`${out}:gz`), ctx);
  await appendLayers(
    parseImageArgument(`${out}:gz`),
    [{ source: join(dir, "a"), dest: "/b" }],
    parseImageArgument(`${out}:mixed`),
    ctx,
    {
      compression: "none",
    },
  );
  return {
    gz: await layoutImage(join(dir, "out"), "gz"),
    mixed: await layoutImage(join(dir, "out"), "mixed"),
  };
}

describe("compressLayers", () => {
  it("gzips the uncompressed layers only, the same way each time, serving the new blobs", async () => {
    const dir = await tempDir();
    const { mixed } = await mixedImage(dir);
    const [kept, raw] = mixed.manifest.layers;
    expect(raw!.mediaType).toBe(MediaType.OciLayer);
    const one = await compressLayers(mixed, await tempDir());
    const two = await compressLayers(mixed, await tempDir());
    expect(one?.compressed).toBe(1);
    expect(two?.descriptor).toEqual(one?.descriptor);
    const layers = JSON.parse(one!.manifest.toString()).layers;
    expect(layers[0]).toEqual(kept);
    expect(layers[1].mediaType).toBe(MediaType.OciLayerGzip);
    const gz = await buffer(await one!.source.openBlob(layers[1]));
    expect([digestBytes(gz), gz.length]).toEqual([layers[1].digest, layers[1].size]);
    expect(digestBytes(gunzipSync(gz))).toBe(raw!.digest);
    expect(one!.descriptor.digest).toBe(digestBytes(one!.manifest));
    expect((await buffer(await one!.source.openBlob(one!.descriptor))).equals(one!.manifest)).toBe(true);
    // other blobs come from the image's own source
    const config = await buffer(await one!.source.openBlob(mixed.manifest.config));
    expect(digestBytes(config)).toBe(mixed.manifest.config.digest);
    expect(one!.source.originOf?.(layers[1])).toBeUndefined();
  });

  it("is nothing to do for an image with every layer compressed", async () => {
    const dir = await tempDir();
    const { gz } = await mixedImage(dir);
    expect(await compressLayers(gz, await tempDir())).toBeUndefined();
  });

  it("with a target, rewrites every layer in another compression into that one, the DiffIDs kept", async () => {
    const dir = await tempDir();
    const { mixed } = await mixedImage(dir);
    const made = await compressLayers(mixed, await tempDir(), { compression: "zstd", level: 9 });
    expect(made?.compressed).toBe(2);
    const layers = JSON.parse(made!.manifest.toString()).layers;
    expect(layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      MediaType.OciLayerZstd,
      MediaType.OciLayerZstd,
    ]);
    const raw = zstdDecompressSync(await buffer(await made!.source.openBlob(layers[1])));
    expect(digestBytes(raw)).toBe(mixed.manifest.layers[1]!.digest);
    expect(JSON.parse(made!.manifest.toString()).config).toEqual(mixed.manifest.config);
    // already in the target: nothing to do
    expect(
      await compressLayers(await layoutImage(join(dir, "out"), "gz"), await tempDir(), {
        compression: "gzip",
      }),
    ).toBeUndefined();
  });

  it("refuses zstd for a Docker manifest, which has no zstd layers", async () => {
    const dir = await tempDir();
    const { mixed } = await mixedImage(dir);
    const docker = { ...mixed, mediaType: MediaType.DockerManifest } as typeof mixed;
    await expect(compressLayers(docker, await tempDir(), { compression: "zstd" })).rejects.toThrow(
      "zstd layers need an OCI manifest, and this image has Docker's",
    );
  });
});
