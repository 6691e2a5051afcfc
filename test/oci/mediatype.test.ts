import { describe, expect, it } from "vitest";
import {
  isConfig,
  isDocker,
  isIndex,
  isManifest,
  layerCompression,
  MediaType,
  ociLayerType,
  sniffCompression,
  toDockerLayerType,
  toOciLayerType,
} from "../../src/oci/mediatype.ts";

describe("media type classes", () => {
  it("tells indexes, manifests and configs of both specs apart", () => {
    const kinds = (mt: string | undefined) => [isIndex(mt), isManifest(mt), isConfig(mt), isDocker(mt)];
    expect(kinds(MediaType.OciIndex)).toEqual([true, false, false, false]);
    expect(kinds(MediaType.DockerManifestList)).toEqual([true, false, false, true]);
    expect(kinds(MediaType.OciManifest)).toEqual([false, true, false, false]);
    expect(kinds(MediaType.DockerManifest)).toEqual([false, true, false, true]);
    expect(kinds(MediaType.OciConfig)).toEqual([false, false, true, false]);
    expect(kinds(MediaType.DockerConfig)).toEqual([false, false, true, true]);
    expect(kinds(MediaType.DockerManifestV1Signed)).toEqual([false, false, false, true]);
    expect(kinds(undefined)).toEqual([false, false, false, false]);
  });
});

describe("layer media types", () => {
  it.each([
    [MediaType.OciLayer, "none"],
    [MediaType.OciLayerNondist, "none"],
    [MediaType.DockerLayerTar, "none"],
    [MediaType.OciLayerGzip, "gzip"],
    [MediaType.OciLayerNondistGzip, "gzip"],
    [MediaType.DockerLayer, "gzip"],
    [MediaType.DockerForeignLayer, "gzip"],
    [MediaType.OciLayerZstd, "zstd"],
    [MediaType.OciLayerNondistZstd, "zstd"],
    [MediaType.OciConfig, undefined],
    ["application/vnd.example.layer+tar", undefined],
  ])("%s declares %s", (mt, want) => {
    expect(layerCompression(mt)).toBe(want);
  });

  it("names the OCI layer type of each compression", () => {
    expect(["none", "gzip", "zstd"].map((c) => ociLayerType(c as "none"))).toEqual([
      MediaType.OciLayer,
      MediaType.OciLayerGzip,
      MediaType.OciLayerZstd,
    ]);
  });

  it("converts to Docker's types, keeping foreign layers and what Docker cannot name", () => {
    expect(toDockerLayerType(MediaType.OciLayerGzip)).toBe(MediaType.DockerLayer);
    expect(toDockerLayerType(MediaType.OciLayerNondistGzip)).toBe(MediaType.DockerLayer);
    expect(toDockerLayerType(MediaType.OciLayer)).toBe(MediaType.DockerLayerTar);
    expect(toDockerLayerType(MediaType.DockerForeignLayer)).toBe(MediaType.DockerForeignLayer);
    expect(toDockerLayerType(MediaType.OciLayerZstd)).toBe(MediaType.OciLayerZstd);
    expect(toDockerLayerType("text/plain")).toBe("text/plain");
  });

  it("converts Docker's types to OCI's, foreign layers to non-distributable", () => {
    expect(toOciLayerType(MediaType.DockerLayer)).toBe(MediaType.OciLayerGzip);
    expect(toOciLayerType(MediaType.DockerLayerTar)).toBe(MediaType.OciLayer);
    expect(toOciLayerType(MediaType.DockerForeignLayer)).toBe(MediaType.OciLayerNondistGzip);
    expect(toOciLayerType(MediaType.OciLayerZstd)).toBe(MediaType.OciLayerZstd);
  });
});

describe("sniffCompression", () => {
  it.each([
    ["gzip magic", [0x1f, 0x8b, 0x08, 0x00], "gzip"],
    ["zstd magic", [0x28, 0xb5, 0x2f, 0xfd], "zstd"],
    ["a tar header", [0x65, 0x74, 0x63, 0x2f], "none"],
    ["a cut-off zstd magic", [0x28, 0xb5, 0x2f], "none"],
    ["a lone gzip byte", [0x1f], "none"],
    ["nothing", [], "none"],
  ])("%s is %s", (_what, bytes, want) => {
    expect(sniffCompression(Uint8Array.from(bytes))).toBe(want);
  });
});
