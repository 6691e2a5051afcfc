/**
 * `--call outline` (src/dockerfile/outline.ts) against BuildKit v0.26.2's own Dockerfile2Outline and buildx's
 * printer of it (test/helpers/lint-oracle, mode outline): for each Dockerfile, the result JSON and the text are
 * the same bytes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { outlineDockerfile, outlineJson, outlineText } from "../../src/dockerfile/outline.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";
import { hostPlatform } from "../../src/oci/platform.ts";
import { type LintAnswer, lintOracle } from "../helpers/lint-oracle.ts";
import { OUTLINE_CASES } from "../helpers/outline-cases.ts";

function berthOutline(dockerfile: string, buildArgs: Record<string, string> = {}, target?: string) {
  const df = { ...parseDockerfile(dockerfile), text: dockerfile };
  return outlineDockerfile({
    df,
    plan: splitStages(df),
    buildArgs,
    target,
    platform: hostPlatform(),
    buildPlatform: hostPlatform(),
  });
}

describe("--call outline, as BuildKit's Dockerfile2Outline", () => {
  let answers: LintAnswer[];
  beforeAll(async () => {
    answers = await lintOracle(
      OUTLINE_CASES.map((c) => ({
        mode: "outline",
        dockerfile: c.dockerfile,
        buildArgs: c.buildArgs ?? {},
        ...(c.target ? { target: c.target } : {}),
      })),
    );
  }, 600_000);

  it("has at least 25 Dockerfiles, each answered by BuildKit", () => {
    expect(OUTLINE_CASES.length).toBeGreaterThanOrEqual(25);
    for (const a of answers) expect(a.error).toBeUndefined();
  });

  it.each(OUTLINE_CASES.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    const c = OUTLINE_CASES[i]!;
    const o = berthOutline(c.dockerfile, c.buildArgs, c.target);
    expect(outlineJson(o)).toBe(answers[i]!.result);
    expect(outlineText(o)).toBe(answers[i]!.text ?? "");
  });

  it("names the target a Dockerfile lacks, as a build does", () => {
    expect(() => berthOutline("FROM alpine AS a\n", {}, "b")).toThrow(/target stage "b" not found/);
  });
});
