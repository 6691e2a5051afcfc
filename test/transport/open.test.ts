import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { copy } from "../../src/oci/copy.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { copyImage } from "../../src/transport/copy.ts";
import { openSink, openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";
import { randomLayout } from "../registry/helpers/images.ts";

async function setup(): Promise<{ dir: string; ctx: TransportContext; root: { digest: string } }> {
  const dir = await tempDir();
  const { root } = await randomLayout(join(dir, "src"), "v1");
  return { dir, ctx: { home: join(dir, "home"), env: {} }, root };
}

describe("openSource and openSink", () => {
  it("open a layout by tag, naming the image by its tag, which is no reference to tag a copy with", async () => {
    const { dir, ctx, root } = await setup();
    const src = await openSource(parseImageArgument(`oci:${join(dir, "src")}:v1`), ctx);
    expect([src.root.digest, src.name, src.tag]).toEqual([root.digest, "v1", undefined]);
    await src.close();
  });

  it("give a docker-archive's tag as the tag of a copy, not its @N", async () => {
    const { dir, ctx } = await setup();
    const tar = join(dir, "d.tar");
    await copyImage(
      parseImageArgument(`oci:${join(dir, "src")}:v1`),
      parseImageArgument(`docker-archive:${tar}:web:2`),
      ctx,
    );
    for (const [ref, tag] of [
      ["web:2", "web:2"],
      ["@0", undefined],
    ] as const) {
      const archive = await openSource(parseImageArgument(`docker-archive:${tar}:${ref}`), ctx);
      expect(archive.tag).toBe(tag);
      await archive.close();
    }
  });

  it("write into a new layout, the store and an oci-archive, each readable back as a source", async () => {
    const { dir, ctx, root } = await setup();
    const src = await openSource(parseImageArgument(`oci:${join(dir, "src")}:v1`), ctx);
    for (const text of [
      `oci:${join(dir, "out")}:w`,
      "127.0.0.1:5000/team/app:2",
      `oci-archive:${join(dir, "a.tar")}:w`,
    ]) {
      const arg = parseImageArgument(text);
      await copy(src.source, src.root, await openSink(arg, ctx));
      const back = await openSource(arg, ctx);
      expect([text, back.root.digest]).toEqual([text, root.digest]);
      await back.close();
    }
    // the store names an image by its full reference, which a copy is tagged with
    await copy(src.source, src.root, await openSink(parseImageArgument("127.0.0.1:5000/team/app"), ctx));
    const stored = await openSource(parseImageArgument("127.0.0.1:5000/team/app"), ctx);
    expect([stored.name, stored.tag]).toEqual([
      "127.0.0.1:5000/team/app:latest",
      "127.0.0.1:5000/team/app:latest",
    ]);
    expect((await (await OciLayout.open(join(dir, "out"))).resolve("w")).digest).toBe(root.digest);
  });

  it("say which tag a layout does not have", async () => {
    const { dir, ctx } = await setup();
    const err = await openSource(parseImageArgument(`oci:${join(dir, "src")}:v9`), ctx).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toContain("v9");
  });

  it("refuse scratch as a source and a docker-archive as a blob-by-blob sink, naming it", async () => {
    const { dir, ctx } = await setup();
    const scratch = parseImageArgument("scratch", { allowScratch: true });
    const err = await openSource(scratch, ctx).catch((e: unknown) => e);
    expect(isBerthError(err, "USAGE")).toBe(true);
    expect((err as Error).message).toBe("scratch is not an image to read from here");
    const text = `docker-archive:${join(dir, "d.tar")}`;
    const err2 = await openSink(parseImageArgument(text), ctx).catch((e: unknown) => e);
    expect(isBerthError(err2, "USAGE")).toBe(true);
    expect((err2 as Error).message).toBe(`${text} cannot be written blob by blob`);
  });
});
