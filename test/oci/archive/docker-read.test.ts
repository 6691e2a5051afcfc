import { open, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDockerArchive, TarIndex } from "../../../src/oci/archive/index.ts";
import { digestBytes } from "../../../src/oci/digest.ts";
import { loadImage, loadRoot, selectImage } from "../../../src/oci/image.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";
import { type HandImage, handImage, ls, sha256, type TarSpec, writeTar } from "./helpers.ts";

let dir: string;
let layoutDir: string;
let skopeoArchive: string;

beforeAll(async () => {
  dir = await tempDir("berth-archive-docker-read-");
  layoutDir = join(dir, "layout");
  await umociImage(layoutDir, "t", [
    [{ path: "etc/hello", content: "hello from umoci\n" }],
    [{ path: "app/run.sh", content: "#!/bin/sh\necho hi\n", mode: 0o755 }],
  ]);
  skopeoArchive = join(dir, "skopeo.tar");
  await run("skopeo", ["copy", "-q", `oci:${layoutDir}:t`, `docker-archive:${skopeoArchive}:app:1`]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function layerBytes(image: Awaited<ReturnType<typeof loadImage>>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const l of image.layers()) out.push(await buffer(await l.uncompressed()));
  return out;
}

function v1id(n: number): string {
  return sha256(`v1-${n}`);
}

/** A legacy (≤ Docker 24) `docker save` archive. */
function legacyEntries(img: HandImage, tags: string[], layerData = img.layers): TarSpec[] {
  const entries: TarSpec[] = [];
  const ids = img.layers.map((_, i) => v1id(i));
  ids.forEach((id, i) => {
    entries.push({ name: `${id}/`, type: "directory" });
    entries.push({ name: `${id}/VERSION`, data: "1.0" });
    entries.push({ name: `${id}/json`, data: JSON.stringify({ id, parent: ids[i - 1] }) });
    entries.push({ name: `${id}/layer.tar`, data: layerData[i]! });
  });
  entries.push({ name: `${img.configHex}.json`, data: img.config });
  entries.push({
    name: "manifest.json",
    data: JSON.stringify([
      { Config: `${img.configHex}.json`, RepoTags: tags, Layers: ids.map((id) => `${id}/layer.tar`) },
    ]),
  });
  entries.push({ name: "repositories", data: JSON.stringify({ app: { "1": ids[ids.length - 1] } }) });
  return entries;
}

/** A Docker 25+ `docker save` archive: an OCI layout inside, plus manifest.json and symlinked legacy folders. */
function docker25Entries(img: HandImage, tag: string): { entries: TarSpec[]; manifestDigest: string } {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: `sha256:${img.configHex}`, size: img.config.length },
      layers: img.layers.map((l, i) => ({
        mediaType: MediaType.OciLayer,
        digest: img.diffIds[i],
        size: l.length,
      })),
    }),
  );
  const manifestDigest = digestBytes(manifest);
  const blob = (d: string) => `blobs/sha256/${d.slice("sha256:".length)}`;
  const entries: TarSpec[] = [
    { name: "blobs/", type: "directory" },
    { name: "blobs/sha256/", type: "directory" },
    ...img.layers.map((l, i) => ({ name: blob(img.diffIds[i]!), data: l })),
    { name: blob(`sha256:${img.configHex}`), data: img.config },
    { name: blob(manifestDigest), data: manifest },
    {
      name: "index.json",
      data: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: manifestDigest,
            size: manifest.length,
            annotations: {
              "io.containerd.image.name": `docker.io/library/${tag}`,
              "org.opencontainers.image.ref.name": "1",
            },
          },
        ],
      }),
    },
    { name: "oci-layout", data: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
  ];
  img.layers.forEach((_, i) => {
    const id = v1id(i);
    entries.push({ name: `${id}/`, type: "directory" });
    entries.push({ name: `${id}/VERSION`, data: "1.0" });
    entries.push({ name: `${id}/json`, data: "{}" });
    entries.push({ name: `${id}/layer.tar`, type: "symlink", linkname: `../${blob(img.diffIds[i]!)}` });
  });
  entries.push({
    name: "manifest.json",
    data: JSON.stringify([
      { Config: blob(`sha256:${img.configHex}`), RepoTags: [tag], Layers: img.diffIds.map(blob) },
    ]),
  });
  entries.push({ name: "repositories", data: "{}" });
  return { entries, manifestDigest };
}

