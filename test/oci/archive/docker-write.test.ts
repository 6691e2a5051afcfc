import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers, mutateImage } from "../../../src/image/index.ts";
import { openDockerArchive, TarIndex, writeDockerArchive } from "../../../src/oci/archive/index.ts";
import { type Image, loadImage } from "../../../src/oci/image.ts";
import { OciLayout } from "../../../src/oci/layout/layout.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";
import { handImage, ls, sha256, skopeoInspect, writeTar } from "./helpers.ts";

let dir: string;
let layoutDir: string;
let base: Image;
let derived: Image;

beforeAll(async () => {
  dir = await tempDir("berth-archive-docker-write-");
  layoutDir = join(dir, "layout");
  const baseLayer = [{ path: "etc/os-release", content: "ID=berth\n" }];
  await umociImage(layoutDir, "base", [baseLayer], { env: ["A=1"] });
  // derived is base plus a layer, so the two share base's layer byte for byte (two umoci builds of the same
  // files would differ wherever their mtimes fall in different seconds).
  const app = join(dir, "app-files");
  await mkdir(join(app, "app"), { recursive: true });
  await writeFile(join(app, "app", "hello.txt"), "hello, archive\n");
  const ctx = { home: join(dir, "home"), env: {} };
  await appendLayers(
    parseImageArgument(`oci:${layoutDir}:base`),
    [{ source: app, dest: "/" }],
    parseImageArgument(`oci:${layoutDir}:derived-app`),
    ctx,
  );
  await mutateImage(
    parseImageArgument(`oci:${layoutDir}:derived-app`),
    parseImageArgument(`oci:${layoutDir}:derived`),
    { cmd: ["/app/run"] },
    ctx,
  );
  const layout = await OciLayout.open(layoutDir);
  base = await loadImage(layout, await layout.resolve("base"));
  derived = await loadImage(layout, await layout.resolve("derived"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeDockerArchive", () => {
  it("writes an archive skopeo reads: config digest, DiffIDs and layer content", async () => {
    const file = join(dir, "one.tar");
    await writeDockerArchive(file, [{ image: derived, tags: ["app:1"] }], { tmpDir: join(dir, "tmp") });
    expect(await ls(join(dir, "tmp"))).toEqual([]);
    const inspected = await skopeoInspect(`docker-archive:${file}`);
    expect(inspected.Layers).toEqual(derived.config?.rootfs.diff_ids);
    expect(inspected.Env ?? null).toEqual(derived.config?.config?.Env ?? null);
    const config = await run("skopeo", ["inspect", "--raw", "--config", `docker-archive:${file}`]);
    expect(Buffer.from(config).equals(derived.rawConfig!)).toBe(true);

    // Legacy layout: VERSION, json, uncompressed layer.tar; manifest.json and repositories in familiar form.
    const index = await TarIndex.open(file);
    const manifest = JSON.parse((await buffer(index.openEntry("manifest.json"))).toString());
    expect(manifest).toHaveLength(1);
    expect(manifest[0].RepoTags).toEqual(["app:1"]);
    expect(manifest[0].Config).toBe(`${derived.manifest.config.digest.slice(7)}.json`);
    const top = manifest[0].Layers[1].split("/")[0];
    expect((await buffer(index.openEntry(`${top}/VERSION`))).toString()).toBe("1.0");
    const v1 = JSON.parse((await buffer(index.openEntry(`${top}/json`))).toString());
    expect(v1).toMatchObject({ id: top, parent: manifest[0].Layers[0].split("/")[0] });
    expect(JSON.parse((await buffer(index.openEntry("repositories"))).toString())).toEqual({
      app: { "1": top },
    });
    for (const [i, l] of manifest[0].Layers.entries()) {
      expect(`sha256:${sha256(await buffer(index.openEntry(l)))}`).toBe(derived.config?.rootfs.diff_ids[i]);
    }
    await index.close();

    // skopeo copies it on to a layout that umoci unpacks.
    const out = join(dir, "from-archive");
    await run("skopeo", ["copy", "-q", `docker-archive:${file}`, `oci:${out}:x`]);
    const bundle = join(dir, "bundle-one");
    await run("umoci", ["unpack", "--rootless", "--image", `${out}:x`, bundle]);
    expect(await readFile(join(bundle, "rootfs", "app", "hello.txt"), "utf8")).toBe("hello, archive\n");
  });

  it("writes several images and tags; shared layers once; berth and skopeo read every tag", async () => {
    const file = join(dir, "multi.tar");
    await writeDockerArchive(file, [
      { image: base, tags: ["base:1", "docker.io/library/base:latest"] },
      { image: derived, tags: ["localhost:5000/team/app:2", "quay.io/x/app:3"] },
      { image: base, tags: ["base:stable"] },
    ]);
    const manifest = JSON.parse(await run("tar", ["-xOf", file, "manifest.json"]));
    expect(manifest.map((m: { RepoTags: string[] }) => m.RepoTags)).toEqual([
      ["base:1", "base:latest", "base:stable"],
      ["localhost:5000/team/app:2", "quay.io/x/app:3"],
    ]);
    const listing = await run("tar", ["-tvf", file]);
    expect(listing.match(/layer\.tar -> \.\.\//g) ?? []).toHaveLength(1);
    for (const [tag, image] of [
      ["base:stable", base],
      ["localhost:5000/team/app:2", derived],
      ["quay.io/x/app:3", derived],
    ] as const) {
      const inspected = await skopeoInspect(`docker-archive:${file}:${tag}`);
      expect(inspected.Layers, tag).toEqual(image.config?.rootfs.diff_ids);
    }
    const archive = await openDockerArchive(file);
    expect(archive.images().map((i) => i.tags)).toEqual([
      ["docker.io/library/base:1", "docker.io/library/base:latest", "docker.io/library/base:stable"],
      ["localhost:5000/team/app:2", "quay.io/x/app:3"],
    ]);
    const back = await loadImage(archive, await archive.resolve("localhost:5000/team/app:2"));
    expect(back.manifest.config.digest).toBe(derived.manifest.config.digest);
    for (const l of back.layers()) await buffer(await l.uncompressed());
    await archive.close();
  });

  it("is deterministic and round-trips uncompressed layers straight through", async () => {
    const a = join(dir, "det-a.tar");
    const b = join(dir, "det-b.tar");
    await writeDockerArchive(a, [{ image: derived, tags: ["app:1"] }]);
    await writeDockerArchive(b, [{ image: derived, tags: ["app:1"] }]);
    expect(sha256(await readFile(a))).toBe(sha256(await readFile(b)));
    // Re-save what berth read from its own archive (layers already uncompressed, no spooling).
    const archive = await openDockerArchive(a);
    const again = await loadImage(archive, await archive.resolve());
    const c = join(dir, "det-c.tar");
    await writeDockerArchive(c, [{ image: again, tags: ["app:1"] }]);
    expect(sha256(await readFile(c))).toBe(sha256(await readFile(a)));
    await archive.close();
  });

  it("leaves nothing at the path when a layer is corrupt", async () => {
    const img = await handImage("corrupt");
    const bad = Buffer.from(img.layers[0]!);
    bad[700] = bad[700]! ^ 0x10;
    const src = join(dir, "corrupt-src.tar");
    await writeTar(src, [
      { name: `${img.configHex}.json`, data: img.config },
      { name: "l0.tar", data: bad },
      { name: "l1.tar", data: img.layers[1]! },
      {
        name: "manifest.json",
        data: JSON.stringify([
          { Config: `${img.configHex}.json`, RepoTags: ["c:1"], Layers: ["l0.tar", "l1.tar"] },
        ]),
      },
    ]);
    const archive = await openDockerArchive(src);
    const image = await loadImage(archive, await archive.resolve());
    const outDir = join(dir, "corrupt-out");
    const tmp = join(dir, "corrupt-tmp");
    const out = join(outDir, "out.tar");
    await expect(writeDockerArchive(out, [{ image, tags: ["c:1"] }], { tmpDir: tmp })).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringContaining(img.diffIds[0]!),
    });
    expect(await ls(outDir)).toEqual([]);
    expect(await ls(tmp)).toEqual([]);
    await archive.close();
  });

  it("writes a layer repeated within an image once, with a symlink skopeo follows", async () => {
    const img = await handImage("dup", 1);
    const config = JSON.parse(img.config.toString());
    config.rootfs.diff_ids = [img.diffIds[0], img.diffIds[0]];
    const rawConfig = Buffer.from(JSON.stringify(config));
    const configHex = sha256(rawConfig);
    const src = join(dir, "dup-src.tar");
    await writeTar(src, [
      { name: `${configHex}.json`, data: rawConfig },
      { name: "l.tar", data: img.layers[0]! },
      {
        name: "manifest.json",
        data: JSON.stringify([
          { Config: `${configHex}.json`, RepoTags: ["dup:1"], Layers: ["l.tar", "l.tar"] },
        ]),
      },
    ]);
    const archive = await openDockerArchive(src);
    const image = await loadImage(archive, await archive.resolve());
    const file = join(dir, "dup.tar");
    await writeDockerArchive(file, [{ image, tags: ["dup:1"] }]);
    await archive.close();
    expect((await run("tar", ["-tvf", file])).match(/layer\.tar -> \.\.\//g) ?? []).toHaveLength(1);
    const inspected = await skopeoInspect(`docker-archive:${file}`);
    expect(inspected.Layers).toEqual([img.diffIds[0], img.diffIds[0]]);
    const out = join(dir, "dup-layout");
    await run("skopeo", ["copy", "-q", `docker-archive:${file}`, `oci:${out}:x`]);
    const back = await openDockerArchive(file);
    const again = await loadImage(back, await back.resolve("dup:1"));
    for (const l of again.layers())
      expect((await buffer(await l.uncompressed())).equals(img.layers[0]!)).toBe(true);
    await back.close();
  });

  it("stops when aborted, leaving nothing behind", async () => {
    const outDir = join(dir, "aborted");
    const ac = new AbortController();
    ac.abort();
    await expect(
      writeDockerArchive(join(outDir, "x.tar"), [{ image: derived, tags: ["app:1"] }], {
        signal: ac.signal,
        tmpDir: join(dir, "tmp-abort"),
      }),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(await ls(outDir)).toEqual([]);
    expect(await ls(join(dir, "tmp-abort"))).toEqual([]);
  });

  it("refuses a digest as a tag and one tag for two images", async () => {
    const file = join(dir, "bad-tags.tar");
    await expect(
      writeDockerArchive(file, [{ image: base, tags: [`app@${base.manifest.config.digest}`] }]),
    ).rejects.toMatchObject({ code: "REFERENCE_INVALID" });
    await expect(
      writeDockerArchive(file, [
        { image: base, tags: ["app:1"] },
        { image: derived, tags: ["docker.io/library/app:1"] },
      ]),
    ).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("app:1") });
    expect(await ls(dir)).not.toContain("bad-tags.tar");
  });
});
