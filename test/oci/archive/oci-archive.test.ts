import { mkdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciArchiveSink, openDockerArchive, openOciArchive } from "../../../src/oci/archive/index.ts";
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import { loadImage, loadRoot, selectImage } from "../../../src/oci/image.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";
import { copyInto, ls, sha256, skopeoInspect, writeTar } from "./helpers.ts";

let dir: string;
let layoutDir: string;
let layout: OciLayout;
let one: Descriptor;
let two: Descriptor;

beforeAll(async () => {
  dir = await tempDir("berth-archive-oci-archive-");
  layoutDir = join(dir, "layout");
  await umociImage(layoutDir, "one", [[{ path: "one.txt", content: "first image\n" }]]);
  await umociImage(layoutDir, "two", [[{ path: "two.txt", content: "second image\n" }]], { env: ["TWO=2"] });
  layout = await OciLayout.open(layoutDir);
  one = await layout.resolve("one");
  two = await layout.resolve("two");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function saveWithSink(
  path: string,
  root: Descriptor,
  ref?: string,
  keepExisting?: boolean,
): Promise<void> {
  const sink = await OciArchiveSink.create(path, {
    ref,
    tmpDir: join(dir, "tmp"),
    keepExisting,
  });
  await copyInto(layout, root, sink);
}

describe("oci-archive", () => {
  it("reads what `skopeo copy … oci-archive:…` writes, manifest digest kept", async () => {
    const file = join(dir, "skopeo.tar");
    await run("skopeo", ["copy", "-q", `oci:${layoutDir}:one`, `oci-archive:${file}:v1`]);
    const archive = await openOciArchive(file);
    expect(archive.images().map((i) => i.tags)).toEqual([["v1"]]);
    const desc = await archive.resolve("v1");
    expect(desc.digest).toBe(one.digest);
    expect(await archive.resolve()).toEqual(desc);
    const image = await loadImage(archive, desc);
    const tarBytes = await buffer(await image.layers()[0]!.uncompressed());
    expect(`sha256:${sha256(tarBytes)}`).toBe(image.config?.rootfs.diff_ids[0]);
    await expect(archive.resolve("v2")).rejects.toMatchObject({
      code: "IMAGE_NOT_FOUND",
      message: expect.stringContaining("has no image tagged v2 (it has v1)"),
    });
    await archive.close();
  });

  it("writes an archive skopeo and umoci read, manifest digest unchanged", async () => {
    const file = join(dir, "berth.tar");
    await saveWithSink(file, one, "latest");
    expect(await ls(join(dir, "tmp"))).toEqual([]);
    const inspected = await skopeoInspect(`oci-archive:${file}:latest`);
    expect(inspected.Digest).toBe(one.digest);
    const out = join(dir, "from-berth");
    await run("skopeo", ["copy", "-q", `oci-archive:${file}:latest`, `oci:${out}:x`]);
    expect((await (await OciLayout.open(out)).resolve("x")).digest).toBe(one.digest);
    // umoci reads the layout straight out of the tar.
    const extracted = join(dir, "extracted");
    await mkdir(extracted);
    await run("tar", ["-xf", file, "-C", extracted]);
    const bundle = join(dir, "bundle");
    await run("umoci", ["unpack", "--rootless", "--image", `${extracted}:latest`, bundle]);
    expect(await readFile(join(bundle, "rootfs", "one.txt"), "utf8")).toBe("first image\n");
    // Deterministic bytes.
    const again = join(dir, "berth-again.tar");
    await saveWithSink(again, one, "latest");
    expect(sha256(await readFile(again))).toBe(sha256(await readFile(file)));
  });

  it("keeps the other images of an existing archive, replaces a tag, or starts afresh", async () => {
    const file = join(dir, "several.tar");
    await saveWithSink(file, one, "one");
    await saveWithSink(file, two, "two");
    let archive = await openOciArchive(file);
    expect(archive.images().map((i) => [i.tags, i.descriptor.digest])).toEqual([
      [["one"], one.digest],
      [["two"], two.digest],
    ]);
    await expect(archive.resolve()).rejects.toMatchObject({
      code: "IMAGE_NOT_FOUND",
      message: /name one \(one, two\)/,
    });
    await archive.close();
    expect((await skopeoInspect(`oci-archive:${file}:one`)).Digest).toBe(one.digest);
    expect((await skopeoInspect(`oci-archive:${file}:two`)).Digest).toBe(two.digest);

    await saveWithSink(file, two, "one");
    archive = await openOciArchive(file);
    expect(archive.images().map((i) => [i.tags, i.descriptor.digest])).toEqual([
      [["two"], two.digest],
      [["one"], two.digest],
    ]);
    await archive.close();

    await saveWithSink(file, one, "solo", false);
    archive = await openOciArchive(file);
    expect(archive.images().map((i) => i.tags)).toEqual([["solo"]]);
    await archive.close();
  });

  it("writes a multi-platform index whole", async () => {
    const index = await layout.writeBlobBytes(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: [
            { ...one, annotations: undefined, platform: { os: "linux", architecture: "amd64" } },
            { ...two, annotations: undefined, platform: { os: "linux", architecture: "arm64" } },
          ],
        }),
      ),
      MediaType.OciIndex,
    );
    const file = join(dir, "multi.tar");
    await saveWithSink(file, index, "multi");
    const raw = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci-archive:${file}:multi`]));
    expect(raw.manifests.map((m: Descriptor) => m.digest)).toEqual([one.digest, two.digest]);
    expect((await skopeoInspect(`oci-archive:${file}:multi`)).Digest).toBe(index.digest);
    const archive = await openOciArchive(file);
    const root = await loadRoot(archive, await archive.resolve("multi"));
    const image = await selectImage(root, { os: "linux", architecture: "arm64" });
    expect(image.digest).toBe(two.digest);
    await archive.close();
  });

  it("reads a gzip-compressed oci-archive", async () => {
    const file = join(dir, "berth.tar");
    const gz = join(dir, "berth.tar.gz");
    await writeFile(gz, gzipSync(await readFile(file)));
    const archive = await openOciArchive(gz, { tmpDir: join(dir, "tmp-gz") });
    expect((await archive.resolve("latest")).digest).toBe(one.digest);
    await archive.close();
    expect(await ls(join(dir, "tmp-gz"))).toEqual([]);
  });

  it("tells a docker-archive from an oci-archive", async () => {
    const file = join(dir, "docker.tar");
    await run("skopeo", ["copy", "-q", `oci:${layoutDir}:one`, `docker-archive:${file}:app:1`]);
    await expect(openOciArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringContaining("it looks like a docker-archive"),
    });
    const archive = await openDockerArchive(file);
    await archive.close();
  });
});

describe("oci-archive on bad input", () => {
  it("a truncated archive", async () => {
    const file = join(dir, "truncated.tar");
    await writeFile(file, await readFile(join(dir, "berth.tar")));
    await truncate(file, 1800);
    await expect(openOciArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringMatching(/is truncated/),
    });
  });

  it("an index.json naming a missing blob: a failed copy leaves the destination as it was", async () => {
    const broken = join(dir, "broken-layout");
    await run("cp", ["-a", layoutDir, broken]);
    const brokenLayout = await OciLayout.open(broken);
    const img = await loadImage(brokenLayout, await brokenLayout.resolve("two"));
    await rm(brokenLayout.blobPath(img.manifest.layers[0]!.digest));
    const existing = join(dir, "existing.tar");
    await saveWithSink(existing, one, "one");
    const before = await readFile(existing);
    const fresh = join(dir, "fresh-out");
    await mkdir(fresh);
    for (const path of [existing, join(fresh, "new.tar")]) {
      const sink = await OciArchiveSink.create(path, { ref: "two", tmpDir: join(dir, "tmp-broken") });
      await expect(copyInto(brokenLayout, img.descriptor, sink)).rejects.toMatchObject({
        code: "BLOB_NOT_FOUND",
        message: expect.stringContaining(img.manifest.layers[0]!.digest),
      });
    }
    expect((await readFile(existing)).equals(before)).toBe(true);
    expect(await ls(fresh)).toEqual([]);
    expect(await ls(join(dir, "tmp-broken"))).toEqual([]);
  });

  it("a missing blob and a flipped byte inside an oci-archive fail at read, naming the digest", async () => {
    const file = join(dir, "berth.tar");
    const extracted = join(dir, "flip");
    await mkdir(extracted);
    await run("tar", ["-xf", file, "-C", extracted]);
    const inner = await OciLayout.open(extracted);
    const image = await loadImage(inner, await inner.resolve("latest"));
    const layer = image.manifest.layers[0]!;
    const blob = inner.blobPath(layer.digest);
    const bytes = await readFile(blob);
    bytes[30] = bytes[30]! ^ 0x01;
    await writeFile(blob, bytes);
    const flipped = join(dir, "flipped.tar");
    await run("tar", ["-cf", flipped, "-C", extracted, "oci-layout", "index.json", "blobs"]);
    let archive = await openOciArchive(flipped);
    let back = await loadImage(archive, await archive.resolve("latest"));
    await expect(buffer(await back.layers()[0]!.compressed())).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringContaining(layer.digest),
    });
    await archive.close();

    await rm(blob);
    const missing = join(dir, "missing.tar");
    await run("tar", ["-cf", missing, "-C", extracted, "oci-layout", "index.json", "blobs"]);
    archive = await openOciArchive(missing);
    back = await loadImage(archive, await archive.resolve("latest"));
    await expect(back.layers()[0]!.compressed()).rejects.toMatchObject({
      code: "BLOB_NOT_FOUND",
      message: expect.stringContaining(layer.digest),
    });
    await archive.close();
  });

  it("an entry ../escape", async () => {
    const file = join(dir, "escape.tar");
    await writeTar(file, [
      { name: "oci-layout", data: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
      { name: "index.json", data: JSON.stringify({ schemaVersion: 2, manifests: [] }) },
      { name: "../escape", data: "boom" },
    ]);
    await expect(openOciArchive(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringContaining('"../escape"'),
    });
  });
});
