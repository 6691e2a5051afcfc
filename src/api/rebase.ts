/**
 * `rebase(image, options)`: what `berth rebase` does. An app built with buildpacks moves onto a new run image
 * by the CNB rules; only a config and a manifest are new (in the store or a layout no layer blob is copied; on
 * a registry the run image's layers are mounted and the app's stay).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Rebaser, resolveImage } from "../cnb/index.ts";
import { BerthError } from "../errors.ts";
import { writeImage } from "../transport/copy.ts";
import { parseImageArgument } from "../transport/parse.ts";
import { parseJson } from "../util/json.ts";
import { publishTarget } from "./build.ts";
import { type HostOptions, hostOf, withShared } from "./host.ts";

/** `berth rebase`'s flags as options. */
export interface RebaseOptions extends HostOptions {
  /** The new run image; default the app's run image (its newest version). */
  runImage?: string;
  /** Rebase in the registry (`image` is a registry reference): only a config and a manifest are uploaded. */
  publish?: boolean;
  /** Rebase this image and write the result to `image`. */
  previousImage?: string;
  /** Rebase even when the lifecycle's checks fail (each then warns). */
  force?: boolean;
  /** Write report.toml here. */
  reportOutputDir?: string;
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
  const publish = Boolean(o.publish);
  const target = parseImageArgument(publishTarget(image, publish));
  const fromText = o.previousImage ? publishTarget(o.previousImage, publish) : target.text;
  const app = await resolveImage(fromText, host.ctx);
  if (!app) throw new BerthError("IMAGE_NOT_FOUND", `no image ${fromText}`);
  try {
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
    const run = await resolveImage(runName, host.ctx, { registryFallback: true, preferRegistry: publish });
    if (!run) throw new BerthError("IMAGE_NOT_FOUND", `run image ${runName} was not found`);
    try {
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
      if (o.reportOutputDir) {
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
      await run.close();
    }
  } finally {
    await app.close();
  }
}