/** A containerd-store export: gzip blobs, an index whose other platform's blobs are absent. */
function containerdEntries(img: HandImage, tag: string): { entries: TarSpec[]; manifestDigest: string } {
  const blob = (d: string) => `blobs/sha256/${d.slice("sha256:".length)}`;
  const layerDigests = img.gzipped.map((g) => digestBytes(g));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: {
        mediaType: MediaType.DockerConfig,
        digest: `sha256:${img.configHex}`,
        size: img.config.length,
      },
      layers: img.gzipped.map((g, i) => ({
        mediaType: MediaType.DockerLayer,
        digest: layerDigests[i],
        size: g.length,
      })),
    }),
  );
  const manifestDigest = digestBytes(manifest);
  const list = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: [
        {
          mediaType: MediaType.DockerManifest,
          digest: manifestDigest,
          size: manifest.length,
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          mediaType: MediaType.DockerManifest,
          digest: `sha256:${sha256("absent arm64 manifest")}`,
          size: 500,
          platform: { os: "linux", architecture: "arm64" },
        },
      ],
    }),
  );
  const listDigest = digestBytes(list);
  const entries: TarSpec[] = [
    { name: "blobs/", type: "directory" },
    { name: "blobs/sha256/", type: "directory" },
    { name: blob(`sha256:${img.configHex}`), data: img.config, mode: 0o444 },
    ...img.gzipped.map((g, i) => ({ name: blob(layerDigests[i]!), data: g, mode: 0o444 })),
    { name: blob(listDigest), data: list, mode: 0o444 },
    { name: blob(manifestDigest), data: manifest, mode: 0o444 },
    {
      name: "index.json",
      data: JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: MediaType.DockerManifestList, digest: listDigest, size: list.length }],
      }),
    },
    {
      name: "manifest.json",
      data: JSON.stringify([
        { Config: blob(`sha256:${img.configHex}`), RepoTags: [tag], Layers: layerDigests.map(blob) },
      ]),
    },
    { name: "oci-layout", data: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
  ];
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { entries, manifestDigest };
}

