/** Legacy `stack.toml` (`/cnb/stack.toml`): `[run-image] image, mirrors`, for platforms below API 0.12. */
import { toToml } from "../toml.ts";
import type { RunImage } from "./run.ts";

/** Empty when there is no run image. */
export function encodeStack(runImage: RunImage | undefined): string {
  if (!runImage) return "";
  return toToml({ "run-image": { image: runImage.image, mirrors: runImage.mirrors ?? [] } });
}
