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
import { OUTLINE_CASES, type OutlineCase } from "../helpers/outline-cases.ts";

function berthOutline(c: OutlineCase) {
  const dockerfile = c.dockerfile;
  const df = { ...parseDockerfile(dockerfile), text: dockerfile };
  return outlineDockerfile({
    df,
    plan: splitStages(df),
    buildArgs: c.buildArgs ?? {},
    target: c.target,
    platform: hostPlatform(),
    buildPlatform: hostPlatform(),
    image: async (ref) => {
      const full = ref.includes("/") || ref.includes(":") ? ref : `docker.io/library/${ref}:latest`;
      return c.images?.[full]?.config;
    },
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
        ...(c.images ? { images: c.images } : {}),
      })),
    );
  }, 600_000);

  it("has at least 25 Dockerfiles, each answered by BuildKit", () => {
    expect(OUTLINE_CASES.length).toBeGreaterThanOrEqual(25);
    for (const a of answers) expect(a.error).toBeUndefined();
  });

  it.each(OUTLINE_CASES.map((c, i) => [c.name, i] as const))("%s", async (_name, i) => {
    const c = OUTLINE_CASES[i]!;
    const o = await berthOutline(c);
    expect(outlineJson(o)).toBe(answers[i]!.result);
    expect(outlineText(o)).toBe(answers[i]!.text ?? "");
  });

  it("names the target a Dockerfile lacks, as a build does", async () => {
    await expect(berthOutline({ name: "", dockerfile: "FROM alpine AS a\n", target: "b" })).rejects.toThrow(
      /target stage "b" not found/,
    );
  });
});