describe("openDockerArchive", () => {
  it("reads what `skopeo copy oci:… docker-archive:…` writes: config bytes, DiffIDs and layer content", async () => {
    const layout = await OciLayout.open(layoutDir);
    const original = await loadImage(layout, await layout.resolve("t"));
    const archive = await openDockerArchive(skopeoArchive);
    expect(archive.images().map((i) => i.tags)).toEqual([["docker.io/library/app:1"]]);
    const desc = await archive.resolve("app:1");
    expect(await archive.resolve()).toEqual(desc);
    expect(await archive.resolve("docker.io/library/app:1")).toEqual(desc);
    expect(await archive.resolve("@0")).toEqual(desc);
    const image = await loadImage(archive, desc);
    expect(image.manifest.mediaType).toBe(MediaType.OciManifest);
    expect(image.manifest.config.digest).toBe(original.manifest.config.digest);
    expect(image.rawConfig?.equals(original.rawConfig!)).toBe(true);
    expect(image.manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.OciLayer, MediaType.OciLayer]);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(original.config?.rootfs.diff_ids);
    const got = await layerBytes(image);
    const want = await layerBytes(original);
    expect(got.map((b) => sha256(b))).toEqual(want.map((b) => sha256(b)));
    await expect(archive.resolve("other:1")).rejects.toMatchObject({
      code: "IMAGE_NOT_FOUND",
      message: expect.stringContaining("docker.io/library/app:1"),
    });
    await archive.close();
  });

  it("reads a gzip- or zstd-compressed docker save and cleans its temp copy on close", async () => {
    const bytes = await readFile(skopeoArchive);
    for (const [ext, data] of [
      ["gz", gzipSync(bytes)],
      ["zst", zstdCompressSync(bytes)],
    ] as const) {
      const file = join(dir, `compressed.tar.${ext}`);
      await writeFile(file, data);
      const tmp = join(dir, `tmp-${ext}`);
      const archive = await openDockerArchive(file, { tmpDir: tmp });
      const image = await selectImage(await loadRoot(archive, await archive.resolve("app:1")));
      expect((await layerBytes(image)).length).toBe(2);
      await archive.close();
      expect(await ls(tmp)).toEqual([]);
    }
  });

  it("reads a hand-made legacy archive, synthesising a stable OCI manifest", async () => {
    const img = await handImage("legacy");
    const file = join(dir, "legacy.tar");
    await writeTar(file, legacyEntries(img, ["app:1", "registry.example.com:5000/team/app:2"]));
    const archive = await openDockerArchive(file);
    expect(archive.images()[0]?.tags).toEqual([
      "docker.io/library/app:1",
      "registry.example.com:5000/team/app:2",
    ]);
    const desc = await archive.resolve("registry.example.com:5000/team/app:2");
    const image = await loadImage(archive, desc);
    expect(image.manifest.config).toEqual({
      mediaType: MediaType.OciConfig,
      digest: `sha256:${img.configHex}`,
      size: img.config.length,
    });
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(img.diffIds);
    expect(
      (await layerBytes(image)).map((b) => b.equals(img.layers[0]!) || b.equals(img.layers[1]!)),
    ).toEqual([true, true]);
    const again = await openDockerArchive(file);
    expect(await again.resolve()).toEqual(desc);
    await Promise.all([archive.close(), again.close()]);
  });

  it("reads a hand-made Docker 25 archive (OCI layout inside, symlinked layer.tar) with the original manifest", async () => {
    const img = await handImage("docker25");
    const { entries, manifestDigest } = docker25Entries(img, "app:25");
    const file = join(dir, "docker25.tar");
    await writeTar(file, entries);
    const archive = await openDockerArchive(file);
    const desc = await archive.resolve("app:25");
    expect(desc.digest).toBe(manifestDigest);
    const image = await loadImage(archive, desc);
    expect(image.rawConfig?.equals(img.config)).toBe(true);
    expect((await layerBytes(image))[1]?.equals(img.layers[1]!)).toBe(true);
    // The legacy folder's symlink resolves into the layout.
    const index = await TarIndex.open(file);
    expect((await buffer(index.openEntry(`${v1id(0)}/layer.tar`))).equals(img.layers[0]!)).toBe(true);
    await Promise.all([archive.close(), index.close()]);
  });

  it("reads a hand-made containerd export: gzip blobs, a manifest list with a platform left out", async () => {
    const img = await handImage("containerd");
    const { entries, manifestDigest } = containerdEntries(img, "app:ctr");
    const file = join(dir, "containerd.tar");
    await writeTar(file, entries);
    const archive = await openDockerArchive(file);
    const desc = await archive.resolve("app:ctr");
    expect(desc).toMatchObject({ digest: manifestDigest, mediaType: MediaType.DockerManifest });
    const image = await loadImage(archive, desc);
    expect(image.manifest.layers[0]?.mediaType).toBe(MediaType.DockerLayer);
    expect((await layerBytes(image))[0]?.equals(img.layers[0]!)).toBe(true);
    await archive.close();
  });

  it("synthesises a manifest typed by sniffed compression when gzip blobs have no index.json", async () => {
    const img = await handImage("gzip-only");
    const entries = containerdEntries(img, "app:gz").entries.filter(
      (e) => e.name !== "index.json" && e.name !== "oci-layout",
    );
    const file = join(dir, "gzip-only.tar");
    await writeTar(file, entries);
    const archive = await openDockerArchive(file);
    const image = await loadImage(archive, await archive.resolve());
    expect(image.manifest.mediaType).toBe(MediaType.OciManifest);
    expect(image.manifest.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OciLayerGzip,
      MediaType.OciLayerGzip,
    ]);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(img.gzipped.map((g) => digestBytes(g)));
    expect((await layerBytes(image))[1]?.equals(img.layers[1]!)).toBe(true);
    await archive.close();
  });

  it("sniffs a gzip layer.tar in a legacy folder and names it by the digest of its bytes", async () => {
    const img = await handImage("legacy-gz");
    const file = join(dir, "legacy-gz.tar");
    await writeTar(file, legacyEntries(img, ["app:1"], [img.gzipped[0]!, img.layers[1]!]));
    const archive = await openDockerArchive(file);
    const image = await loadImage(archive, await archive.resolve());
    expect(image.manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual([
      [MediaType.OciLayerGzip, digestBytes(img.gzipped[0]!)],
      [MediaType.OciLayer, img.diffIds[1]],
    ]);
    expect((await layerBytes(image))[0]?.equals(img.layers[0]!)).toBe(true);
    await archive.close();
  });

  it("lists several images and refuses to guess which one is meant", async () => {
    const a = await handImage("multi-a", 1);
    const b = await handImage("multi-b", 1);
    const entries: TarSpec[] = [
      { name: `${a.configHex}.json`, data: a.config },
      { name: `${b.configHex}.json`, data: b.config },
      { name: "a.tar", data: a.layers[0]! },
      { name: "b.tar", data: b.layers[0]! },
      {
        name: "manifest.json",
        data: JSON.stringify([
          { Config: `${a.configHex}.json`, RepoTags: ["a:1", "a:latest"], Layers: ["a.tar"] },
          { Config: `${b.configHex}.json`, RepoTags: null, Layers: ["b.tar"] },
        ]),
      },
    ];
    const file = join(dir, "multi.tar");
    await writeTar(file, entries);
    const archive = await openDockerArchive(file);
    expect(archive.images().map((i) => i.tags)).toEqual([
      ["docker.io/library/a:1", "docker.io/library/a:latest"],
      [],
    ]);
    await expect(archive.resolve()).rejects.toMatchObject({
      code: "IMAGE_NOT_FOUND",
      message: expect.stringMatching(
        /holds 2 images; name one \(docker.io\/library\/a:1, docker.io\/library\/a:latest\)/,
      ),
    });
    expect((await archive.resolve("a")).digest).toBe((await archive.resolve("@0")).digest);
    const second = await loadImage(archive, await archive.resolve("@1"));
    expect(second.manifest.config.digest).toBe(`sha256:${b.configHex}`);
    await expect(archive.resolve("@2")).rejects.toMatchObject({ code: "IMAGE_NOT_FOUND" });
    await archive.close();
  });
});

