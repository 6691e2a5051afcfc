// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
/** Stages of a Dockerfile, the target and the stages it needs (src/dockerfile/stage.ts). */
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import {
  findStage,
  neededStages,
  noCacheStages,
  splitStages,
  targetStage,
} from "../../src/dockerfile/stage.ts";
import { failure } from "./helpers/failure.ts";

const plan = (text: string) => splitStages(parseDockerfile(text));

const MULTI = `ARG BASE=alpine
ARG OTHER
FROM $BASE AS base
RUN true
FROM busybox AS tools
FROM base AS Build
COPY --from=tools /x /x
FROM scratch AS unused
FROM base
COPY --from=build /out /out
RUN --mount=type=cache,target=/c --mount=from=1,target=/m true
`;

describe("splitStages", () => {
  it("splits at FROM, keeps the global ARGs, lower-cases names", () => {
    const p = plan(MULTI);
    expect(p.globalArgs.map((a) => a.args)).toEqual(["BASE=alpine", "OTHER"]);
    expect(p.stages.map((s) => [s.index, s.name, s.baseText, s.instructions.length])).toEqual([
      [0, "base", "$BASE", 1],
      [1, "tools", "busybox", 0],
      [2, "build", "base", 1],
      [3, "unused", "scratch", 0],
      [4, undefined, "base", 2],
    ]);
  });

  it("takes a duplicate stage name (BuildKit's DuplicateStageName warning): the later stage is the one it means", () => {
    const p = plan("FROM a AS x\nFROM b AS X\nFROM x\n");
    expect(findStage(p.stages, "x")?.index).toBe(1);
    expect(findStage(p.stages, "x", 1)?.index).toBe(0);
  });

  it("refuses a malformed FROM, a bad stage name, an instruction before FROM and no FROM", () => {
    expect(failure(() => plan("FROM a b\n"))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: 'Dockerfile:1: FROM needs an image and an optional "AS name", not "a b"',
    });
    expect(failure(() => plan("FROM a AS 1st\n")).message).toBe('Dockerfile:1: invalid stage name "1st"');
    expect(failure(() => plan("ARG X\nRUN true\nFROM a\n")).message).toBe(
      "Dockerfile:2: RUN comes before the first FROM (only ARG may)",
    );
    expect(failure(() => plan("ARG X\n"))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "Dockerfile: no FROM instruction",
    });
  });

  it("refuses a variable in COPY --from and RUN --mount from= with BuildKit's reasons", () => {
    expect(failure(() => plan("FROM a\nCOPY --from=$X /a /b\n")).message).toBe(
      "Dockerfile:2: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
    );
    expect(failure(() => plan("FROM a\nRUN --mount=type=bind,from=${X},target=/m true\n")).message).toBe(
      "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage instead",
    );
    // A trailing $ is no variable (BuildKit accepts it too).
    expect(plan("FROM a\nRUN --mount=from=x$,target=/m true\n").stages).toHaveLength(1);
  });
});

describe("findStage and targetStage", () => {
  const p = plan("FROM a AS one\nFROM b AS two\nFROM c AS one\n");

  it("finds by name (the later of duplicates) or index, only before `before`", () => {
    expect(findStage(p.stages, "ONE")?.index).toBe(2);
    expect(findStage(p.stages, "one", 2)?.index).toBe(0);
    expect(findStage(p.stages, "1")?.index).toBe(1);
    expect(findStage(p.stages, "1", 1)).toBeUndefined();
    expect(findStage(p.stages, "three")).toBeUndefined();
  });

  it("targets the last stage by default, a named one when asked, and lists the stages when it is missing", () => {
    expect(targetStage(p, undefined, "Dockerfile").index).toBe(2);
    expect(targetStage(p, "two", "Dockerfile").index).toBe(1);
    expect(failure(() => targetStage(p, "three", "ctx/Dockerfile"))).toEqual({
      code: "DOCKERFILE_STAGE_NOT_FOUND",
      message: 'ctx/Dockerfile: target stage "three" not found',
      hint: "the named stages are: one, two, one",
    });
  });

  it("takes no stage index for a target, as BuildKit (findStateByName)", () => {
    expect(failure(() => targetStage(p, "1", "Dockerfile"))).toMatchObject({
      code: "DOCKERFILE_STAGE_NOT_FOUND",
      message: 'Dockerfile: target stage "1" not found',
    });
    expect(failure(() => targetStage(plan("FROM a\nFROM b\n"), "0", "Dockerfile"))).toMatchObject({
      hint: "no stage has a name (FROM … AS NAME)",
    });
  });
});

