/** `build.toml` (Buildpack API), written by `bin/build`: `[[unmet]] name`, the plan entries it left for others. */
import { Fields, type Origin, parseToml } from "../toml.ts";

export interface BuildToml {
  unmet: string[];
}

export function parseBuildToml(text: string, file: string, subject: string): BuildToml {
  const origin: Origin = { file, subject, code: "CNB_BUILD_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return { unmet: doc.list("unmet").map((u) => u.requiredStr("name")) };
}
