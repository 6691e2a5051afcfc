import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { beforeAll, describe, expect, it } from "vitest";
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import { digestBytes } from "../../../src/oci/digest.ts";
import { emptyIndex, OciLayout, REF_NAME, validateRefName } from "../../../src/oci/layout/layout.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { blobPath, fileState, readIndex } from "../../helpers/layout.ts";
import { errorOf, handLayout, type LayoutImage, layoutImage } from "../../helpers/oci.ts";
import { tempDir } from "../../helpers/temp.ts";

let root: string;
beforeAll(async () => {
  root = await tempDir();
});

/** A fresh layout holding one hand-made image's blobs and an empty index. */
async function fresh(name: string): Promise<{ layout: OciLayout; image: LayoutImage; dir: string }> {
  const dir = join(root, name);
  const {
    layout,
    images: [image],
  } = await handLayout(dir, name);
  return { layout, image, dir };
}

describe("opening a layout", () => {
  it("creates an empty layout in a new or empty folder, and opens it again", async () => {
    const dir = join(root, "created");
    await OciLayout.openOrCreate(dir);
    expect(JSON.parse(await readFile(join(dir, "oci-layout"), "utf8"))).toEqual({
      imageLayoutVersion: "1.0.0",
    });
    expect(await readIndex(dir)).toEqual(emptyIndex());
    expect((await stat(join(dir, "blobs", "sha256"))).isDirectory()).toBe(true);
    expect(await (await OciLayout.openOrCreate(dir)).entries()).toEqual([]);
  });

  it("refuses to create a layout in a folder holding other files", async () => {
    const dir = join(root, "stray");
    await mkdir(dir);
    await writeFile(join(dir, "notes.txt"), "mine");
    const err = await errorOf(() => OciLayout.openOrCreate(dir));
    expect([err.code, err.message]).toEqual([
      "LAYOUT_INVALID",
      `${dir} is not an OCI image layout (no oci-layout file) and is not empty`,
    ]);
  });

  it("names what is wrong with a folder that is not a layout", async () => {
    const missing = await errorOf(() => OciLayout.open(join(root, "nowhere")));
    expect([missing.code, missing.message, missing.hint]).toEqual([
      "IMAGE_NOT_FOUND",
      `no such folder: ${join(root, "nowhere")} (an OCI image layout was expected)`,
      "check the path after oci:",
    ]);
    const bare = join(root, "bare");
    await mkdir(bare);
    expect((await errorOf(() => OciLayout.open(bare))).message).toBe(
      `${bare} is not an OCI image layout: it has no oci-layout file`,
    );
    await writeFile(join(bare, "oci-layout"), JSON.stringify({ imageLayoutVersion: "2.0.0" }));
    const version = await errorOf(() => OciLayout.open(bare));
    expect([version.code, version.message]).toEqual([
      "LAYOUT_INVALID",
      `${join(bare, "oci-layout")} must have imageLayoutVersion "1.0.0"`,
    ]);
  });

  it("refuses an index.json that is missing or invalid, naming the layout", async () => {
    const { layout, dir } = await fresh("badindex");
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ digest: "x" }] }),
    );
    const bad = await errorOf(() => layout.entries());
    expect(bad.code).toBe("LAYOUT_INVALID");
    expect(bad.message).toMatch(new RegExp(`^layout ${dir}: index.json`));
  });
});

