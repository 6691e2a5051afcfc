/**
 * `rebase(image, options)`: what `berth rebase` does. An app built with buildpacks moves onto a new run image
 * by the CNB rules; only a config and a manifest are new (in the store or a layout no layer blob is copied; on
 * a registry the run image's layers are mounted and the app's stay).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Rebaser, type ResolvedImage, resolveImage } from "../cnb/index.ts";
import { BerthError } from "../errors.ts";
import type { TransportContext } from "../transport/context.ts";
import { writeImage } from "../transport/copy.ts";
import { parseImageArgument } from "../transport/parse.ts";
import { parseJson } from "../util/json.ts";
import { publishTarget } from "./build.ts";
import { type Host, type HostOptions, hostOf, withShared } from "./host.ts";

/** `berth rebase`'s flags as options. */
export interface RebaseOptions extends HostOptions {
  /** The new run image; default the app's run image (its newest version). */
  runImage?: string | undefined;
  /** Rebase in the registry (`image` is a registry reference): only a config and a manifest are uploaded. */
  publish?: boolean;
  /** Rebase this image and write the result to `image`. */
  previousImage?: string | undefined;
  /** Rebase even when the lifecycle's checks fail (each then warns). */
  force?: boolean;
  /** Write report.toml here. */
  reportOutputDir?: string | undefined;
}

/** What a rebase wrote. */
export interface RebaseResult {
  schemaVersion: 1;
  /** Where the image was written, as given. */
  image: string;
  /** The new manifest digest. */
  digest: string;
  /** The new config digest. */
  imageId: string;
  /** The run image the app now sits on, as named, and the digest reference it was read at. */
  runImage: { name: string; reference: string };
  layers: { run: number; app: number };
  blobs: { written: number; mounted: number; present: number };
}

/** Move an app image built with buildpacks onto a new run image, without rebuilding. */
export function rebase(image: string, o: RebaseOptions): Promise<RebaseResult> {
  return withShared(o, (o) => rebaseOnce(image, o));
}

/** One call of `rebase`, with the shared state it was given. */
async function rebaseOnce(image: string, o: RebaseOptions): Promise<RebaseResult> {
  const host = hostOf(o);
  const runs = new RunImages(host.ctx, Boolean(o.publish));
  try {
    return await rebaseOne(image, o, host, runs, true);
  } finally {
    await runs.close();
  }
}

/** `rebaseMany`'s options: `rebase`'s but one destination each (no `previousImage`, no `reportOutputDir`). */
export interface RebaseManyOptions extends Omit<RebaseOptions, "previousImage" | "reportOutputDir"> {
  /** Images rebased at once (default 8). */
  concurrency?: number;
}

/** One image's outcome in `rebaseMany`: its new digest, or why it failed. */
export interface RebaseManyEntry {
  /** As given. */
  image: string;
  /** The manifest digest the image had before (absent when it could not be read). */
  previousDigest?: string;
  /** The new manifest digest (absent on failure). */
  digest?: string;
  /** Present on failure: the BerthError's stable code and its sentence. */
  error?: { code: string; message: string };
}

/** What `rebaseMany` did: one entry per image in the order given, and the images that failed. */
export interface RebaseManyResult {
  schemaVersion: 1;
  images: RebaseManyEntry[];
  /** The images that failed, in the order given (empty when all were rebased). */
  failed: string[];
}

/**
 * Rebase many app images in one go: each run image is resolved once for all, at most `concurrency` images
 * at once; one image failing does not stop the others (its entry carries the error). Never throws for an
 * image's failure; throws only for bad options (no images, an image named twice).
 */
export function rebaseMany(images: string[], o: RebaseManyOptions): Promise<RebaseManyResult> {
  return withShared(o, (o) => rebaseManyOnce(images, o));
}

