/**
 * One stage walked for the build checks (src/dockerfile/lint-stage.ts): BuildKit's suggestions, the order of a
 * stage's variables, what each instruction expands. (Every rule is held to BuildKit's own in lint.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { Checks, parseCheckOptions } from "../../src/dockerfile/lint-rules.ts";
import { imageState, StageWalk, suggest } from "../../src/dockerfile/lint-stage.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";

/** The warnings of walking `text`'s instructions after its FROM, on an image whose config sets `env`. */
function walk(text: string, env: string[] = [], buildArgs: Record<string, string> = {}): string[] {
  const c = new Checks(parseCheckOptions("", "x"));
  const st = imageState({ Env: env });
  const [, ...instructions] = parseDockerfile(text).instructions;
  new StageWalk(c, { escape: "\\", buildArgs }, st, new Map([["TARGETOS", "linux"]])).walk(instructions);
  return c.warnings.map((w) => `${w.rule} ${w.line}: ${w.detail}`);
}

describe("suggest (BuildKit's suggest.Search)", () => {
  it("is the first option closest by edit distance under 3, none for an exact match", () => {
    expect(suggest("GOPAT", ["PATH", "GOPATH", "GOPATHS"])).toBe("GOPATH");
    expect(suggest("ABC", ["ABD", "ABE"])).toBe("ABD");
    expect(suggest("FOO", ["BAR"])).toBeUndefined();
    expect(suggest("PATH", ["PATHS", "PATH"])).toBeUndefined();
  });
});

describe("StageWalk", () => {
  it("suggests among the stage's variables, one set anew going last", () => {
    expect(walk("FROM x\nENV AB=1 AC=2\nENV AB=3\nLABEL l=$AD\n")).toEqual([
      "UndefinedVar 4: Usage of undefined variable '$AD' (did you mean $AC?)",
    ]);
  });

  it("knows the image's env and BuildKit's default PATH, and an ARG's value from --build-arg or the globals", () => {
    expect(
      walk("FROM x\nLABEL a=$HOME b=$PATH\nARG TARGETOS\nARG V\nLABEL c=$TARGETOS d=$V\n", ["HOME=/root"], {
        V: "1",
      }),
    ).toEqual([]);
  });

  it("expands what BuildKit expands: not RUN's command, not EXPOSE with a report", () => {
    expect(walk("FROM x\nRUN echo $A\nEXPOSE $B\nCOPY $C /\n")).toEqual([
      "UndefinedVar 4: Usage of undefined variable '$C'",
    ]);
  });
});
