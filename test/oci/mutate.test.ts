import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { beforeAll, describe, expect, it } from "vitest";
import { digestBytes } from "../../src/oci/digest.ts";
import { loadImage } from "../../src/oci/image.ts";
import type { OciLayout } from "../../src/oci/layout/layout.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { type AddedLayer, EPOCH, mutate, setEnv } from "../../src/oci/mutate.ts";
import { errorOf, handLayout, type LayoutImage, putDocument } from "../helpers/oci.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let layout: OciLayout;
let base: LayoutImage;
let added: AddedLayer;

beforeAll(async () => {
  dir = await tempDir();
  ({
    layout,
    images: [base],
  } = await handLayout(dir, "base"));
  const bytes = Buffer.from("added tar");
  await writeFile(join(dir, "added.tar"), bytes);
  const digest = digestBytes(bytes);
  added = {
    path: join(dir, "added.tar"),
    mediaType: MediaType.OciLayer,
    digest,
    size: bytes.length,
    diffId: digest,
    history: { created_by: "RUN x" },
  };
});

/** The base image as a Docker manifest and config. */
async function dockerBase() {
  const cfgBytes = await layout.readBlob(base.config);
  const dConfig = await putDocument(dir, cfgBytes, MediaType.DockerConfig);
  const dManifest = await putDocument(
    dir,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: dConfig,
      layers: [{ ...base.layer, mediaType: MediaType.DockerLayer }],
    }),
    MediaType.DockerManifest,
  );
  return loadImage(layout, dManifest);
}

