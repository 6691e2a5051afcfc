import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { loadImage, loadRoot, selectImage } from "../../src/oci/image.ts";
import type { OciLayout } from "../../src/oci/layout/layout.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { hostPlatform } from "../../src/oci/platform.ts";
import { errorOf, handLayout, type LayoutImage, putDocument } from "../helpers/oci.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let layout: OciLayout;
let img: LayoutImage;
let arm: LayoutImage;

const index = (manifests: Descriptor[]) =>
  putDocument(
    dir,
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }),
    MediaType.OciIndex,
  );
const manifest = (config: Descriptor, layers: Descriptor[]) =>
  putDocument(
    dir,
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers }),
    MediaType.OciManifest,
  );

beforeAll(async () => {
  dir = await tempDir();
  ({
    layout,
    images: [img, arm],
  } = await handLayout(dir, "img", "arm"));
});

describe("loadImage", () => {
  it("keeps the manifest and config bytes and gives the layers, verified against their DiffIDs", async () => {
    const image = await loadImage(layout, img.manifest);
    expect(image.rawManifest.equals(img.bytes)).toBe(true);
    expect([image.digest, image.mediaType]).toEqual([img.manifest.digest, MediaType.OciManifest]);
    expect(image.imageConfig().rootfs.diff_ids).toHaveLength(1);
    expect(image.platform()).toEqual({ os: "linux", architecture: "amd64" });
    const [layer] = image.layers();
    expect(layer!.diffId).toBe(image.config!.rootfs.diff_ids[0]);
    const plain = await buffer(await layer!.uncompressed());
    expect(plain.toString()).toBe("layer of img\n");
    expect(gunzipSync(await buffer(await layer!.compressed())).equals(plain)).toBe(true);
  });

  it("fails reading a layer whose content does not match its DiffID", async () => {
    const config = await putDocument(
      dir,
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [digestBytes("else")] },
      }),
      MediaType.OciConfig,
    );
    const image = await loadImage(layout, await manifest(config, [img.layer]));
    const err = await errorOf(async () => buffer(await image.layers()[0]!.uncompressed()));
    expect(err.code).toBe("DIGEST_MISMATCH");
    expect(err.message).toContain(`layer 0 (${img.layer.digest}) uncompressed`);
  });

  it("refuses a manifest whose layer count differs from its config's diff_ids", async () => {
    const m = await manifest(img.config, [img.layer, arm.layer]);
    const err = await errorOf(() => loadImage(layout, m));
    expect([err.code, err.message]).toEqual([
      "MANIFEST_INVALID",
      `manifest ${m.digest} lists 2 layers but its config lists 1 diff_ids`,
    ]);
  });

  it("loads an artifact whose config is not an image config, and says it is not runnable", async () => {
    const cfg = await putDocument(dir, "{}", "application/vnd.example.config+json");
    const m = await manifest(cfg, [img.layer]);
    const artifact = await loadImage(layout, m);
    expect([artifact.config, artifact.rawConfig, artifact.platform()]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(artifact.layers()[0]!.diffId).toBeUndefined();
    const err = await errorOf(() => artifact.imageConfig());
    expect([err.code, err.message]).toEqual([
      "MEDIA_TYPE_UNSUPPORTED",
      `${m.digest} is not a runnable image: its config has media type application/vnd.example.config+json`,
    ]);
  });
});

describe("loadRoot and selectImage", () => {
  const amd64 = { os: "linux", architecture: "amd64" };
  const arm64 = { os: "linux", architecture: "arm64" };

  it("picks a platform's image from an index, searching nested indexes depth first", async () => {
    const inner = await index([{ ...arm.manifest, platform: arm64 }]);
    const outer = await index([{ ...img.manifest, platform: amd64 }, inner]);
    const root = await loadRoot(layout, outer);
    expect(root.kind).toBe("index");
    expect((await selectImage(root, arm64)).digest).toBe(arm.manifest.digest);
    expect((await selectImage(root, amd64)).digest).toBe(img.manifest.digest);
    const image = await selectImage(root, arm64);
    expect(image.platform()).toEqual(arm64);
  });

  it("defaults to this machine's platform and names the platforms an index has", async () => {
    const other = hostPlatform().architecture === "s390x" ? "ppc64le" : "s390x";
    const only = await index([{ ...img.manifest, platform: { os: "linux", architecture: other } }]);
    const err = await errorOf(async () => selectImage(await loadRoot(layout, only)));
    expect([err.code, err.message]).toEqual([
      "PLATFORM_NOT_FOUND",
      `${only.digest} has no image for linux/${hostPlatform().architecture}${hostPlatform().variant ? `/${hostPlatform().variant}` : ""} (it has linux/${other})`,
    ]);
  });

  it("refuses an image of another platform than asked, and media types that are no root", async () => {
    const image = await loadRoot(layout, img.manifest);
    expect(await selectImage(image)).toBe(image);
    const err = await errorOf(() => selectImage(image, arm64));
    expect([err.code, err.message]).toEqual([
      "PLATFORM_NOT_FOUND",
      `${img.manifest.digest} is for linux/amd64, not linux/arm64`,
    ]);
    const bad = await errorOf(() => loadRoot(layout, img.config));
    expect(bad.code).toBe("MEDIA_TYPE_UNSUPPORTED");
  });
});
