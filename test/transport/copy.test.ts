import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import type { ArchiveSource } from "../../src/oci/archive/index.ts";
import { loadRoot } from "../../src/oci/image.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import type { BlobEvent } from "../../src/oci/sink.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { copyImage, reporting, writeImage } from "../../src/transport/copy.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";
import { randomLayout } from "../registry/helpers/images.ts";

async function setup(platforms?: { os: string; architecture: string }[]) {
  const dir = await tempDir();
  const made = await randomLayout(join(dir, "src"), "v1", platforms ? { platforms } : {});
  const ctx: TransportContext = { home: join(dir, "home"), env: {} };
  return { dir, ctx, ...made };
}

describe("copyImage", () => {
  it("copies between layouts, counting the blobs written", async () => {
    const { dir, ctx, root } = await setup();
    const r = await copyImage(
      parseImageArgument(`oci:${join(dir, "src")}:v1`),
      parseImageArgument(`oci:${join(dir, "dst")}:x`),
      ctx,
    );
    expect(r.root.digest).toBe(root.digest);
    expect(r.blobs.written).toBe(3); // config and 2 layers (manifests are not counted)
    expect((await (await OciLayout.open(join(dir, "dst"))).resolve("x")).digest).toBe(root.digest);
  });

  it("writes a docker-archive whole, with its tag, and refuses --all into one", async () => {
    const { dir, ctx, root, layout } = await setup();
    const src = parseImageArgument(`oci:${join(dir, "src")}:v1`);
    const dst = parseImageArgument(`docker-archive:${join(dir, "d.tar")}:127.0.0.1:5000/app:v2`);
    const r = await copyImage(src, dst, ctx);
    expect([r.root.digest, r.blobs.written]).toEqual([root.digest, 3]);
    // docker-archive keeps the config and layers; its manifest is made again when read
    const back = await openSource(dst, ctx);
    const [was, is] = [await loadRoot(layout, root), await loadRoot(back.source, back.root)];
    expect("manifest" in is && "manifest" in was && is.manifest.config.digest).toBe(
      "manifest" in was && was.manifest.config.digest,
    );
    expect((back.source as ArchiveSource).images().map((i) => i.tags)).toEqual([["127.0.0.1:5000/app:v2"]]);
    await back.close();
    const err = await copyImage(src, dst, ctx, { all: true }).catch((e: unknown) => e);
    expect(isBerthError(err, "USAGE")).toBe(true);
    expect((err as Error).message).toBe(
      `copying ${src.text} to ${dst.text}: a docker-archive holds one image per tag, not a multi-platform index; copy one platform with --platform`,
    );
  });

  it("tags a docker-archive with a store name but not with an OCI layout's ref, as skopeo", async () => {
    const { dir, ctx } = await setup();
    const layout = parseImageArgument(`oci:${join(dir, "src")}:v1`);
    const tags = async (from: string) => {
      const dst = parseImageArgument(`docker-archive:${join(dir, `${from.length}.tar`)}`);
      await copyImage(parseImageArgument(from), dst, ctx);
      const back = await openSource(dst, ctx);
      await back.close();
      return (back.source as ArchiveSource).images().map((i) => i.tags);
    };
    expect(await tags(layout.text)).toEqual([[]]);
    await copyImage(layout, parseImageArgument("team/app:1"), ctx);
    expect(await tags("team/app:1")).toEqual([["docker.io/team/app:1"]]);
  });

  it("names the source it cannot read", async () => {
    const { dir, ctx } = await setup();
    const src = parseImageArgument(`oci:${join(dir, "none")}:v1`);
    const err = await copyImage(src, parseImageArgument(`oci:${join(dir, "dst")}`), ctx).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^reading ${src.text}: `));
  });
});

describe("writeImage", () => {
  it("writes a loaded image (a Root) like the descriptor it came from", async () => {
    const { dir, ctx, layout, root } = await setup();
    const image = await loadRoot(layout, root);
    const r = await writeImage(image, undefined, parseImageArgument(`oci:${join(dir, "dst")}:y`), ctx);
    expect(r.root.digest).toBe(root.digest);
  });
});

describe("reporting", () => {
  it("reports start, progress and done of each blob read, passing other members through", async () => {
    const { layout, root } = await setup();
    const events: BlobEvent[] = [];
    const source = reporting(layout, (e) => events.push(e));
    const image = await loadRoot(layout, root);
    const layer = "manifest" in image ? image.manifest.layers[0]! : undefined;
    const bytes = await buffer(await source.openBlob(layer!));
    expect(bytes.length).toBe(layer!.size);
    expect(events[0]).toEqual({ type: "start", descriptor: layer });
    expect(events.at(-2)).toEqual({ type: "progress", descriptor: layer, bytes: layer!.size });
    expect(events.at(-1)).toEqual({ type: "done", descriptor: layer, how: "written" });
    expect((source as OciLayout).dir).toBe(layout.dir);
  });
});
