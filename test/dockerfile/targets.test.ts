/**
 * `--call targets` (src/dockerfile/targets.ts) against BuildKit v0.26.2's own ListTargets and buildx's printer
 * of it (test/helpers/lint-oracle, mode targets): for each Dockerfile, the result JSON and the text are the same
 * bytes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";
import { listTargets, targetsJson, targetsText } from "../../src/dockerfile/targets.ts";
import { type LintAnswer, lintOracle } from "../helpers/lint-oracle.ts";
import { OUTLINE_CASES } from "../helpers/outline-cases.ts";

const CASES = [
  ...OUTLINE_CASES.map((c) => ({ name: c.name, dockerfile: c.dockerfile })),
  {
    name: "every stage described, the default one too",
    dockerfile:
      "# deps fetches the modules\nFROM golang AS deps\n# test runs the tests\nFROM deps AS test\n# release the image we ship\nFROM --platform=$TARGETPLATFORM alpine AS release\n",
  },
  { name: "one unnamed stage", dockerfile: "FROM scratch\n" },
  {
    name: "COPY --from=$X, which only a build refuses",
    dockerfile: "ARG X=a\nFROM alpine AS a\nFROM scratch\nCOPY --from=$X / /\n",
  },
  {
    name: "long names align the descriptions",
    dockerfile: "# a short\nFROM x AS a\n# a-much-longer-name long\nFROM y AS a-much-longer-name\n",
  },
];

describe("--call targets, as BuildKit's ListTargets", () => {
  let answers: LintAnswer[];
  beforeAll(async () => {
    answers = await lintOracle(CASES.map((c) => ({ mode: "targets", dockerfile: c.dockerfile })));
  }, 600_000);

  it.each(CASES.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    const text = CASES[i]!.dockerfile;
    const df = { ...parseDockerfile(text), text };
    const l = listTargets(df, splitStages(df, true));
    expect(answers[i]!.error).toBeUndefined();
    expect(targetsJson(l)).toBe(answers[i]!.result);
    expect(targetsText(l)).toBe(answers[i]!.text);
  });
});