describe("mutate", () => {
  it("builds on scratch for the platform given, with the epoch as creation time", () => {
    const image = mutate(undefined, {
      layers: [added],
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    });
    expect(image.config).toEqual({
      created: EPOCH,
      architecture: "arm",
      os: "linux",
      variant: "v7",
      config: {},
      rootfs: { type: "layers", diff_ids: [added.diffId] },
      history: [{ created: EPOCH, created_by: "RUN x" }],
    });
    expect(image.mediaType).toBe(MediaType.OciManifest);
    expect(mutate(undefined, {}, { os: "linux", architecture: "s390x" }).config!.architecture).toBe("s390x");
  });

  it("adds layers, history, config changes and fields on top of a base, keeping its layers by reference", async () => {
    const from = await loadImage(layout, base.manifest);
    const image = mutate(from, {
      layers: [added],
      history: [{ created_by: "ENV A=1" }],
      config: (c) => ({ ...c, Env: setEnv(c.Env, ["A=1"]) }),
      created: "2024-05-06T07:08:09Z",
      author: "me",
      fields: { "moby.buildkit.cache.v0": "x" },
    });
    const cfg = image.config!;
    expect(cfg.rootfs.diff_ids).toEqual([from.config!.rootfs.diff_ids[0], added.diffId]);
    expect(cfg.history).toEqual([
      { created: "2024-05-06T07:08:09Z", created_by: "RUN x" },
      { created: "2024-05-06T07:08:09Z", created_by: "ENV A=1", empty_layer: true },
    ]);
    expect([cfg.created, cfg.author, cfg.config?.Env, cfg["moby.buildkit.cache.v0"]]).toEqual([
      "2024-05-06T07:08:09Z",
      "me",
      ["A=1"],
      "x",
    ]);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual([base.layer.digest, added.digest]);
    expect(from.config!.config).toBeUndefined();
    expect((await buffer(await image.source.openBlob(image.manifest.layers[1]!))).toString()).toBe(
      "added tar",
    );
  });

  it("leaves the base's config as it was, sharing no part of it with the new image's", () => {
    const from = mutate(undefined, {
      platform: { os: "linux", architecture: "arm", variant: "v7" },
      config: () => ({ Env: ["A=1"], Labels: { a: "1" } }),
      history: [{ created_by: "ENV A=1" }],
    });
    const before = structuredClone(from.config);
    const image = mutate(from, {
      layers: [added],
      config: (c) => {
        c.Env!.push("B=2");
        c.Labels!.b = "2";
        return c;
      },
      history: [{ created_by: "ENV B=2" }],
      author: "me",
      fields: { "moby.buildkit.cache.v0": "x" },
      platform: { os: "linux", architecture: "arm64" },
    });
    expect(from.config).toEqual(before);
    const cfg = image.config!;
    expect(cfg.config).toEqual({ Env: ["A=1", "B=2"], Labels: { a: "1", b: "2" } });
    cfg.history![0]!.created_by = "changed";
    cfg.rootfs.diff_ids.push("sha256:changed");
    expect(from.config).toEqual(before);
  });

  it("is deterministic: the same inputs give the same digest", async () => {
    const from = await loadImage(layout, base.manifest);
    const a = mutate(from, { layers: [added] });
    const b = mutate(from, { layers: [added] });
    expect(a.digest).toBe(b.digest);
    expect(mutate(from, { layers: [added], created: "2000-01-01T00:00:00Z" }).digest).not.toBe(a.digest);
  });

  it("keeps a Docker base Docker unless a zstd layer needs OCI", async () => {
    const docker = await dockerBase();
    expect(mutate(docker, { layers: [added] }).mediaType).toBe(MediaType.DockerManifest);
    expect(mutate(docker, { layers: [added] }).manifest.layers[1]!.mediaType).toBe(MediaType.DockerLayerTar);
    const zstd = { ...added, mediaType: MediaType.OciLayerZstd };
    const oci = mutate(docker, { layers: [zstd] });
    expect([oci.mediaType, oci.manifest.config.mediaType, oci.manifest.layers[0]!.mediaType]).toEqual([
      MediaType.OciManifest,
      MediaType.OciConfig,
      MediaType.OciLayerGzip,
    ]);
  });

  it("annotations go over the base's into an OCI manifest, a Docker base's too; the container config is unchanged", async () => {
    const docker = await dockerBase();
    const a = mutate(docker, { annotations: { a: "1", b: "2" } });
    expect([a.mediaType, a.manifest.layers[0]!.mediaType, a.manifest.annotations]).toEqual([
      MediaType.OciManifest,
      MediaType.OciLayerGzip,
      { a: "1", b: "2" },
    ]);
    expect(a.config?.config).toEqual(docker.config?.config);
    const b = mutate(a, { annotations: { b: "3" } });
    expect(b.manifest.annotations).toEqual({ a: "1", b: "3" });
    expect(mutate(docker, {}).mediaType).toBe(MediaType.DockerManifest);
    // oci: the media types alone, no annotations field
    const oci = mutate(docker, { oci: true });
    expect([oci.mediaType, oci.manifest.annotations]).toEqual([MediaType.OciManifest, undefined]);
  });

  it("replaces the platform, dropping a variant not given", async () => {
    const from = mutate(undefined, { platform: { os: "linux", architecture: "arm", variant: "v7" } });
    const cfg = mutate(from, { platform: { os: "linux", architecture: "arm64" } }).config!;
    expect([cfg.os, cfg.architecture, cfg.variant]).toEqual(["linux", "arm64", undefined]);
  });

  it("refuses a base that is not an image", async () => {
    const cfg = await putDocument(dir, "{}", "application/vnd.example.config+json");
    const m = await putDocument(
      dir,
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [] }),
      MediaType.OciManifest,
    );
    const err = await errorOf(async () => mutate(await loadImage(layout, m), {}));
    expect([err.code, err.message]).toEqual([
      "MEDIA_TYPE_UNSUPPORTED",
      `${m.digest} is not an image (its config is application/vnd.example.config+json)`,
    ]);
  });
});

describe("setEnv", () => {
  it("replaces entries by key in place and appends new ones", () => {
    expect(setEnv(["PATH=/bin", "A=1", "AB=2"], ["A=3", "C=", "PATH=/usr/bin"])).toEqual([
      "PATH=/usr/bin",
      "A=3",
      "AB=2",
      "C=",
    ]);
    expect(setEnv(undefined, ["X=1", "X=2"])).toEqual(["X=2"]);
  });
});