async function rebaseManyOnce(images: string[], o: RebaseManyOptions): Promise<RebaseManyResult> {
  const host = hostOf(o);
  if (!Array.isArray(images) || images.length === 0) {
    throw new BerthError("USAGE", "rebase needs at least one image", {
      hint: "name images as arguments or in a file given with --from-file",
    });
  }
  const seen = new Set<string>();
  for (const i of images) {
    if (typeof i !== "string" || !i) throw new BerthError("USAGE", "an image to rebase is empty");
    if (seen.has(i)) {
      throw new BerthError("USAGE", `${i} is named twice in the images to rebase`, {
        hint: "name each image once",
      });
    }
    seen.add(i);
  }
  const concurrency = o.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new BerthError("USAGE", `concurrency ${String(concurrency)} must be a whole number of 1 or more`);
  }
  const runs = new RunImages(host.ctx, Boolean(o.publish));
  const entries: RebaseManyEntry[] = new Array(images.length);
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const at = next++;
      const image = images[at]!;
      const entry: RebaseManyEntry = { image };
      entries[at] = entry;
      const quietHost: Host = {
        ...host,
        info: () => {},
        warn: (l) => host.warn(`${image}: ${l}`),
      };
      try {
        const r = await rebaseOne(image, o, quietHost, runs, false, (d) => {
          entry.previousDigest = d;
        });
        entry.digest = r.digest;
        host.info(`Rebased ${image}: ${entry.previousDigest} -> ${r.digest}`);
      } catch (err) {
        const e =
          err instanceof BerthError
            ? err
            : new BerthError("INTERNAL", (err as Error)?.message ?? String(err), { cause: err });
        entry.error = { code: e.code, message: e.message };
        host.info(`Failed ${image}: ${e.message}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, worker));
  } finally {
    await runs.close();
  }
  return {
    schemaVersion: 1,
    images: entries,
    failed: entries.filter((e) => e.error).map((e) => e.image),
  };
}

/** Run images by name, each resolved once and kept open until `close` (shared by all rebases of one call). */
class RunImages {
  private readonly byName = new Map<string, Promise<ResolvedImage>>();
  private readonly ctx: TransportContext;
  private readonly publish: boolean;
  constructor(ctx: TransportContext, publish: boolean) {
    this.ctx = ctx;
    this.publish = publish;
  }

  get(name: string): Promise<ResolvedImage> {
    let p = this.byName.get(name);
    if (!p) {
      p = resolveImage(name, this.ctx, { registryFallback: true, preferRegistry: this.publish }).then((r) => {
        if (!r) throw new BerthError("IMAGE_NOT_FOUND", `run image ${name} was not found`);
        return r;
      });
      // a failed look-up is not retried: every image naming it fails the same way
      p.catch(() => {});
      this.byName.set(name, p);
    }
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.byName.values()) {
      const r = await p.catch(() => undefined);
      await r?.close();
    }
  }
}

async function rebaseOne(
  image: string,
  o: RebaseOptions,
  host: Host,
  runs: RunImages,
  single: boolean,
  onPrevious?: (digest: string) => void,
): Promise<RebaseResult> {
  const publish = Boolean(o.publish);
  const target = parseImageArgument(publishTarget(image, publish));
  const fromText = single && o.previousImage ? publishTarget(o.previousImage, publish) : target.text;
  const app = await resolveImage(fromText, host.ctx);
  if (!app) throw new BerthError("IMAGE_NOT_FOUND", `no image ${fromText}`);
  try {
    onPrevious?.(app.image.descriptor.digest);
    const md = parseJson(
      app.image.config?.config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}",
      `${fromText}: label io.buildpacks.lifecycle.metadata`,
      "CONFIG_INVALID",
    ) as {
      runImage?: { image?: string };
      stack?: { runImage?: { image?: string } };
    };
    // Apps from lifecycles before Platform API 0.12 record their run image under `stack` only.
    const runName: string | undefined = o.runImage ?? md.runImage?.image ?? md.stack?.runImage?.image;
    if (!runName) {
      throw new BerthError("USAGE", `${image} names no run image; give one with --run-image`);
    }
    const run = await runs.get(runName);
    const r = new Rebaser({
      app: app.image,
      appName: fromText,
      runImage: run.image,
      runImageName: runName,
      runImageReference: run.pinned,
      force: Boolean(o.force),
      log: host.info,
      warn: host.warn,
    }).rebase();
    const name = target.transport === "store" || target.transport === "docker" ? target.ref : target.text;
    host.info(`Saving ${name}...`);
    const written = await writeImage(r.image, name, target, host.ctx);
    const configDigest = r.image.manifest.config.digest;
    host.info(`*** Images (${configDigest.slice(7, 19)}):`);
    host.info(`      ${name}`);
    host.info(
      `Rebased ${name} (${r.runLayers} run-image layers, ${r.appLayers} app layers kept; blobs written ${written.blobs.written}, mounted ${written.blobs.mounted}, present ${written.blobs.exists})`,
    );
    if (single && o.reportOutputDir) {
      const dir = resolve(host.cwd, o.reportOutputDir);
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, "report.toml"),
        `[image]\ntags = [${JSON.stringify(image)}]\ndigest = ${JSON.stringify(r.image.descriptor.digest)}\nmanifest-size = ${r.image.descriptor.size}\n`,
      );
    }
    return {
      schemaVersion: 1,
      image,
      digest: r.image.descriptor.digest,
      imageId: configDigest,
      runImage: { name: runName, reference: run.pinned },
      layers: { run: r.runLayers, app: r.appLayers },
      blobs: {
        written: written.blobs.written,
        mounted: written.blobs.mounted,
        present: written.blobs.exists,
      },
    };
  } finally {
    await app.close();
  }
}
