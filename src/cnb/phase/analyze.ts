/**
 * The analyze phase (Platform API §analyzer; lc:phase/analyzer.go): the previous image's
 * `io.buildpacks.lifecycle.metadata` (by default the image being built, as pack does), the run image (from
 * `--run-image` or the builder's run.toml, preferring a mirror on the target's registry) pinned to a digest,
 * and the target data of the run image.
 */
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import type { Platform } from "../../oci/platform.ts";
import { parseReference } from "../../oci/reference.ts";
import type { TransportContext } from "../../transport/context.ts";
import type { ImageArgument } from "../../transport/parse.ts";
import { LABEL, type LayersMetadata, parseJsonLabel } from "../files/labels.ts";
import { noImageFor, type ResolvedImage, resolveImage } from "../image.ts";
import { type TargetData, targetOfImage } from "../platform/target.ts";
import type { PreviousImage, RunImageInput } from "./export.ts";

/** The registry host of an image argument, when it names a registry (docker:// or a bare name). */
function registryOf(arg: ImageArgument): string | undefined {
  if (arg.transport !== "docker" && arg.transport !== "store") return undefined;
  return parseReference(arg.ref).registry;
}

export interface AnalyzeInputs {
  /** The image being built. */
  target: ImageArgument;
  /** `--previous-image` (default: the target). */
  previousImage?: string | undefined;
  /** `--run-image`, else the builder's run images (image + mirrors), in order. */
  runImage?: string | undefined;
  runImages?: { image: string; mirrors?: string[] }[];
  /** With --publish the run image must be in a registry; without, a store copy is preferred. */
  publish: boolean;
  platform?: Platform;
  ctx: TransportContext;
  log?: (line: string) => void;
}

export interface Analyzed {
  previous: PreviousImage | undefined;
  runImage: RunImageInput;
  /** The run image opened (close it when done). */
  run: ResolvedImage;
  target: TargetData;
  close(): Promise<void>;
}

/** Pick the run image name: `--run-image`, else the builder's, preferring a mirror on the target's registry. */
export function chooseRunImage(
  target: ImageArgument,
  runImage: string | undefined,
  runImages: readonly { image: string; mirrors?: string[] }[],
): { name: string; configured: string; mirrors: string[] } {
  if (runImage) return { name: runImage, configured: runImage, mirrors: [] };
  const first = runImages[0];
  if (!first) {
    throw new BerthError("CNB_ANALYZE_FAILED", "identifying run image: the builder names no run image", {
      hint: "give one with --run-image",
    });
  }
  const reg = registryOf(target);
  const mirrors = first.mirrors ?? [];
  if (reg) {
    for (const candidate of [first.image, ...mirrors]) {
      try {
        if (parseReference(candidate).registry === reg)
          return { name: candidate, configured: first.image, mirrors };
      } catch {
        // not a reference: skip
      }
    }
  }
  return { name: first.image, configured: first.image, mirrors };
}

export class Analyzer {
  readonly i: AnalyzeInputs;

  constructor(i: AnalyzeInputs) {
    this.i = i;
  }

  async analyze(): Promise<Analyzed> {
    const i = this.i;
    const log = i.log ?? (() => {});
    const choice = chooseRunImage(i.target, i.runImage, i.runImages ?? []);
    const run = await resolveImage(choice.name, i.ctx, {
      platform: i.platform,
      registryFallback: true,
      preferRegistry: i.publish,
    }).catch((err) => {
      throw isBerthError(err, "PLATFORM_NOT_FOUND")
        ? noImageFor("run image", choice.name, i.platform, err)
        : wrapError(`identifying run image ${choice.name}`, err);
    });
    if (!run) {
      throw new BerthError("CNB_ANALYZE_FAILED", `identifying run image: ${choice.name} was not found`, {
        hint: "copy it into the store (berth copy docker://… NAME) or name a registry image",
      });
    }
    const prevText = i.previousImage ?? i.target.text;
    let prevOpened: ResolvedImage | undefined;
    try {
      prevOpened = await this.#previousImage(prevText);
      if (!prevOpened) log(`Previous image with name "${prevText}" not found`);
      const label = prevOpened?.image.config?.config?.Labels?.[LABEL.lifecycle];
      const previous: PreviousImage | undefined = prevOpened && {
        image: prevOpened.image,
        metadata: parseJsonLabel<LayersMetadata>(label, LABEL.lifecycle, prevText) ?? {},
      };
      const runInput: RunImageInput = {
        image: run.image,
        reference: run.pinned,
        name: choice.configured,
        ...(choice.mirrors.length ? { mirrors: choice.mirrors } : {}),
      };
      return {
        previous,
        runImage: runInput,
        run,
        target: targetOfImage(run.image),
        close: async () => {
          await run.close();
          await prevOpened?.close();
        },
      };
    } catch (err) {
      // every path that does not hand them over closes both (a previous image whose label is not JSON)
      await run.close();
      await prevOpened?.close();
      throw err;
    }
  }

  /** The previous image (with --publish the registry's first, as pack and the lifecycle read it), if any. */
  async #previousImage(text: string): Promise<ResolvedImage | undefined> {
    const i = this.i;
    return resolveImage(text, i.ctx, {
      ...(i.platform ? { platform: i.platform } : {}),
      preferRegistry: i.publish,
    }).catch((err) => {
      if (err instanceof BerthError && /not found|unknown|no image/i.test(err.message)) return undefined;
      throw wrapError(`reading the previous image ${text}`, err);
    });
  }
}
