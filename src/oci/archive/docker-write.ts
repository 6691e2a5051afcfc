import { BerthError, wrapError } from "../../errors.ts";
import { chainIds, digestBytes, encodedOf } from "../digest.ts";
import type { Image, Layer } from "../image.ts";
import { familiarReference, parseReference, type Reference } from "../reference.ts";
import { sortedJson, v1Layers } from "./docker-v1.ts";
import { TarWriter } from "./tarwriter.ts";

/** One image to save, with the tags it goes by (`app:1`, `localhost:5000/x:1`; normalised or not). */
export interface DockerArchiveImage {
  image: Image;
  tags: string[];
}

export interface WriteDockerArchiveOptions {
  /** Unused: decompressed layers now stream straight into the archive (kept for callers that pass it). */
  tmpDir?: string;
  signal?: AbortSignal | undefined;
  /** Called as each layer is written: the image's config digest, the layer's DiffID and its size. */
  onLayer?: (event: { image: string; diffId: string; size: number; how: "written" | "linked" }) => void;
}

interface Planned {
  image: Image;
  rawConfig: Buffer;
  configName: string;
  tags: Reference[];
}

/**
 * Write a docker-archive (`docker save` format) that `docker load`, `podman load` and skopeo read:
 * `manifest.json`, `repositories`, `<config-hex>.json` with the config bytes unchanged, and the legacy
 * per-layer folders `<v1id>/{VERSION,json,layer.tar}` with uncompressed layers. Layers shared by several
 * images are written once (later copies are symlinks). The file appears at `path` only when complete.
 */
export async function writeDockerArchive(
  path: string,
  images: DockerArchiveImage[],
  options: WriteDockerArchiveOptions = {},
): Promise<void> {
  const plan = planImages(images);
  const writer = await TarWriter.create(path);
  try {
    const written = new Map<string, string>(); // DiffID → path of its layer.tar
    const folders = new Set<string>();
    const configs = new Set<string>();
    const manifest: unknown[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const p of plan) {
      const layers = p.image.layers();
      const diffIds = layers.map((l) => l.diffId!);
      const v1 = v1Layers(p.rawConfig, chainIds(diffIds));
      const paths: string[] = [];
      for (const [i, layer] of layers.entries()) {
        options.signal?.throwIfAborted();
        const { id, json } = v1[i]!;
        const tarPath = `${id}/layer.tar`;
        paths.push(tarPath);
        if (folders.has(id)) continue;
        folders.add(id);
        await writer.addDirectory(id);
        await writer.addBytes(`${id}/VERSION`, Buffer.from("1.0"));
        await writer.addBytes(`${id}/json`, json);
        const diffId = diffIds[i]!;
        const existing = written.get(diffId);
        if (existing) {
          await writer.addSymlink(tarPath, `../${existing}`);
          options.onLayer?.({ image: p.configName, diffId, size: 0, how: "linked" });
          continue;
        }
        try {
          const size = await writeLayer(writer, tarPath, layer, options.signal);
          options.onLayer?.({ image: p.configName, diffId, size, how: "written" });
        } catch (err) {
          throw wrapError(`writing layer ${i} (${diffId}) of image ${p.image.digest} to ${path}`, err);
        }
        written.set(diffId, tarPath);
      }
      if (!configs.has(p.configName)) {
        configs.add(p.configName);
        await writer.addBytes(p.configName, p.rawConfig);
      }
      manifest.push({ Config: p.configName, RepoTags: p.tags.map(familiarReference), Layers: paths });
      const top = v1[v1.length - 1];
      if (top) {
        for (const t of p.tags) {
          const repo = familiarReference({ registry: t.registry, repository: t.repository });
          repositories[repo] = { ...(repositories[repo] ?? {}), [t.tag!]: top.id };
        }
      }
    }
    await writer.addBytes("manifest.json", Buffer.from(JSON.stringify(manifest), "utf8"));
    await writer.addBytes("repositories", Buffer.from(sortedJson(repositories), "utf8"));
    options.signal?.throwIfAborted();
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Check the inputs and merge entries that are the same Docker image (same config), collecting their tags. */
function planImages(images: DockerArchiveImage[]): Planned[] {
  if (images.length === 0) throw new BerthError("USAGE", "a docker archive needs at least one image");
  const byConfig = new Map<string, Planned>();
  const tagOwner = new Map<string, string>();
  for (const { image, tags } of images) {
    if (!image.rawConfig || !image.config) {
      throw new BerthError(
        "MEDIA_TYPE_UNSUPPORTED",
        `${image.digest} cannot go into a docker archive: its config has media type ${image.manifest.config.mediaType}, not an image config`,
      );
    }
    const configName = `${encodedOf(digestBytes(image.rawConfig))}.json`;
    let p = byConfig.get(configName);
    if (!p) {
      p = { image, rawConfig: image.rawConfig, configName, tags: [] };
      byConfig.set(configName, p);
    }
    for (const text of tags) {
      const ref = parseReference(text);
      if (ref.digest !== undefined) {
        throw new BerthError(
          "REFERENCE_INVALID",
          `a docker archive cannot name an image by digest (${JSON.stringify(text)}); give a tag`,
        );
      }
      const key = familiarReference(ref);
      const owner = tagOwner.get(key);
      if (owner !== undefined && owner !== configName) {
        throw new BerthError("USAGE", `the tag ${key} is given to two different images`);
      }
      if (owner === undefined) {
        tagOwner.set(key, configName);
        p.tags.push(ref);
      }
    }
  }
  return [...byConfig.values()];
}

/**
 * Append a layer as an uncompressed tar. A layer stored uncompressed streams straight in; any other is
 * decompressed straight into the archive too, its tar header written once the size is known.
 */
async function writeLayer(
  writer: TarWriter,
  name: string,
  layer: Layer,
  signal: AbortSignal | undefined,
): Promise<number> {
  const d = layer.descriptor;
  if (layer.diffId !== undefined && d.digest === layer.diffId) {
    await writer.addStream(name, d.size, await layer.compressed(), undefined, signal);
    return d.size;
  }
  return writer.addStreamUnsized(name, await layer.uncompressed(), undefined, signal);
}
