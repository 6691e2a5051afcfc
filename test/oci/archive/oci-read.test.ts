import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { beforeAll, describe, expect, it } from "vitest";
import { openOciArchive } from "../../../src/oci/archive/oci-read.ts";
import { hasBlobRange } from "../../../src/oci/blob.ts";
import { REF_NAME } from "../../../src/oci/layout/layout.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { writeIndex } from "../../helpers/layout.ts";
import { errorOf, type LayoutImage, layoutImage } from "../../helpers/oci.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type TarSpec, writeTar } from "./helpers.ts";

let dir: string;
let a: LayoutImage;
let b: LayoutImage;
const layoutHeader = { name: "oci-layout", data: JSON.stringify({ imageLayoutVersion: "1.0.0" }) };
const indexOf = (manifests: unknown[]) => ({
  name: "index.json",
  data: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }),
});
const blob = async (d: { digest: string }) => ({
  name: `blobs/sha256/${d.digest.slice(7)}`,
  data: await readFile(join(dir, "layout", "blobs", "sha256", d.digest.slice(7))),
});

async function archive(name: string, entries: TarSpec[]): Promise<string> {
  const path = join(dir, name);
  await writeTar(path, entries);
  return path;
}

beforeAll(async () => {
  dir = await tempDir();
  await writeIndex(join(dir, "layout"), []);
  a = await layoutImage(join(dir, "layout"), "a");
  b = await layoutImage(join(dir, "layout"), "b");
});

describe("openOciArchive", () => {
  it("lists the images with their ref.name, resolves them, and reads blobs in place, verified", async () => {
    const tagged = { ...a.manifest, annotations: { [REF_NAME]: "v1" } };
    const blobs = await Promise.all([a.manifest, a.config, a.layer].map(blob));
    const path = await archive("ok.tar", [layoutHeader, indexOf([tagged, b.manifest]), ...blobs]);
    const src = await openOciArchive(path);
    expect([src.format, src.path]).toEqual(["oci-archive", path]);
    expect(src.images()).toEqual([
      { descriptor: tagged, tags: ["v1"] },
      { descriptor: b.manifest, tags: [] },
    ]);
    expect(await src.resolve("v1")).toEqual(tagged);
    expect((await src.resolve("@1")).digest).toBe(b.manifest.digest);
    expect((await src.resolve(b.manifest.digest)).digest).toBe(b.manifest.digest);
    expect((await errorOf(() => src.resolve())).message).toBe(
      `archive ${path} holds 2 images; name one (v1)`,
    );
    expect((await buffer(await src.openBlob(a.manifest))).equals(a.bytes)).toBe(true);
    expect(hasBlobRange(src) && (await src.blobRange(a.layer))?.size).toBe(a.layer.size);
    expect(hasBlobRange(src) && (await src.blobRange(b.layer))).toBeUndefined();
    const missing = await errorOf(() => src.openBlob(b.layer));
    expect([missing.code, missing.message]).toEqual([
      "BLOB_NOT_FOUND",
      `blob ${b.layer.digest} is missing from archive ${path}`,
    ]);
    const other = await errorOf(async () =>
      buffer(await src.openBlob({ ...a.layer, digest: a.config.digest, size: a.layer.size })),
    );
    expect(other.code).toBe("SIZE_MISMATCH");
    src.images()[0]!.tags.push("changed");
    expect(src.images()[0]!.tags).toEqual(["v1"]);
    await src.close();
  });

  it.each([
    ["no oci-layout", [indexOf([])], "it has no oci-layout file"],
    [
      "a docker-archive",
      [{ name: "manifest.json", data: "[]" }],
      "it has no oci-layout file (it looks like a docker-archive)",
    ],
    [
      "another layout version",
      [{ name: "oci-layout", data: '{"imageLayoutVersion":"2"}' }],
      'its oci-layout file must have imageLayoutVersion "1.0.0"',
    ],
    ["no index.json", [layoutHeader], "it has no index.json"],
  ])("refuses an archive with %s", async (name, entries, why) => {
    const path = await archive(`${name}.tar`, entries as TarSpec[]);
    const err = await errorOf(() => openOciArchive(path));
    expect([err.code, err.message, err.details]).toEqual([
      "ARCHIVE_INVALID",
      `archive ${path} is not an oci-archive: ${why}`,
      { archive: path },
    ]);
  });

  it("refuses an index.json that is not an index, naming the archive", async () => {
    const path = await archive("badindex.tar", [
      layoutHeader,
      { name: "index.json", data: '{"schemaVersion":2,"manifests":{}}' },
    ]);
    const err = await errorOf(() => openOciArchive(path));
    expect(err.code).toBe("ARCHIVE_INVALID");
    expect(err.message).toMatch(new RegExp(`^index\\.json in archive ${path}`));
    const json = await archive("notjson.tar", [{ name: "oci-layout", data: "{" }, indexOf([])]);
    expect((await errorOf(() => openOciArchive(json))).message).toMatch(
      new RegExp(`^archive ${json}: oci-layout`),
    );
  });
});
