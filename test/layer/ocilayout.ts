/** Test helper: put berth-built layer blobs into an OCI layout made by `umoci init` / `umoci new`. */
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LayerDescriptor } from "../../src/layer/output.ts";
import { sh } from "./helpers.ts";

function writeBlob(layout: string, bytes: Buffer): { digest: string; size: number } {
  const hex = createHash("sha256").update(bytes).digest("hex");
  mkdirSync(join(layout, "blobs/sha256"), { recursive: true });
  writeFileSync(join(layout, "blobs/sha256", hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

function readBlob(layout: string, digest: string): Buffer {
  return readFileSync(join(layout, "blobs/sha256", digest.slice("sha256:".length)));
}

/** A new layout with an empty image at `tag`, then the layers (blob files with their descriptors) appended. */
export function layoutWithLayers(
  layout: string,
  tag: string,
  layers: { file: string; desc: LayerDescriptor }[],
): void {
  sh("umoci", ["init", "--layout", layout]);
  sh("umoci", ["new", "--image", `${layout}:${tag}`]);
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  const at = index.manifests.findIndex(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === tag,
  );
  const manifest = JSON.parse(readBlob(layout, index.manifests[at].digest).toString());
  const config = JSON.parse(readBlob(layout, manifest.config.digest).toString());
  for (const { file, desc } of layers) {
    copyFileSync(file, join(layout, "blobs/sha256", desc.digest.slice("sha256:".length)));
    manifest.layers.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    config.rootfs.diff_ids.push(desc.diffId);
  }
  const c = writeBlob(layout, Buffer.from(JSON.stringify(config)));
  manifest.config = { ...manifest.config, digest: c.digest, size: c.size };
  const m = writeBlob(layout, Buffer.from(JSON.stringify(manifest)));
  index.manifests[at] = { ...index.manifests[at], digest: m.digest, size: m.size };
  writeFileSync(join(layout, "index.json"), JSON.stringify(index));
}

/** `umoci unpack` as root; returns the rootfs path. */
export function umociUnpack(layout: string, tag: string, bundle: string): string {
  sh("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
  return join(bundle, "rootfs");
}
