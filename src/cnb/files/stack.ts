/** Legacy `stack.toml` (`/cnb/stack.toml`): `[run-image] image, mirrors`, for platforms below API 0.12. */
import { Fields, type Origin, parseToml, toToml } from "../toml.ts";
import type { RunImage } from "./run.ts";

/** Empty when there is no run image. */
export function encodeStack(runImage: RunImage | undefined): string {
  if (!runImage) return "";
  return toToml({ "run-image": { image: runImage.image, mirrors: runImage.mirrors ?? [] } });
}

/** The run image of a `stack.toml`, as the lifecycle reads it below Platform API 0.12 (undefined without one). */
export function parseStack(text: string, file: string): RunImage | undefined {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const run = new Fields(parseToml(text, origin), origin).sub("run-image");
  const image = run?.str("image");
  return image ? { image, mirrors: run?.strs("mirrors") ?? [] } : undefined;
}
