/**
 * The target image's layers put into its local destinations while the build runs (src/dockerfile/prewrite.ts):
 * they are there before the image is written, the image written through the same sink is whole, and a build
 * that ends without writing leaves none of them behind.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Prewriter } from "../../src/dockerfile/prewrite.ts";
import { copy } from "../../src/oci/copy.ts";
import type { Image } from "../../src/oci/image.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { layoutImage } from "../helpers/image.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { handImages } from "./helpers/image.ts";
import { localBase, writeContext } from "./helpers/local.ts";
import { scratchBuild } from "./helpers/scratch.ts";

let tmp: string;
let image: Image;
const ctx = () => ({ home: join(tmp, "home"), env: {} });

beforeAll(async () => {
  tmp = await tempDir("berth-df-prewrite-");
  await handImages(join(tmp, "src"), [[{ path: "a", content: "a\n" }], [{ path: "b", content: "b\n" }]]);
  image = await layoutImage(join(tmp, "src"), "2");
});

const blobs = async (layout: string) =>
  (await readdir(join(layout, "blobs", "sha256")).catch(() => [] as string[])).map((h) => `sha256:${h}`);

describe("Prewriter", () => {
  it("puts the layers into an OCI layout before the image is written; the image written through it is whole", async () => {
    const out = join(tmp, "out-1");
    const dest = parseImageArgument(`oci:${out}:img`);
    const p = new Prewriter([dest], ctx());
    p.add(image);
    const sink = await p.take(dest);
    expect(sink).toBeDefined();
    const layers = image.manifest.layers.map((l) => l.digest);
    // the layers are there, the manifest and config not yet
    expect((await blobs(out)).sort()).toEqual([...layers].sort());
    await copy(image, sink!, {});
    expect((await readIndex(out)).manifests.map((m) => m.digest)).toEqual([image.digest]);
    expect((await layoutImage(out, "img")).digest).toBe(image.digest);
    // taken once: the copy closed it
    expect(await p.take(dest)).toBeUndefined();
    await p.close();
  });

  it("a build that ends without writing its image leaves none of the layers it put", async () => {
    const out = join(tmp, "out-2");
    const dest = parseImageArgument(`oci:${out}:img`);
    const p = new Prewriter([dest], ctx());
    p.add(image);
    await p.close();
    expect(await blobs(out)).toEqual([]);
  });

  it("writes only local destinations early: a registry and an archive are written at the end", async () => {
    const registry = parseImageArgument("docker://127.0.0.1:1/x:y");
    const archive = parseImageArgument(`docker-archive:${join(tmp, "a.tar")}:x:y`);
    const p = new Prewriter([registry, archive], ctx());
    p.add(image);
    expect(await p.take(registry)).toBeUndefined();
    expect(await p.take(archive)).toBeUndefined();
    await p.close();
  });

  it("a build whose target stage fails leaves nothing in its destination, though its base's layers were put", async () => {
    const dir = join(tmp, "failing");
    const base = await localBase(join(dir, "base"));
    const context = await writeContext(join(dir, "ctx"), { a: "a\n" });
    const out = join(dir, "out");
    const err = await scratchBuild(
      dir,
      context,
      `FROM ${base}\nCOPY a /a\nRUN /bin/busybox sleep 0.3 && exit 3\n`,
    ).catch((e: Error) => e);
    expect(String(err)).toMatch(/exited with code 3/);
    // the layout the build made for its image is gone with the layers put into it
    expect(existsSync(out)).toBe(false);
  });
});
