/** `<layers>/analyzed.toml` (lc:platform/files AnalyzedMetadata): the previous image and the run image with its target. */
import { toToml } from "../toml.ts";

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