describe("blobs", () => {
  it("reads a blob whole or as a stream, verified; a missing one is BLOB_NOT_FOUND naming its digest", async () => {
    const { layout, image, dir } = await fresh("read");
    expect((await layout.readBlob(image.manifest)).equals(image.bytes)).toBe(true);
    expect((await buffer(await layout.openBlob(image.manifest))).equals(image.bytes)).toBe(true);
    const gone = { ...image.manifest, digest: digestBytes("nothing") };
    for (const read of [() => layout.readBlob(gone), () => layout.openBlob(gone)]) {
      const err = await errorOf(read);
      expect([err.code, err.message]).toEqual([
        "BLOB_NOT_FOUND",
        `blob ${gone.digest} is missing from the layout ${dir}`,
      ]);
    }
    await writeFile(
      blobPath(dir, image.manifest.digest),
      Buffer.from(image.bytes.toString().replace("2", "3")),
    );
    expect((await errorOf(() => layout.readBlob(image.manifest))).code).toBe("DIGEST_MISMATCH");
    expect((await errorOf(async () => buffer(await layout.openBlob(image.manifest)))).code).toBe(
      "DIGEST_MISMATCH",
    );
  });

  it("knows a blob by digest and size", async () => {
    const { layout, image } = await fresh("has");
    expect(await layout.hasBlob(image.layer)).toBe(true);
    expect(await layout.hasBlob({ ...image.layer, size: image.layer.size + 1 })).toBe(false);
    expect(await layout.hasBlob({ digest: digestBytes("no"), size: 2 })).toBe(false);
    expect(await layout.blobRange(image.layer)).toEqual({
      path: layout.blobPath(image.layer.digest),
      start: 0,
      size: image.layer.size,
    });
  });

  it("writes a blob verified, skips one it has without opening the source, and keeps nothing of a bad one", async () => {
    const { layout, image, dir } = await fresh("write");
    const bytes = Buffer.from("new blob");
    const desc: Descriptor = {
      mediaType: MediaType.OciLayer,
      digest: digestBytes(bytes),
      size: bytes.length,
    };
    let seen = 0;
    expect(
      await layout.writeBlob(
        desc,
        async () => Readable.from([bytes]),
        (n) => (seen += n),
      ),
    ).toBe(true);
    expect(seen).toBe(bytes.length);
    expect(await readFile(layout.blobPath(desc.digest), "utf8")).toBe("new blob");
    expect((await stat(layout.blobPath(desc.digest))).mode & 0o777).toBe(0o644);
    const opener = async (): Promise<Readable> => {
      throw new Error("opened a blob the layout has");
    };
    expect(await layout.writeBlob(image.layer, opener)).toBe(false);
    const other = { ...desc, digest: digestBytes("other") };
    expect((await errorOf(() => layout.writeBlob(other, async () => Readable.from([bytes])))).code).toBe(
      "DIGEST_MISMATCH",
    );
    expect(await layout.hasBlob(other)).toBe(false);
    expect(await readFile(join(dir, "blobs", "sha256", other.digest.slice(7))).catch((e) => e.code)).toBe(
      "ENOENT",
    );
  });

  it("copies a blob from a file range, refusing a range of the wrong size", async () => {
    const { layout, dir } = await fresh("range");
    const file = join(dir, "source.bin");
    await writeFile(file, "headBODYtail");
    const body = { mediaType: MediaType.OciLayer, digest: digestBytes("BODY"), size: 4 };
    expect(await layout.writeBlobFromRange(body, { path: file, start: 4, size: 4 })).toBe(true);
    expect(await readFile(layout.blobPath(body.digest), "utf8")).toBe("BODY");
    const other = { ...body, digest: digestBytes("BOD") };
    const err = await errorOf(() =>
      layout.writeBlobFromRange({ ...other, size: 3 }, { path: file, start: 4, size: 4 }),
    );
    expect([err.code, err.message]).toEqual([
      "SIZE_MISMATCH",
      `blob ${other.digest} in ${file} has 4 bytes where 3 were expected`,
    ]);
    const wrong = await errorOf(() =>
      layout.writeBlobFromRange({ ...other, size: 3 }, { path: file, start: 0, size: 3 }),
    );
    expect(wrong.code).toBe("DIGEST_MISMATCH");
    expect(await layout.hasBlob({ ...other, size: 3 })).toBe(false);
  });

  it("links a file in, or says it is present", async () => {
    const { layout, dir } = await fresh("link");
    const file = join(dir, "built.tar");
    await writeFile(file, "built layer");
    const desc = { mediaType: MediaType.OciLayer, digest: digestBytes("built layer"), size: 11 };
    expect(await layout.linkBlob(desc, file)).toBe("linked");
    expect((await stat(layout.blobPath(desc.digest))).ino).toBe((await stat(file)).ino);
    expect(await layout.linkBlob(desc, file)).toBe("present");
    expect((await stat(layout.blobPath(desc.digest))).mode & 0o777).toBe(0o644);
  });

  it("links a file over a short blob left at its name", async () => {
    const { layout, dir } = await fresh("link-short");
    const file = join(dir, "built.tar");
    await writeFile(file, "built layer");
    const desc = { mediaType: MediaType.OciLayer, digest: digestBytes("built layer"), size: 11 };
    await mkdir(dirname(layout.blobPath(desc.digest)), { recursive: true });
    await writeFile(layout.blobPath(desc.digest), "built");
    expect(await layout.linkBlob(desc, file)).toBe("linked");
    expect((await stat(layout.blobPath(desc.digest))).ino).toBe((await stat(file)).ino);
    expect(await readFile(layout.blobPath(desc.digest), "utf8")).toBe("built layer");
  });

  it("refuses a digest it cannot verify as a blob path", async () => {
    const { layout } = await fresh("path");
    expect((await errorOf(() => layout.blobPath("sha256:../../etc/passwd"))).code).toBe("DIGEST_INVALID");
  });
});

