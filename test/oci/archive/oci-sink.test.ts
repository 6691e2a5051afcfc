import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { OciArchiveSink, tarLayout } from "../../../src/oci/archive/oci-sink.ts";
import { copy } from "../../../src/oci/copy.ts";
import { type OciLayout, REF_NAME } from "../../../src/oci/layout/layout.ts";
import { run } from "../../helpers/exec.ts";
import { errorOf, handLayout, type LayoutImage } from "../../helpers/oci.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let src: OciLayout;
let a: LayoutImage;
let b: LayoutImage;

beforeAll(async () => {
  dir = await tempDir();
  ({
    layout: src,
    images: [a, b],
  } = await handLayout(join(dir, "src"), "a", "b"));
});

const hex = (d: { digest: string }) => d.digest.slice(7);
const names = async (path: string) => (await run("tar", ["-tf", path])).trim().split("\n");
const tags = async (path: string) => {
  const out = join(dir, `x${Math.random().toString(16).slice(2)}`);
  await mkdir(out);
  await run("tar", ["-xf", path, "-C", out, "index.json"]);
  const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
  return index.manifests.map((m: { digest: string; annotations?: Record<string, string> }) => [
    m.annotations?.[REF_NAME],
    m.digest,
  ]);
};

describe("tarLayout", () => {
  it("tars oci-layout, index.json and the sorted blobs, nothing else of the folder", async () => {
    const layoutDir = join(dir, "tarme");
    const {
      layout,
      images: [img],
    } = await handLayout(layoutDir, "t");
    await mkdir(join(layoutDir, ".berth-tmp"));
    await writeFile(join(layoutDir, ".berth-tmp", "x"), "temp");
    await writeFile(join(layoutDir, "blobs", "sha256", ".partial"), "temp");
    await writeFile(join(layoutDir, "index.json.lock"), "");
    const path = join(dir, "tarme.tar");
    await tarLayout(layout, path);
    expect(await names(path)).toEqual([
      "oci-layout",
      "index.json",
      "blobs/",
      "blobs/sha256/",
      ...[img.manifest, img.config, img.layer].map((d) => `blobs/sha256/${hex(d)}`).sort(),
    ]);
  });

  it("refuses to tar a corrupt blob and leaves nothing at the path", async () => {
    const layoutDir = join(dir, "corrupt");
    const {
      layout,
      images: [img],
    } = await handLayout(layoutDir, "c");
    await writeFile(join(layoutDir, "blobs", "sha256", hex(img.layer)), "flipped!");
    const out = join(dir, "corrupt-out");
    await mkdir(out);
    expect((await errorOf(() => tarLayout(layout, join(out, "c.tar")))).code).toBe("DIGEST_MISMATCH");
    expect(await readdir(out)).toEqual([]);
  });
});

describe("OciArchiveSink", () => {
  it("refuses a ref outside the ref.name grammar before staging anything", async () => {
    const tmp = join(dir, "tmp-badref");
    await mkdir(tmp);
    const err = await errorOf(() => OciArchiveSink.create(join(dir, "x.tar"), { ref: "a b", tmpDir: tmp }));
    expect(err.code).toBe("REFERENCE_INVALID");
    expect(await readdir(tmp)).toEqual([]);
  });

  it("adds an untagged image beside the existing ones, replacing only the same untagged digest", async () => {
    const path = join(dir, "untagged.tar");
    const tmp = join(dir, "tmp-untagged");
    await copy(src, a.manifest, await OciArchiveSink.create(path, { ref: "a", tmpDir: tmp }));
    await copy(src, b.manifest, await OciArchiveSink.create(path, { tmpDir: tmp }));
    await copy(src, b.manifest, await OciArchiveSink.create(path, { tmpDir: tmp }));
    expect(await tags(path)).toEqual([
      ["a", a.manifest.digest],
      [undefined, b.manifest.digest],
    ]);
    expect(await readdir(tmp)).toEqual([]);
  });

  it("refuses to keep the images of a damaged archive, with a hint, and leaves it as it was", async () => {
    const path = join(dir, "damaged.tar");
    const tmp = join(dir, "tmp-damaged");
    await copy(src, a.manifest, await OciArchiveSink.create(path, { ref: "a", tmpDir: tmp }));
    // Drop a's layer from the archive: it still opens, but its image cannot be carried over.
    const staged = join(dir, "damaged-x");
    await mkdir(staged);
    await run("tar", ["-xf", path, "-C", staged]);
    await run("rm", [join(staged, "blobs", "sha256", hex(a.layer))]);
    await run("tar", ["-cf", path, "-C", staged, "oci-layout", "index.json", "blobs"]);
    const before = await readFile(path);
    const err = await errorOf(async () =>
      copy(src, b.manifest, await OciArchiveSink.create(path, { ref: "b", tmpDir: tmp })),
    );
    expect(err.code).toBe("ARCHIVE_INVALID");
    expect(err.message).toMatch(
      new RegExp(`^keeping the other images of ${path}: blob ${a.layer.digest} is missing`),
    );
    expect(err.hint).toBe("the existing archive is damaged; remove it to replace it");
    expect((await readFile(path)).equals(before)).toBe(true);
    expect(await readdir(tmp)).toEqual([]);
  });
});
