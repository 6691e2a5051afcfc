/** The built image's last changes and its writes to the destinations (src/dockerfile/destinations.ts). */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  withAnnotations,
  withLabels,
  withPlatform,
  writeDestinations,
} from "../../src/dockerfile/destinations.ts";
import { assembleIndex } from "../../src/oci/assemble.ts";
import { loadRoot, selectImage } from "../../src/oci/image.ts";
import { mutate } from "../../src/oci/mutate.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";

const AMD64 = { os: "linux", architecture: "amd64" };

describe("withPlatform, withLabels", () => {
  it("an explicit platform is stamped only where the config says another", () => {
    const image = mutate(undefined, { platform: AMD64 });
    expect(withPlatform(image, AMD64)).toBe(image);
    const arm = withPlatform(image, { os: "linux", architecture: "arm64", variant: "v8" });
    expect(arm.config).toMatchObject({ architecture: "arm64", variant: "v8" });
  });

  it("--label goes over the image's labels, with no history entry", () => {
    const image = mutate(undefined, {
      platform: AMD64,
      config: (c) => ({ ...c, Labels: { a: "1", b: "2" } }),
      history: [{ created_by: "LABEL a=1 b=2" }],
    });
    const labelled = withLabels(image, { b: "x", c: "3" });
    expect(labelled.config?.config?.Labels).toEqual({ a: "1", b: "x", c: "3" });
    expect(labelled.config?.history).toEqual(image.config?.history);
  });
});

describe("withAnnotations", () => {
  it("--annotation's manifest annotations over the image's own, the config unchanged", () => {
    const image = mutate(undefined, { platform: AMD64, config: (c) => ({ ...c, Env: ["A=1"] }) });
    const annotated = withAnnotations(withAnnotations(image, { a: "1", b: "1" }), { b: "2" });
    expect(annotated.manifest.annotations).toEqual({ a: "1", b: "2" });
    expect(annotated.rawConfig?.equals(image.rawConfig!)).toBe(true);
    // none for the manifest (a descriptor's or the index's only): the image unchanged but for OCI media types
    expect(withAnnotations(image, {}).rawManifest.equals(image.rawManifest)).toBe(true);
  });
});

describe("writeDestinations", () => {
  it("writes the image to each destination with the same digest", async () => {
    const dir = await tempDir();
    const ctx = { home: join(dir, "home"), env: {} };
    const image = mutate(undefined, { platform: AMD64, config: (c) => ({ ...c, Env: ["A=1"] }) });
    const dests = [`oci:${dir}/one:x`, `oci:${dir}/two:y`].map((t) => parseImageArgument(t));
    const written = await writeDestinations(image, dests, ctx);
    expect(written.map((w) => w.destination)).toEqual([`oci:${dir}/one:x`, `oci:${dir}/two:y`]);
    for (const d of dests) {
      const opened = await openSource(d, ctx);
      expect((await selectImage(await loadRoot(opened.source, opened.root))).digest).toBe(image.digest);
      await opened.close();
    }
  });
  it("descriptors: the image's annotations on an image root's index.json entry, the index's on an index root's", async () => {
    const dir = await tempDir();
    const ctx = { home: join(dir, "home"), env: {} };
    const image = mutate(undefined, { platform: AMD64 });
    const descriptors = { image: { d: "image" }, index: { d: "index" } };
    await writeDestinations(image, [parseImageArgument(`oci:${dir}/image:x`)], ctx, { descriptors });
    await writeDestinations(assembleIndex([image]), [parseImageArgument(`oci:${dir}/index:x`)], ctx, {
      descriptors,
    });
    for (const kind of ["image", "index"]) {
      const entry = (await readIndex(join(dir, kind))).manifests[0]!;
      expect(entry.annotations).toEqual({ d: kind, "org.opencontainers.image.ref.name": "x" });
    }
  });
});
