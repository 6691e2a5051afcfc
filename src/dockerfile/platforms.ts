/**
 * A multi-platform Dockerfile build (`--platform linux/amd64,linux/arm64`, as `docker buildx build`): the
 * single-platform build (build.ts) once per platform, one after another, each with its own TARGET* args and
 * base images and the same step cache and context index (a step's key starts from its platform's base, so the
 * platforms never share a step by mistake); each image goes to a private OCI layout, and an OCI image index
 * listing them with their platforms is written to every destination. RUN steps of a platform this machine does
 * not run execute under qemu-user-static (runtime/binfmt.ts).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../errors.ts";
import { assembleIndex } from "../oci/assemble.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { type OpenedSource, openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../transport/parse.ts";
import { ownedTempDir } from "../util/fs.ts";
import { type BuildInputs, type BuildResult, DockerfileBuild, writeDestinations } from "./build.ts";
import { StepCache } from "./cache.ts";
import { LinePrefixer } from "./schedule.ts";

export interface PlatformsResult {
  /** The index's digest. */
  digest: string;
  /** Each platform's build, in the order asked for. */
  platforms: { platform: Platform; result: BuildResult }[];
  written: BuildResult["written"];
}

/** Destinations and flags that cannot take an index, refused before anything is built. */
function checkInputs(inputs: BuildInputs, platforms: readonly Platform[]): void {
  const list = platforms.map(formatPlatform).join(",");
  for (const d of inputs.destinations) {
    if (d.transport === "docker-archive") {
      throw new BerthError(
        "USAGE",
        `${d.text}: a docker-archive holds single-platform images, not the image index --platform ${list} builds`,
        { hint: "write it to oci-archive:, oci:, the store or a registry, or build one platform" },
      );
    }
  }
  const shared = inputs.cacheTo?.find((c) => c.type !== "inline");
  if (shared) {
    throw new BerthError(
      "USAGE",
      `--cache-to ${shared.text}: exporting one cache for the several platforms of --platform ${list} is not supported`,
      { hint: "use --cache-to type=inline (each platform's image carries its own), or build one platform" },
    );
  }
}

/** Build the Dockerfile for each platform and write an image index of the results to the destinations. */
export async function buildPlatforms(
  inputs: BuildInputs,
  platforms: readonly Platform[],
  ctx: TransportContext,
): Promise<PlatformsResult> {
  checkInputs(inputs, platforms);
  const tmp = await ownedTempDir(await new StepCache(ctx.home).tmpDir(), "platforms-");
  const opened: OpenedSource[] = [];
  try {
    const built: PlatformsResult["platforms"] = [];
    const images: Image[] = [];
    for (const [n, platform] of platforms.entries()) {
      const name = formatPlatform(platform);
      const dest = parseImageArgument(`oci:${join(tmp, "layout")}:${name.replaceAll("/", "-")}`);
      inputs.log?.(`Building for ${name} (${n + 1}/${platforms.length})`);
      const { platformInputs, flush } = forPlatform(inputs, platform, dest);
      const result = await new DockerfileBuild(platformInputs, ctx).build().finally(flush);
      built.push({ platform, result });
      const o = await openSource(dest, ctx);
      opened.push(o);
      images.push(await selectImage(await loadRoot(o.source, o.root)));
    }
    const index = assembleIndex(images);
    const written = await writeDestinations(index, inputs.destinations, ctx);
    inputs.log?.(
      `--> index ${index.digest}: ${images.map((m, i) => `${formatPlatform(platforms[i])} ${m.digest}`).join(", ")}`,
    );
    return { digest: index.digest, platforms: built, written };
  } finally {
    for (const o of opened) await o.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** One platform's inputs: its image to `dest`, its lines prefixed `[linux/arm64] ` as BuildKit's are. */
function forPlatform(
  inputs: BuildInputs,
  platform: Platform,
  dest: ImageArgument,
): { platformInputs: BuildInputs; flush: () => void } {
  const prefix = `[${formatPlatform(platform)}] `;
  const log = inputs.log;
  const write = inputs.onOutput;
  const lines = write ? new LinePrefixer(prefix, write) : undefined;
  return {
    platformInputs: {
      ...inputs,
      platform,
      destinations: [dest],
      log: log && ((line) => log(`${prefix}${line}`)),
      onOutput: lines && ((chunk, stream) => lines.push(chunk, stream)),
    },
    flush: () => lines?.flush(),
  };
}
