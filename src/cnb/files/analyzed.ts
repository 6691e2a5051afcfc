/** `<layers>/analyzed.toml` (lc:platform/files AnalyzedMetadata): the previous image and the run image with its target. */
import { parseToml, type Table, toToml } from "../toml.ts";

export interface AnalyzedFile {
  /** The previous image, by digest. */
  image?: { reference: string };
  runImage: {
    reference: string;
    image: string;
    target: { os: string; arch: string; variant?: string; distro?: { name: string; version: string } };
  };
}

export function encodeAnalyzed(a: AnalyzedFile): string {
  const t = a.runImage.target;
  return toToml({
    image: a.image,
    "run-image": {
      reference: a.runImage.reference,
      image: a.runImage.image,
      target: {
        os: t.os,
        arch: t.arch,
        ...(t.variant ? { "arch-variant": t.variant } : {}),
        ...(t.distro ? { distro: t.distro } : {}),
      },
    },
  });
}

/**
 * analyzed.toml as the lifecycle's generator leaves it: a switched run image replaces `[run-image]` (reference
 * and image the Dockerfile's FROM, target data cleared), and `extend = true` when a run.Dockerfile extends it;
 * every other key kept.
 */
export function updateAnalyzed(
  text: string,
  file: string,
  change: { newRunImage: string | undefined; extend: boolean },
): string {
  const doc: Table = parseToml(text, { file, code: "INTERNAL" });
  const prev = (doc["run-image"] ?? {}) as Table;
  doc["run-image"] = change.newRunImage
    ? { reference: change.newRunImage, image: change.newRunImage, ...(change.extend ? { extend: true } : {}) }
    : { ...prev, extend: true };
  return toToml(doc);
}
