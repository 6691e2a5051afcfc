/** `run.toml` (`/cnb/run.toml`, lc:platform/files run): the run images and their mirrors. */
import { Fields, type Origin, parseToml, toToml } from "../toml.ts";

export interface RunImage {
  image: string;
  mirrors?: string[];
}

export function encodeRun(images: readonly RunImage[]): string {
  return toToml({ images: images.map((i) => ({ image: i.image, mirrors: i.mirrors ?? [] })) });
}

export function parseRun(text: string, file: string): RunImage[] {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return doc.list("images").map((i) => ({ image: i.requiredStr("image"), mirrors: i.strs("mirrors") ?? [] }));
}

/**
 * A builder's run images as the lifecycle takes them: run.toml's `[[images]]`, else (none there) the deprecated
 * stack.toml's `[run-image]`; empty when neither names one. The builder label's `images` and `stack.runImage`
 * mirror the two files and go by the same rule.
 */
export function runImagesOf(run: readonly RunImage[] | undefined, stack: RunImage | undefined): RunImage[] {
  if (run?.length) return [...run];
  return stack?.image ? [stack] : [];
}
