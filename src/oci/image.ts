import type { Readable } from "node:stream";
import { BerthError } from "../errors.ts";
import { chain } from "../util/stream.ts";
import { type BlobSource, readDocument } from "./blob.ts";
import { type ImageConfig, parseConfig } from "./config.ts";
import type { Descriptor } from "./descriptor.ts";
import { type Digest, VerifyingStream } from "./digest.ts";
import { type Index, type Manifest, parseIndex, parseManifest } from "./manifest.ts";
import { isConfig, isIndex, isManifest } from "./mediatype.ts";
import { formatPlatform, hostPlatform, type Platform, platformMatches } from "./platform.ts";

/** One layer of an image: its compressed blob and, when the config names it, its DiffID. */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest | undefined;
  /** The blob as stored, verified against the descriptor. */
  compressed(): Promise<Readable>;
  /** The tar, decompressed by sniffing the bytes (media types lie), verified against the DiffID. */
  uncompressed(): Promise<Readable>;
}

/** An image: a manifest, its config and its layers. Raw bytes are kept exactly as read. */
export class Image {
  readonly kind = "image" as const;

  readonly descriptor: Descriptor;
  readonly rawManifest: Buffer;
  readonly manifest: Manifest;
  /** The config bytes, when the config is an image config (undefined for artifacts with other configs). */
  readonly rawConfig: Buffer | undefined;
  readonly config: ImageConfig | undefined;
  readonly source: BlobSource;

  constructor(
    descriptor: Descriptor,
    rawManifest: Buffer,
    manifest: Manifest,
    rawConfig: Buffer | undefined,
    config: ImageConfig | undefined,
    source: BlobSource,
  ) {
    this.descriptor = descriptor;
    this.rawManifest = rawManifest;
    this.manifest = manifest;
    this.rawConfig = rawConfig;
    this.config = config;
    this.source = source;
  }

  get digest(): Digest {
    return this.descriptor.digest;
  }

  get mediaType(): string {
    return this.descriptor.mediaType;
  }

  /** The image config, or an error for artifacts whose config is not an image config. */
  imageConfig(): ImageConfig {
    if (!this.config) {
      throw new BerthError(
        "MEDIA_TYPE_UNSUPPORTED",
        `${this.digest} is not a runnable image: its config has media type ${this.manifest.config.mediaType}`,
      );
    }
    return this.config;
  }

  layers(): Layer[] {
    const diffIds = this.config?.rootfs.diff_ids ?? [];
    return this.manifest.layers.map((d, i) =>
      blobLayer(this.source, d, diffIds[i], `layer ${i} (${d.digest})`),
    );
  }

  platform(): Platform | undefined {
    if (this.descriptor.platform) return this.descriptor.platform;
    if (!this.config) return undefined;
    const p: Platform = { os: this.config.os, architecture: this.config.architecture };
    if (this.config.variant) p.variant = this.config.variant;
    return p;
  }
}

function blobLayer(
  source: BlobSource,
  descriptor: Descriptor,
  diffId: Digest | undefined,
  what: string,
): Layer {
  return {
    descriptor,
    diffId,
    compressed: () => source.openBlob(descriptor),
    async uncompressed() {
      // the decompressors (node:zlib) loaded by the first layer read: a rebuild that changes nothing reads none
      const [blob, { decompress }] = await Promise.all([
        source.openBlob(descriptor),
        import("./compression.ts"),
      ]);
      const tar = await decompress(blob);
      if (!diffId) return tar;
      return chain(tar, new VerifyingStream(diffId, undefined, `${what} uncompressed`));
    },
  };
}

/** An image index or Docker manifest list. */
export class ImageIndex {
  readonly kind = "index" as const;

  readonly descriptor: Descriptor;
  readonly rawManifest: Buffer;
  readonly index: Index;
  readonly source: BlobSource;

  constructor(descriptor: Descriptor, rawManifest: Buffer, index: Index, source: BlobSource) {
    this.descriptor = descriptor;
    this.rawManifest = rawManifest;
    this.index = index;
    this.source = source;
  }

  get digest(): Digest {
    return this.descriptor.digest;
  }

  get mediaType(): string {
    return this.descriptor.mediaType;
  }

  /** Load a child manifest or index. */
  child(desc: Descriptor): Promise<Image | ImageIndex> {
    return loadRoot(this.source, desc);
  }

  /**
   * The image for a platform, searching nested indexes depth-first; the first match wins, as the
   * image-spec says.
   */
  async resolvePlatform(want: Platform): Promise<Image> {
    const found = await this.findPlatform(want);
    if (!found) {
      const have = this.index.manifests.map((m) => formatPlatform(m.platform)).join(", ");
      throw new BerthError(
        "PLATFORM_NOT_FOUND",
        `${this.digest} has no image for ${formatPlatform(want)} (it has ${have || "none"})`,
        { hint: "choose one of its platforms with --platform", details: { has: have || "none" } },
      );
    }
    return found;
  }

  private async findPlatform(want: Platform): Promise<Image | undefined> {
    for (const m of this.index.manifests) {
      if (isIndex(m.mediaType)) {
        const nested = (await this.child(m)) as ImageIndex;
        const hit = await nested.findPlatform(want);
        if (hit) return hit;
      } else if (isManifest(m.mediaType) && platformMatches(m.platform, want)) {
        const img = await this.child(m);
        if (img.kind === "image") return img;
      }
    }
    return undefined;
  }
}

export type Root = Image | ImageIndex;

/** Load a manifest or index from a blob source. */
export async function loadRoot(source: BlobSource, desc: Descriptor): Promise<Root> {
  if (isIndex(desc.mediaType)) {
    const raw = await readDocument(source, desc, `index ${desc.digest}`);
    return new ImageIndex(desc, raw, parseIndex(raw, `index ${desc.digest}`, desc.mediaType), source);
  }
  if (isManifest(desc.mediaType)) {
    return loadImage(source, desc);
  }
  throw new BerthError(
    "MEDIA_TYPE_UNSUPPORTED",
    `${desc.digest} has media type ${desc.mediaType}, which is neither an image manifest nor an index`,
  );
}

export async function loadImage(source: BlobSource, desc: Descriptor): Promise<Image> {
  const raw = await readDocument(source, desc, `manifest ${desc.digest}`);
  const manifest = parseManifest(raw, `manifest ${desc.digest}`, desc.mediaType);
  let rawConfig: Buffer | undefined;
  let config: ImageConfig | undefined;
  if (isConfig(manifest.config.mediaType)) {
    rawConfig = await readDocument(source, manifest.config, `config ${manifest.config.digest}`);
    config = parseConfig(rawConfig, `config ${manifest.config.digest}`);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new BerthError(
        "MANIFEST_INVALID",
        `manifest ${desc.digest} lists ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`,
      );
    }
  }
  return new Image(desc, raw, manifest, rawConfig, config, source);
}

/** Pick one image from a root: the image itself, or the platform's (default: this machine's) from an index. */
export async function selectImage(root: Root, platform?: Platform): Promise<Image> {
  if (root.kind === "image") {
    if (platform) {
      const have = root.platform();
      if (have && !platformMatches(have, platform)) {
        throw new BerthError(
          "PLATFORM_NOT_FOUND",
          `${root.digest} is for ${formatPlatform(have)}, not ${formatPlatform(platform)}`,
          { details: { has: formatPlatform(have) } },
        );
      }
    }
    return root;
  }
  return root.resolvePlatform(platform ?? hostPlatform());
}
