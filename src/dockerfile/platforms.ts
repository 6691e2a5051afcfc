/**
 * A multi-platform Dockerfile build (`--platform linux/amd64,linux/arm64`, as `docker buildx build`): the
 * single-platform build (build.ts) once per platform, all at once as BuildKit's, each with its own TARGET* args
 * and base images and the same step cache and context index (a step's key starts from its platform's base, so
 * the platforms never share a step by mistake; one they key the same runs once); the first platform that fails
 * stops the others and names itself. Each image goes to a private OCI layout, and an OCI image index listing them
 * with their platforms is written to every destination; `--cache-to type=registry|local` exports one cache of
 * every platform's steps. RUN steps of a platform this machine does not run execute under qemu-user-static
 * (runtime/binfmt.ts).
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../errors.ts";
import { assembleIndex, type IndexEntry } from "../oci/assemble.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { type Image, loadRoot, selectImage } from "../oci/image.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { type OpenedSource, openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../transport/parse.ts";
import { ownedTempDir } from "../util/fs.ts";
import { annotationsFor } from "./annotation-spec.ts";
import { DockerfileBuild, type SharedBuildState, uncompressedStages } from "./build.ts";
import { StepCache } from "./cache.ts";
import { exportCaches } from "./cache-io.ts";
import { writeDestinations } from "./destinations.ts";
import type { BuildInputs, BuildResult } from "./inputs.ts";
import { asWork, filesystemExportName } from "./progress.ts";
import { LinePrefixer } from "./schedule.ts";
import { LayerEntries } from "./stage-index.ts";

export interface PlatformsResult {
  /** The index's digest. */
  digest: string;
  /** The index's descriptor (buildx's `containerimage.descriptor`). */
  descriptor: Descriptor;
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
}

interface Built {
  platform: Platform;
  result: BuildResult;
  image: Image;
}

