/**
 * The images a build reads (FROM, `--from`, an image context), each opened once per reference and platform: from
 * the local store, else (or with `--pull`) from its registry, as docker's build pulls it; a transport reference
 * (oci:, docker-archive:, …) from where it names; and, for a step that reads one, its filesystem. Closed with
 * the build.
 */
import { BerthError, isBerthError } from "../errors.ts";
import type { ContainerConfig } from "../oci/config.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { type OpenedSource, openSource } from "../transport/open.ts";
import { parseImageArgument, registryArgument } from "../transport/parse.ts";
import type { NamedContext } from "./named-context.ts";
import type { Material } from "./provenance.ts";
import { StageRoot } from "./rootfs.ts";
import { layerSources } from "./stage-sources.ts";
import type { SourceRoot } from "./step.ts";

export class BaseImages {
  readonly #ctx: TransportContext;
  readonly #pull: boolean;
  #opened: OpenedSource[] = [];
  #bases = new Map<string, Promise<Image>>();
  /** The images read, by reference and platform, with the digest each resolved to (provenance). */
  #materials = new Map<string, Material>();
  /** Filesystems of images a step reads (`--from`), one per image. */
  #roots = new Map<string, StageRoot>();

  /** `pull`: a base named without a transport is read from its registry, not the store's copy (`--pull`). */
  constructor(ctx: TransportContext, pull: boolean) {
    this.#ctx = ctx;
    this.#pull = pull;
  }

  /** The image `text` names for `platform`, opened once; a failure is not kept (the build's pass tries again). */
  open(text: string, platform: Platform): Promise<Image> {
    const id = `${text} ${formatPlatform(platform)}`;
    let p = this.#bases.get(id);
    if (!p) {
      p = this.#load(text, platform);
      this.#bases.set(id, p);
      p.catch(() => this.#bases.delete(id));
    }
    return p;
  }

  async #load(text: string, platform: Platform): Promise<Image> {
    const arg = parseImageArgument(text);
    const stored = arg.transport === "store" ? arg.ref : undefined;
    // --pull: a bare reference is read from its registry, whatever the store holds (docker build --pull)
    const pull = this.#pull && stored !== undefined;
    let opened: OpenedSource | undefined;
    try {
      if (!pull) opened = await openSource(arg, this.#ctx);
    } catch (err) {
      if (stored === undefined || !isBerthError(err, "IMAGE_NOT_FOUND")) throw err;
    }
    if (!opened) {
      // Not in the local store (or --pull): the registry, as docker would pull it.
      try {
        opened = await openSource(registryArgument(stored!), this.#ctx);
      } catch (err2) {
        throw new BerthError(
          "IMAGE_NOT_FOUND",
          pull
            ? `image ${JSON.stringify(text)} is not reachable in its registry, where --pull reads it (${(err2 as Error).message})`
            : `image ${JSON.stringify(text)} is neither in the local store nor reachable in its registry (${(err2 as Error).message})`,
          { cause: err2, ...(pull ? { hint: "leave out --pull to use the store's copy" } : {}) },
        );
      }
    }
    this.#opened.push(opened);
    const image = await selectImage(await loadRoot(opened.source, opened.root), platform);
    const material = { image: arg, platform, digest: opened.root.digest };
    this.#materials.set(`${text} ${formatPlatform(platform)}`, material);
    return image;
  }

  /**
   * The container config of the image a FROM names, for the build checks: `named`'s image when a
   * `--build-context` stands in its place (a files context has none).
   */
  async config(text: string, platform: Platform, named?: NamedContext): Promise<ContainerConfig | undefined> {
    if (named && named.kind !== "image") return undefined;
    return (await this.open(named?.image ?? text, platform)).config?.config;
  }

  /** The images read so far, each with the digest its reference resolved to: a provenance's materials. */
  materials(): Material[] {
    return [...this.#materials.values()];
  }

  /**
   * An image a step reads (`--from=IMAGE`, `RUN --mount=from=`) as its source, `ref` naming it: its files on disk
   * in `dir(digest)` (a folder of the build's own, one per image) when the step wants them, its layers' entries
   * read where COPY can do without them (stage-sources.ts).
   */
  source(image: Image, ref: string, dir: (digest: string) => string): SourceRoot {
    let root = this.#roots.get(image.digest);
    if (!root) {
      root = new StageRoot(dir(image.digest), this.#ctx.home);
      this.#roots.set(image.digest, root);
    }
    const r = root;
    return {
      root: () => r.sync(image),
      sources: async (patterns, o) => {
        const layers = await r.layers(image);
        return layers && layerSources(layers, patterns, o);
      },
      id: image.digest,
      what: `image ${ref}`,
    };
  }

  /** The images' filesystems made for steps (mounts in the build's folder: removed before it is). */
  roots(): StageRoot[] {
    return [...this.#roots.values()];
  }

  /** Close every image opened (whatever failed). */
  async close(): Promise<void> {
    for (const o of this.#opened) await o.close().catch(() => undefined);
  }
}
