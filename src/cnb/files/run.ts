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
