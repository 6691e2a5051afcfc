import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { Store } from "../../src/oci/store.ts";
import { loadArchive, openAnyArchive, saveArchive } from "../../src/transport/archive.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { copyImage } from "../../src/transport/copy.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";
import { writeTar } from "../oci/archive/helpers.ts";
import { randomLayout } from "../registry/helpers/images.ts";

async function setup() {
  const dir = await tempDir();
  const made = await randomLayout(join(dir, "src"), "v1");
  const ctx: TransportContext = { home: join(dir, "home"), env: {} };
  const src = parseImageArgument(`oci:${join(dir, "src")}:v1`);
  return { dir, ctx, src, ...made };
}

describe("openAnyArchive", () => {
  it("tells a docker-archive from an oci-archive by their contents, not their names", async () => {
    const { dir, ctx, src } = await setup();
    await copyImage(src, parseImageArgument(`docker-archive:${join(dir, "a.oci")}:127.0.0.1:5000/x:1`), ctx);
    await copyImage(src, parseImageArgument(`oci-archive:${join(dir, "b.docker")}:v1`), ctx);
    const docker = await openAnyArchive(join(dir, "a.oci"), ctx);
    const oci = await openAnyArchive(join(dir, "b.docker"), ctx);
    expect(docker.images().map((i) => i.tags)).toEqual([["127.0.0.1:5000/x:1"]]);
    expect(oci.images().map((i) => i.tags)).toEqual([["v1"]]);
    await docker.close();
    await oci.close();
  });

  it("names a tar that is neither", async () => {
    const { dir, ctx } = await setup();
    const path = join(dir, "other.tar");
    await writeTar(path, [{ name: "hello.txt", data: "hi" }]);
    const err = await openAnyArchive(path, ctx).catch((e: unknown) => e);
    expect(isBerthError(err, "ARCHIVE_INVALID")).toBe(true);
    expect((err as Error).message).toBe(
      `${path} is neither a docker-archive (no manifest.json) nor an oci-archive (no oci-layout)`,
    );
  });
});

describe("saveArchive and loadArchive", () => {
  it("save images under their names and load them into the store under each", async () => {
    const { dir, ctx, root, src } = await setup();
    await copyImage(src, parseImageArgument("team/app:1"), ctx);
    const tar = join(dir, "saved.tar");
    await saveArchive([parseImageArgument("team/app:1")], tar, ctx);
    const other = { ...ctx, home: join(dir, "other") };
    const loaded = await loadArchive(tar, other);
    expect(loaded).toHaveLength(1);
    expect(loaded[0]!.name).toBe(Store.normalize("team/app:1"));
    const store = await Store.open(other.home);
    expect((await store.resolve("team/app:1")).digest).toBe(loaded[0]!.digest);
    expect(loaded[0]!.digest).not.toBe(root.digest); // a docker-archive's manifest is made again
  });

  it("save an OCI layout's image untagged (its ref may be just v1), as skopeo copies it", async () => {
    const { dir, ctx, src } = await setup();
    const tar = join(dir, "untagged.tar");
    await saveArchive([src], tar, ctx);
    expect(await loadArchive(tar, { ...ctx, home: join(dir, "other") })).toEqual([
      { name: undefined, digest: expect.stringMatching(/^sha256:/) },
    ]);
  });

  it("write the same archive to a stream as to a file", async () => {
    const { dir, ctx, src } = await setup();
    await saveArchive([src], join(dir, "f.tar"), ctx);
    const out = new PassThrough();
    const got = buffer(out);
    await saveArchive([src], out, ctx);
    expect((await got).equals(await readFile(join(dir, "f.tar")))).toBe(true);
  });

  it("load an image without a valid name by digest only", async () => {
    const { dir, ctx, src } = await setup();
    const tar = join(dir, "n.tar");
    await copyImage(src, parseImageArgument(`oci-archive:${tar}:Not_A:Ref`), ctx);
    const loaded = await loadArchive(tar, ctx);
    expect(loaded).toEqual([{ name: undefined, digest: expect.stringMatching(/^sha256:/) }]);
  });
});