describe("tags", () => {
  it("tags, re-tags, resolves by tag or digest, and untags", async () => {
    const { layout, image, dir } = await fresh("tags");
    const other = await layoutImage(dir, "other");
    await layout.tag(image.manifest, "v1");
    await layout.tag({ ...other.manifest, annotations: { keep: "me", [REF_NAME]: "old" } }, "v2");
    expect(await layout.resolve("v1")).toEqual({ ...image.manifest, annotations: { [REF_NAME]: "v1" } });
    expect(await layout.resolve("v2")).toEqual({
      ...other.manifest,
      annotations: { keep: "me", [REF_NAME]: "v2" },
    });
    expect((await layout.resolve(other.manifest.digest)).digest).toBe(other.manifest.digest);
    await layout.tag(other.manifest, "v1");
    expect((await readIndex(dir)).manifests.map((m) => [m.annotations?.[REF_NAME], m.digest])).toEqual([
      ["v2", other.manifest.digest],
      ["v1", other.manifest.digest],
    ]);
    expect((await layout.untag("v2")).annotations).toEqual({ keep: "me", [REF_NAME]: "v2" });
    expect((await layout.resolve()).digest).toBe(other.manifest.digest);
  });

  it("adds an untagged entry once per digest", async () => {
    const { layout, image, dir } = await fresh("untagged");
    await layout.tag(image.manifest);
    await layout.tag(image.manifest);
    expect((await readIndex(dir)).manifests).toEqual([image.manifest]);
  });

  it("names the layout and tag it cannot find", async () => {
    const { layout, image, dir } = await fresh("notfound");
    expect((await errorOf(() => layout.resolve())).message).toBe(`the layout ${dir} holds no image`);
    expect((await errorOf(() => layout.resolve("v9"))).message).toBe(
      `the layout ${dir} has no image tagged "v9"`,
    );
    expect((await errorOf(() => layout.untag("v9"))).code).toBe("IMAGE_NOT_FOUND");
    await layout.tag(image.manifest, "a");
    await layout.tag(image.manifest, "b");
    expect((await errorOf(() => layout.resolve())).message).toBe(
      `the layout ${dir} holds 2 images; name one (a, b)`,
    );
  });

  it("refuses a tag outside the ref.name grammar", async () => {
    const { layout, image } = await fresh("badtag");
    for (const bad of ["", "a b", "-a", "a/", "../x"]) {
      const err = await errorOf(() => layout.tag(image.manifest, bad));
      expect([err.code, err.message]).toEqual([
        "REFERENCE_INVALID",
        `${JSON.stringify(bad)} is not a valid OCI layout tag (org.opencontainers.image.ref.name)`,
      ]);
    }
    for (const good of ["v1", "app:1.0", "repo/app@x", "a--b"])
      expect(() => validateRefName(good)).not.toThrow();
  });

  it("commits a tag only when every blob under it is present, listing what is missing", async () => {
    const { layout, image, dir } = await fresh("commit");
    expect(await layout.missingUnder(image.manifest)).toEqual([]);
    await layout.removeBlob(image.layer.digest);
    expect(await layout.missingUnder(image.manifest)).toEqual([image.layer.digest]);
    const err = await errorOf(() => layout.commitTag(image.manifest, "v1"));
    expect([err.code, err.message, err.details.missing]).toEqual([
      "BLOB_NOT_FOUND",
      `blob ${image.layer.digest} is missing from the layout ${dir} at commit`,
      [image.layer.digest],
    ]);
    expect((await readIndex(dir)).manifests).toEqual([]);
    await layout.removeBlob(image.manifest.digest);
    expect(await layout.missingUnder(image.manifest)).toEqual([image.manifest.digest]);
  });

  it("leaves index.json as it was (bytes and mtime) when the tag already names the same entry", async () => {
    const { layout, image, dir } = await fresh("recommit");
    await layout.commitTag(image.manifest, "v1");
    await layout.commitTag(image.manifest);
    const before = await fileState(join(dir, "index.json"));
    await layout.commitTag(image.manifest, "v1");
    await layout.commitTag(image.manifest);
    expect(await fileState(join(dir, "index.json"))).toEqual(before);
    // another name, or the entry with other annotations, is a change
    await layout.commitTag({ ...image.manifest, annotations: { a: "b" } }, "v1");
    const entries = await layout.entries();
    expect(entries.map((e) => e.annotations)).toEqual([undefined, { a: "b", [REF_NAME]: "v1" }]);
  });
});

