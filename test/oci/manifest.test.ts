import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/oci/config.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { parseIndex, parseManifest } from "../../src/oci/manifest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { parsePlatform, platformMatches } from "../../src/oci/platform.ts";

const d = digestBytes("x");
const desc = (mediaType: string) => ({ mediaType, digest: d, size: 1 });
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("manifests", () => {
  const good = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: desc(MediaType.OciConfig),
    layers: [desc(MediaType.OciLayerGzip)],
  };

  it("keeps unknown fields and media types", () => {
    const m = parseManifest(bytes({ ...good, layers: [desc("application/x-custom")], "x-extra": { a: 1 } }));
    expect(m["x-extra"]).toEqual({ a: 1 });
    expect(m.layers[0]!.mediaType).toBe("application/x-custom");
  });

  it.each([
    [{ ...good, schemaVersion: 1 }, "manifest.schemaVersion"],
    [{ ...good, config: { ...desc(MediaType.OciConfig), size: -1 } }, "manifest.config.size"],
    [
      { ...good, layers: [{ ...desc(MediaType.OciLayer), digest: "sha256:nothex" }] },
      "manifest.layers\\[0\\].digest",
    ],
    [
      { ...good, layers: [{ ...desc(MediaType.OciLayer), mediaType: "not a type" }] },
      "manifest.layers\\[0\\].mediaType",
    ],
    [{ ...good, annotations: { a: 1 } }, "manifest.annotations"],
    [
      { ...good, layers: [{ ...desc(MediaType.OciLayer), data: Buffer.from("y").toString("base64") }] },
      "manifest.layers\\[0\\].data",
    ],
    [{ ...good, manifests: [] }, "is an index"],
  ])("names the field at fault (%#)", (doc, field) => {
    expect(() => parseManifest(bytes(doc))).toThrowError(new RegExp(field));
  });

  it("refuses a manifest whose mediaType contradicts its descriptor", () => {
    expect(() => parseManifest(bytes(good), "manifest", MediaType.DockerManifest)).toThrowError(/mediaType/);
  });

  it("parses nested indexes with platforms", () => {
    const idx = parseIndex(
      bytes({
        schemaVersion: 2,
        manifests: [
          { ...desc(MediaType.OciManifest), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
          desc(MediaType.OciIndex),
        ],
      }),
    );
    expect(idx.manifests).toHaveLength(2);
    expect(() =>
      parseIndex(
        bytes({
          schemaVersion: 2,
          manifests: [{ ...desc(MediaType.OciManifest), platform: { os: "linux" } }],
        }),
      ),
    ).toThrowError(/manifests\[0\]\.platform\.architecture/);
  });
});

describe("configs", () => {
  const base = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [d] } };

  it("keeps Docker's Healthcheck, OnBuild and Shell", () => {
    const c = parseConfig(
      bytes({
        ...base,
        config: {
          Healthcheck: { Test: ["CMD", "true"], Interval: 1e9 },
          OnBuild: ["RUN x"],
          Shell: ["/bin/bash", "-c"],
        },
      }),
    );
    expect(c.config?.Healthcheck?.Interval).toBe(1e9);
    expect(c.config?.Shell).toEqual(["/bin/bash", "-c"]);
  });

  it.each([
    [{ ...base, rootfs: { type: "other", diff_ids: [] } }, "config.rootfs.type"],
    [{ ...base, os: 1 }, "config.os"],
    [{ ...base, config: { Env: ["NOEQUALS"] } }, "config.config.Env\\[0\\]"],
    [{ ...base, config: { Labels: { a: 1 } } }, "config.config.Labels"],
    [{ ...base, created: "yesterday" }, "config.created"],
    [{ ...base, rootfs: { type: "layers", diff_ids: ["sha256:1"] } }, "config.rootfs.diff_ids\\[0\\]"],
  ])("names the field at fault (%#)", (doc, field) => {
    expect(() => parseConfig(bytes(doc))).toThrowError(new RegExp(field));
  });
});

describe("platforms", () => {
  it("matches os/arch/variant with containerd's normalisation", () => {
    expect(
      platformMatches({ os: "linux", architecture: "arm64", variant: "v8" }, parsePlatform("linux/arm64")),
    ).toBe(true);
    expect(
      platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, parsePlatform("linux/arm/v7")),
    ).toBe(false);
    expect(platformMatches({ os: "linux", architecture: "amd64" }, parsePlatform("linux/amd64"))).toBe(true);
    expect(() => parsePlatform("linux")).toThrowError(/os\/arch/);
  });
});
