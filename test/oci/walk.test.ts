import { beforeAll, describe, expect, it } from "vitest";
import type { OciLayout } from "../../src/oci/layout/layout.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { walk } from "../../src/oci/walk.ts";
import { errorOf, handLayout, type LayoutImage, putDocument } from "../helpers/oci.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let layout: OciLayout;
let a: LayoutImage;
let b: LayoutImage;

beforeAll(async () => {
  dir = await tempDir();
  ({
    layout,
    images: [a, b],
  } = await handLayout(dir, "a", "b"));
});

const summary = (nodes: Awaited<ReturnType<typeof walk>>) => nodes.map((n) => [n.kind, n.descriptor.digest]);

describe("walk", () => {
  it("lists a manifest's config and layers before the manifest, with its bytes and children", async () => {
    const nodes = await walk(layout, a.manifest);
    expect(summary(nodes)).toEqual([
      ["blob", a.config.digest],
      ["blob", a.layer.digest],
      ["manifest", a.manifest.digest],
    ]);
    const top = nodes[2]!;
    expect(top.kind === "manifest" && top.bytes.equals(a.bytes)).toBe(true);
    expect(top.kind === "manifest" && top.children.map((c) => c.digest)).toEqual([
      a.config.digest,
      a.layer.digest,
    ]);
  });

  it("walks an index's manifests depth first, each piece of content once", async () => {
    const index = await putDocument(
      dir,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [a.manifest, b.manifest, a.manifest],
      }),
      MediaType.OciIndex,
    );
    expect(summary(await walk(layout, index))).toEqual([
      ["blob", a.config.digest],
      ["blob", a.layer.digest],
      ["manifest", a.manifest.digest],
      ["blob", b.config.digest],
      ["blob", b.layer.digest],
      ["manifest", b.manifest.digest],
      ["index", index.digest],
    ]);
  });

  it("carries content of other media types as a leaf without reading it", async () => {
    const missing = {
      mediaType: "application/vnd.example+json",
      digest: `sha256:${"0".repeat(64)}`,
      size: 3,
    };
    expect(summary(await walk(layout, missing))).toEqual([["blob", missing.digest]]);
  });

  it("fails on a manifest whose bytes are not a manifest, naming its digest", async () => {
    const bogus = await putDocument(dir, JSON.stringify({ schemaVersion: 2 }), MediaType.OciManifest);
    const err = await errorOf(() => walk(layout, bogus));
    expect(err.code).toBe("MANIFEST_INVALID");
    expect(err.message).toContain(`manifest ${bogus.digest}`);
  });

  it("fails on a missing manifest with BLOB_NOT_FOUND", async () => {
    const err = await errorOf(() => walk(layout, { ...a.manifest, digest: `sha256:${"1".repeat(64)}` }));
    expect(err.code).toBe("BLOB_NOT_FOUND");
    expect(err.details.digest).toBe(`sha256:${"1".repeat(64)}`);
  });
});