describe("openDockerArchive on bad input", () => {
  it("a truncated archive", async () => {
    const file = join(dir, "truncated.tar");
    await writeFile(file, await readFile(skopeoArchive));
    await truncate(file, 3000);
    await expect(openDockerArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringContaining(`archive ${file} is truncated`),
    });
  });

  it("an entry ../escape", async () => {
    const img = await handImage("escape", 1);
    const file = join(dir, "escape.tar");
    await writeTar(file, [...legacyEntries(img, ["app:1"]), { name: "../escape", data: "boom" }]);
    await expect(openDockerArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringContaining('entry "../escape" points outside the archive'),
    });
  });

  it("a layer manifest.json names that the archive lacks", async () => {
    const img = await handImage("missing");
    const entries = legacyEntries(img, ["app:1"]).filter((e) => e.name !== `${v1id(1)}/layer.tar`);
    const file = join(dir, "missing.tar");
    await writeTar(file, entries);
    await expect(openDockerArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringContaining(
        `manifest.json[0].Layers[1] names "${v1id(1)}/layer.tar", which is not a file`,
      ),
    });
  });

  it("a blob the embedded layout's manifest names but the archive lacks", async () => {
    const img = await handImage("missing-blob");
    const { entries } = containerdEntries(img, "app:1");
    const file = join(dir, "missing-blob.tar");
    await writeTar(file, entries);
    const archive = await openDockerArchive(file);
    const absent = {
      mediaType: MediaType.DockerManifest,
      digest: `sha256:${sha256("absent arm64 manifest")}`,
      size: 500,
    };
    await expect(archive.openBlob(absent)).rejects.toMatchObject({
      code: "BLOB_NOT_FOUND",
      message: expect.stringContaining(absent.digest),
    });
    await archive.close();
  });

  it("a flipped byte in a layer fails at read, naming the digest", async () => {
    const img = await handImage("flipped");
    const bad = Buffer.from(img.layers[1]!);
    bad[600] = bad[600]! ^ 0xff;
    const file = join(dir, "flipped.tar");
    await writeTar(file, legacyEntries(img, ["app:1"], [img.layers[0]!, bad]));
    const archive = await openDockerArchive(file);
    const image = await loadImage(archive, await archive.resolve());
    await buffer(await image.layers()[0]!.compressed());
    await expect(buffer(await image.layers()[1]!.compressed())).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringContaining(img.diffIds[1]!),
    });
    await archive.close();
  });

  it("a flipped byte in a gzip layer of skopeo's archive on disk", async () => {
    const img = await handImage("flipped-gz");
    const { entries } = containerdEntries(img, "app:1");
    const file = join(dir, "flipped-gz.tar");
    await writeTar(file, entries);
    const index = await TarIndex.open(file);
    const layerDigest = digestBytes(img.gzipped[0]!);
    const e = index.require(`blobs/sha256/${layerDigest.slice(7)}`);
    const fh = await open(file, "r+");
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, e.offset + 20);
    one[0] = one[0]! ^ 0x01;
    await fh.write(one, 0, 1, e.offset + 20);
    await fh.close();
    const archive = await openDockerArchive(file);
    const image = await loadImage(archive, await archive.resolve());
    await expect(buffer(await image.layers()[0]!.compressed())).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringContaining(layerDigest),
    });
    await Promise.all([archive.close(), index.close()]);
  });

  it("an oci-archive given as a docker-archive, and a bad manifest.json", async () => {
    const file = join(dir, "not-docker.tar");
    await writeTar(file, [
      { name: "oci-layout", data: "{}" },
      { name: "index.json", data: "{}" },
    ]);
    await expect(openDockerArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringMatching(/no manifest.json \(it looks like an oci-archive\)/),
    });
    await writeTar(file, [{ name: "manifest.json", data: JSON.stringify([{ Config: 5 }]) }]);
    await expect(openDockerArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringContaining("manifest.json[0].Config must be a file name"),
    });
  });
});