/** Build the Dockerfile for each platform and write an image index of the results to the destinations. */
export async function buildPlatforms(
  inputs: BuildInputs,
  platforms: readonly Platform[],
  ctx: TransportContext,
): Promise<PlatformsResult> {
  checkInputs(inputs, platforms);
  const cache = new StepCache(ctx.home);
  const tmp = await ownedTempDir(await cache.tmpDir(), "platforms-");
  const opened: OpenedSource[] = [];
  // the first platform that fails stops the others
  const abort = new AbortController();
  const onAbort = () => abort.abort(inputs.signal?.reason);
  if (inputs.signal?.aborted) onAbort();
  inputs.signal?.addEventListener("abort", onAbort, { once: true });
  const shared: SharedBuildState = { producing: new Map(), layerEntries: new LayerEntries(cache.entriesDir) };
  let failure: unknown;
  try {
    const settled = await Promise.allSettled(
      platforms.map(async (platform, n) => {
        const name = formatPlatform(platform);
        const dest = parseImageArgument(`oci:${join(tmp, "layout")}:${name.replaceAll("/", "-")}`);
        inputs.log?.(`Building for ${name} (${n + 1}/${platforms.length})`);
        const { platformInputs, flush } = forPlatform(inputs, platform, dest, abort.signal, n === 0);
        try {
          const result = await new DockerfileBuild(platformInputs, ctx, shared).build().finally(flush);
          const o = await openSource(dest, ctx);
          opened.push(o);
          return { platform, result, image: await selectImage(await loadRoot(o.source, o.root)) };
        } catch (err) {
          // the platform that fails first names the failure and stops the others
          if (failure === undefined) {
            failure = wrapError(`building for ${name}`, err);
            abort.abort(failure);
          }
          throw failure;
        }
      }),
    );
    if (failure !== undefined) throw failure;
    const built = settled.map((r) => (r as PromiseFulfilledResult<Built>).value);
    const images = built.map((b) => b.image);
    // --annotation: each platform's manifest descriptor in the index, the index's own, its descriptor's
    const notes = inputs.annotations ?? [];
    const entries = built.map((b) => ({
      image: b.image,
      annotations: annotationsFor(notes, b.platform).manifestDescriptor,
    }));
    const { index: indexNotes, indexDescriptor } = annotationsFor(notes);
    const index = assembleIndex([...entries, ...(await attestations(inputs, built))], indexNotes);
    const written = await writeDestinations(index, inputs.destinations, ctx, {
      onStep: inputs.onStep,
      descriptors: { index: indexDescriptor },
    });
    // each platform's filesystem into DEST/linux_arm64 (BuildKit's platform-split; false: all into DEST)
    const exports = inputs.exports ?? [];
    if (exports.length)
      await asWork(inputs.onStep, filesystemExportName(exports), async () => {
        // loaded only by a build that attaches provenance
        const spec = inputs.provenance;
        const attest = spec && (await import("./provenance.ts")).exportAttestations;
        const images = built.map((b) => ({
          ...b,
          attestations: spec && attest?.(spec, b.result.provenance!.facts, inputs.sourceDateEpoch),
        }));
        // a platform map, one platform too (BUILDKIT_MULTI_PLATFORM): a folder per platform, as BuildKit's
        await (await import("./export.ts")).exportFilesystems(images, exports, tmp, true);
      });
    inputs.log?.(
      `--> index ${index.digest}: ${images.map((m, i) => `${formatPlatform(platforms[i])} ${m.digest}`).join(", ")}`,
    );
    // one cache for every platform, as BuildKit's: each one's records and layers
    const steps = {
      max: built.flatMap((b) => b.result.cacheSteps.max),
      min: built.flatMap((b) => b.result.cacheSteps.min),
    };
    await exportCaches(inputs.cacheTo ?? [], steps, cache, ctx, tmp, inputs.log, undefined, inputs.onStep);
    return {
      digest: index.digest,
      descriptor: {
        mediaType: index.descriptor.mediaType,
        digest: index.digest,
        size: index.descriptor.size,
      },
      platforms: built.map(({ platform, result }) => ({ platform, result })),
      written,
    };
  } finally {
    inputs.signal?.removeEventListener("abort", onAbort);
    for (const o of opened) await o.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** With `--provenance`: each platform's attestation manifest, listed after the images as BuildKit lists them. */
async function attestations(inputs: BuildInputs, built: readonly Built[]): Promise<IndexEntry[]> {
  const spec = inputs.provenance;
  if (!spec) return [];
  const { attestationManifest, provenanceStatement, subjectNames } = await import("./provenance.ts");
  const names = subjectNames(inputs.destinations);
  return built.map(({ image, platform, result }) =>
    attestationManifest(
      image,
      provenanceStatement(spec, result.provenance!.facts, { names, digest: image.digest, platform }),
    ),
  );
}

/** One platform's inputs: its image to `dest`, its lines prefixed `[linux/arm64] ` as BuildKit's are. */
function forPlatform(
  inputs: BuildInputs,
  platform: Platform,
  dest: ImageArgument,
  signal: AbortSignal,
  first: boolean,
): { platformInputs: BuildInputs; flush: () => void } {
  const prefix = `[${formatPlatform(platform)}] `;
  const log = inputs.log;
  const write = inputs.onOutput;
  const onStep = inputs.onStep;
  const lines = write ? new LinePrefixer(prefix, write) : undefined;
  return {
    platformInputs: {
      ...inputs,
      platform,
      destinations: [dest],
      // its manifest's annotations; the index and the descriptors are buildPlatforms'
      annotationsPlatform: platform,
      // the filesystems are exported once every platform is built (buildPlatforms)
      exports: [],
      signal,
      // registry and local caches are exported once for all platforms (buildPlatforms)
      cacheTo: (inputs.cacheTo ?? []).filter((c) => c.type === "inline"),
      uncompressedStages: uncompressedStages(inputs),
      // its facts only: the attestations go into the index of every platform (buildPlatforms)
      provenance: inputs.provenance && { ...inputs.provenance, attach: false },
      log: log && ((line) => log(`${prefix}${line}`)),
      onOutput: lines && ((chunk, stream) => lines.push(chunk, stream)),
      // its steps' vertexes named as its lines are
      onStep: onStep && ((e) => onStep(e.type === "start" ? { ...e, name: `${prefix}${e.name}` } : e)),
      // BuildKit's build checks warn for the first platform only
      ...(first ? {} : { noChecks: true }),
    },
    flush: () => lines?.flush(),
  };
}