describe("neededStages", () => {
  const p = plan(MULTI);
  const globals = new Map([["BASE", "alpine"]]);

  it("follows FROM, COPY --from and RUN --mount from= transitively, in Dockerfile order", () => {
    expect(neededStages(p, p.stages[4]!, globals, "Dockerfile").map((s) => s.index)).toEqual([0, 1, 2, 4]);
    expect(neededStages(p, p.stages[1]!, globals, "Dockerfile").map((s) => s.index)).toEqual([1]);
  });

  it("expands the base with the global ARGs", () => {
    const q = plan("ARG B=first\nFROM a AS first\nFROM $B\n");
    expect(
      neededStages(q, q.stages[1]!, new Map([["B", "first"]]), "Dockerfile").map((s) => s.index),
    ).toEqual([0, 1]);
    expect(
      neededStages(q, q.stages[1]!, new Map([["B", "other"]]), "Dockerfile").map((s) => s.index),
    ).toEqual([1]);
  });

  it("takes an unknown --from as an image, but refuses one naming a later stage or a stage index", () => {
    const q = plan("FROM a\nCOPY --from=alpine:3 /a /a\nCOPY --from=later /b /b\nFROM b AS later\n");
    expect(failure(() => neededStages(q, q.stages[0]!, new Map(), "Dockerfile"))).toEqual({
      code: "DOCKERFILE_STAGE_NOT_FOUND",
      message: 'Dockerfile:3: stage "later" not found before this instruction',
    });
    const r = plan("FROM a\nCOPY --from=alpine:3 /a /a\nRUN --mount=from=5,target=/m true\n");
    expect(failure(() => neededStages(r, r.stages[0]!, new Map(), "Dockerfile")).message).toBe(
      'Dockerfile:3: stage "5" not found before this instruction',
    );
  });

  it("FROM names an earlier stage by name only, as BuildKit: FROM 0 is an image", () => {
    const q = plan("FROM a AS first\nFROM 0\nFROM first\n");
    expect(neededStages(q, q.stages[1]!, new Map(), "Dockerfile").map((s) => s.index)).toEqual([1]);
    expect(neededStages(q, q.stages[2]!, new Map(), "Dockerfile").map((s) => s.index)).toEqual([0, 2]);
  });

  it("a stage reading from itself is a circular dependency", () => {
    const q = plan("FROM a AS build\nCOPY --from=build /x /x\n");
    expect(failure(() => neededStages(q, q.stages[0]!, new Map(), "Dockerfile")).message).toBe(
      'Dockerfile:2: stage "build" reads from itself (a circular dependency)',
    );
  });

  it("checks ONBUILD triggers of the stages it needs", () => {
    const q = plan("FROM a\nONBUILD FROM b\n");
    expect(failure(() => neededStages(q, q.stages[0]!, new Map(), "Dockerfile")).message).toBe(
      "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger",
    );
  });
});

describe("noCacheStages", () => {
  it("--no-cache-filter's stages by name or index; one the Dockerfile lacks is refused, listing the stages", () => {
    const p = plan("FROM a AS one\nFROM b\nFROM c AS three\n");
    expect([...noCacheStages(p.stages, ["THREE", "1"])]).toEqual([2, 1]);
    expect(failure(() => noCacheStages(p.stages, ["four"]))).toEqual({
      code: "USAGE",
      message: '--no-cache-filter "four": the Dockerfile has no stage of that name',
      hint: "the stages are: one, 1, three",
    });
  });
});