describe("sweeping what a killed berth left", () => {
  it("removes the blobs a dead lease created that nothing reaches and no live lease holds, then the lease", async () => {
    const dir = join(root, "sweep");
    const {
      layout,
      images: [tagged, loose, theirs],
    } = await handLayout(dir, "tagged", "loose", "theirs");
    await layout.tag(tagged.manifest, "v1");
    const live = layout.lease();
    await live.add(theirs.layer.digest);
    // The killed berth relied on the loose image (there before it came), created the tagged image's layer (since
    // tagged by another), the blob a live lease holds, two blobs nothing reaches and one it never got to write.
    const created = [tagged.layer, theirs.layer, theirs.config, theirs.manifest];
    const never = digestBytes("never written");
    const lines = [loose.manifest, loose.config, loose.layer].map((d) => `${d.digest}\n`);
    for (const d of created) lines.push(`${d.digest}\n+${d.digest}\n`);
    lines.push(`${never}\n+${never}\n`);
    await writeFile(join(layout.leasesDir, "p0t1.abcdef.lease"), lines.join(""));
    await writeFile(join(layout.leasesDir, "p0t2.abcdef.lease"), `${theirs.config.digest}\n`);

    expect(await layout.sweep()).toBe(2 + 2);
    const has = (d: Descriptor) => layout.hasBlob(d);
    expect(await Promise.all([tagged.layer, theirs.layer, theirs.config, theirs.manifest].map(has))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(await Promise.all([loose.manifest, loose.config, loose.layer].map(has))).toEqual([
      true,
      true,
      true,
    ]);
    expect(await readdir(layout.leasesDir)).toEqual([live.name]);
    await live.release();
    expect(await layout.sweep()).toBe(0);
  });
});
