// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
/**
 * BuildKit's build checks (src/dockerfile/lint.ts) against BuildKit v0.26.2's own (test/helpers/lint-oracle):
 * each Dockerfile of the corpus gives the same warnings (rule, sentence, URL, description, lines) in the same
 * order, and the same error, under `--check` (every stage) and, for some, a build (the target's stages).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { checkJson, checkReport } from "../../src/dockerfile/check.ts";
import { checkConfig, type LintResult, lintDockerfile } from "../../src/dockerfile/lint.ts";
import { type CheckConfig, parseCheckOptions, RULES, ruleUrl } from "../../src/dockerfile/lint-rules.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";
import { createMatcher, parseIgnoreFile } from "../../src/layer/ignore.ts";
import type { ContainerConfig } from "../../src/oci/config.ts";
import { type LintAnswer, type LintQuestion, lintOracle } from "../helpers/lint-oracle.ts";
import { ORACLE_CORPUS } from "./buildkit/helpers/corpus.ts";

interface Case {
  name: string;
  dockerfile: string;
  mode?: "lint" | "build";
  buildArgs?: Record<string, string>;
  target?: string;
  images?: Record<string, { config: ContainerConfig }>;
  /** Rules the case is there for: the oracle must give each (so a case cannot pass by giving nothing). */
  expects: string[];
}

const image = (env: string[], shell?: string[], onbuild?: string[]) => ({
  architecture: "amd64",
  os: "linux",
  config: { Env: env, ...(shell ? { Shell: shell } : {}), ...(onbuild ? { OnBuild: onbuild } : {}) },
  rootfs: {
    type: "layers",
    diff_ids: ["sha256:0000000000000000000000000000000000000000000000000000000000000000"],
  },
});

const CASES: Case[] = [
  { name: "clean", dockerfile: 'FROM alpine\nRUN echo hi\nCMD ["sh"]\n', expects: [] },
  { name: "FROM x As y", dockerfile: "FROM alpine As build\nRUN true\n", expects: ["FromAsCasing"] },
  { name: "from x AS y", dockerfile: "from alpine AS build\nrun true\n", expects: ["FromAsCasing"] },
  { name: "FROM x as y", dockerfile: "FROM alpine as build\nRUN true\n", expects: ["FromAsCasing"] },
  {
    name: "From (mixed) as",
    dockerfile: "From alpine as build\nRUN true\n",
    expects: ["ConsistentInstructionCasing"],
  },
  { name: "stage name casing", dockerfile: "FROM alpine AS Build\nRUN true\n", expects: ["StageNameCasing"] },
  {
    name: "lowercase majority",
    dockerfile: "from alpine\nrun true\nRUN false\nworkdir /app\nCopy . .\n",
    expects: ["ConsistentInstructionCasing"],
  },
  {
    name: "uppercase majority",
    dockerfile: "FROM alpine\nrun true\nRUN false\nWORKDIR /app\n",
    expects: ["ConsistentInstructionCasing"],
  },
  {
    name: "even casing counts uppercase",
    dockerfile: "FROM alpine\nrun true\n",
    expects: ["ConsistentInstructionCasing"],
  },
  {
    name: "empty continuation lines",
    dockerfile:
      "FROM alpine\nRUN echo a && \\\n\n  echo b && \\\n   \n  echo c\nRUN echo d \\\n# comment\n  && echo e\n",
    expects: ["NoEmptyContinuation"],
  },
  {
    name: "duplicate stage name",
    dockerfile: "FROM alpine AS a\nFROM alpine AS a\nFROM a\n",
    expects: ["DuplicateStageName"],
  },
  {
    name: "duplicate stage name in other casing",
    dockerfile: "FROM alpine AS a\nFROM alpine AS A\nFROM a\n",
    expects: ["DuplicateStageName", "StageNameCasing"],
  },
  {
    name: "FROM scratch AS scratch",
    dockerfile: "FROM scratch AS scratch\n",
    expects: ["ReservedStageName"],
  },
  {
    name: "AS context",
    dockerfile: "FROM alpine AS context\nFROM context\n",
    expects: ["ReservedStageName"],
  },
  { name: "CMD shell form", dockerfile: "FROM alpine\nCMD echo hi\n", expects: ["JSONArgsRecommended"] },
  {
    name: "ENTRYPOINT shell form",
    dockerfile: "FROM alpine\nentrypoint echo hi\n",
    expects: ["JSONArgsRecommended", "ConsistentInstructionCasing"],
  },
  {
    name: "shell form after SHELL",
    dockerfile: 'FROM alpine\nSHELL ["/bin/bash", "-c"]\nCMD echo hi\n',
    expects: [],
  },
  {
    name: "shell form on an image with a shell",
    dockerfile: "FROM shelled\nCMD echo hi\n",
    images: { "docker.io/library/shelled:latest": image([], ["/bin/bash", "-c"]) },
    expects: [],
  },
  {
    name: "SHELL inherited from a stage",
    dockerfile: 'FROM alpine AS base\nSHELL ["/bin/ash", "-c"]\nFROM base\nCMD echo hi\n',
    expects: [],
  },
  {
    name: "MAINTAINER",
    dockerfile: "FROM alpine\nMAINTAINER me <me@example.com>\n",
    expects: ["MaintainerDeprecated"],
  },
  {
    name: "CMD twice",
    dockerfile:
      'FROM alpine\nCMD ["a"]\nRUN true\nCMD ["b"]\nENTRYPOINT ["x"]\nENTRYPOINT ["y"]\nHEALTHCHECK NONE\nHEALTHCHECK CMD ["true"]\n',
    expects: ["MultipleInstructionsDisallowed"],
  },
  {
    name: "CMD once a stage",
    dockerfile: 'FROM alpine AS a\nCMD ["a"]\nFROM a\nCMD ["b"]\n',
    expects: [],
  },
  {
    name: "ARG before FROM without a default",
    dockerfile: "ARG BASE\nFROM $BASE\n",
    buildArgs: { BASE: "alpine" },
    expects: ["InvalidDefaultArgInFrom"],
  },
  {
    name: "ARG before FROM with a default",
    dockerfile: "ARG BASE=alpine\nARG TAG=3.20\nFROM $BASE:${TAG}\n",
    expects: [],
  },
  {
    name: "ARG default that makes no image name",
    dockerfile: "ARG VERSION\nFROM alpine:$VERSION\n",
    buildArgs: { VERSION: "3" },
    expects: ["InvalidDefaultArgInFrom"],
  },
  {
    name: "FROM with an undeclared ARG",
    dockerfile: "ARG VERSION=3\nFROM alpine:${VERSIN}\n",
    expects: ["UndefinedArgInFrom"],
  },
  {
    name: "FROM ${X:-default} undeclared",
    dockerfile: "FROM alpine:${TAG:-latest}\n",
    expects: ["UndefinedArgInFrom"],
  },
  {
    name: "blank base stops the checks",
    dockerfile: "ARG BASE\nFROM $BASE AS b\nCMD echo\n",
    expects: ["InvalidDefaultArgInFrom"],
  },
  {
    name: "ENV a b and LABEL a b",
    dockerfile: 'FROM alpine\nENV a b\nLABEL version 1.0\nENV c=d e="f g"\nLABEL x=y\n',
    expects: ["LegacyKeyValueFormat"],
  },
  {
    name: "env lowercase legacy",
    dockerfile: "from alpine\nenv a b c\n",
    expects: ["LegacyKeyValueFormat"],
  },
  {
    name: "EXPOSE 80/TCP",
    dockerfile: "FROM alpine\nEXPOSE 80/TCP 53/udp 8080\n",
    expects: ["ExposeProtoCasing"],
  },
  {
    name: "EXPOSE 127.0.0.1:80:80",
    dockerfile: "FROM alpine\nEXPOSE 127.0.0.1:80:80 8080:80/Udp :90\n",
    expects: ["ExposeInvalidFormat", "ExposeProtoCasing"],
  },
  {
    name: "EXPOSE with a variable",
    dockerfile: "FROM alpine\nENV P=80/TCP\nEXPOSE $P\n",
    expects: ["ExposeProtoCasing"],
  },
  {
    name: "ARG PASSWORD",
    dockerfile: "FROM alpine\nARG PASSWORD\nARG public_key\nARG GITHUB_TOKEN=x\nARG keyboard\n",
    expects: ["SecretsUsedInArgOrEnv"],
  },
  {
    name: "ENV API_TOKEN=x",
    dockerfile: "FROM alpine\nENV API_TOKEN=x AUTH=y\nENV db_password z\n",
    expects: ["SecretsUsedInArgOrEnv", "LegacyKeyValueFormat"],
  },
  {
    name: "FROM --platform=linux/amd64",
    dockerfile: "FROM --platform=linux/amd64 alpine\nRUN true\n",
    expects: ["FromPlatformFlagConstDisallowed"],
  },
  {
    name: "FROM --platform=linux/amd64 in a stage named for it",
    dockerfile: "FROM --platform=linux/amd64 alpine AS build-amd64\nRUN true\n",
    expects: [],
  },
  {
    name: "FROM --platform=$BUILDPLATFORM",
    dockerfile: "FROM --platform=$BUILDPLATFORM alpine AS build\nRUN true\n",
    expects: [],
  },
  {
    name: "FROM --platform=$TARGETPLATFORM",
    dockerfile: "FROM --platform=$TARGETPLATFORM alpine\nFROM --platform=${TARGETPLATFORM} alpine\n",
    expects: ["RedundantTargetPlatform"],
  },
  {
    name: "FROM --platform with an undeclared ARG",
    dockerfile: "FROM --platform=$BUILDPLATFORMS alpine\n",
    expects: ["UndefinedArgInFrom"],
  },
  {
    name: "WORKDIR relative",
    dockerfile: "FROM alpine\nWORKDIR app\nWORKDIR sub\n",
    expects: ["WorkdirRelativePath"],
  },
  {
    name: "WORKDIR relative after absolute",
    dockerfile: "FROM alpine\nWORKDIR /app\nWORKDIR sub\n",
    expects: [],
  },
  {
    name: "WORKDIR absolute in a base stage",
    dockerfile: "FROM alpine AS base\nWORKDIR /app\nFROM base\nWORKDIR sub\n",
    expects: [],
  },
  {
    name: "$VAR in ENV from the base image",
    dockerfile: "FROM golang\nENV GOFLAGS=-mod=$GOMODE PATH=$GOPATH/bin:$PATH\nUSER $USR\n",
    images: { "docker.io/library/golang:latest": image(["GOPATH=/go", "PATH=/usr/bin"]) },
    expects: ["UndefinedVar"],
  },
  {
    name: "$VAR in RUN is the shell's",
    dockerfile: "FROM alpine\nRUN echo $NOPE\nRUN --mount=type=cache,target=/c$CACHE_DIR true\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "ENV in one stage used in another",
    dockerfile: "FROM alpine AS a\nENV APP_HOME=/app\nFROM alpine\nWORKDIR $APP_HOME\n",
    expects: ["UndefinedVar", "WorkdirRelativePath"],
  },
  {
    name: "ENV inherited from a base stage",
    dockerfile: "FROM alpine AS a\nENV APP_HOME=/app\nFROM a\nWORKDIR $APP_HOME\n",
    expects: [],
  },
  {
    name: "suggestion",
    dockerfile: "FROM alpine\nENV FOOBAR=1\nCOPY a /$FOOBAZ/\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "ARG without value is no undefined variable",
    dockerfile: "FROM alpine\nARG VERSION\nARG OTHER=${VERSION}-x\nLABEL v=$VERSION o=$OTHER u=$UNSET\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "global ARG brought into the stage",
    dockerfile: "ARG TAG=1\nFROM alpine\nARG TAG\nLABEL tag=$TAG\nLABEL other=$TARGETARCH\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "same ENV expands the earlier value",
    dockerfile: "FROM alpine\nENV A=1 B=$A\nVOLUME $B/x /data\nSTOPSIGNAL SIG$SIG\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "COPY and ADD options and heredocs",
    dockerfile:
      "FROM alpine\nCOPY --chown=$OWNER a b\nADD --chmod=$MODE --checksum=$SUM https://x/y /z\nCOPY <<EOF /f\n$BODY\nEOF\nCOPY <<'EOF' /g\n$RAW\nEOF\nRUN <<EOF\necho $SHELLVAR\nEOF\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "BUILDKIT_SBOM_SCAN_STAGE is never undefined",
    dockerfile: "FROM alpine\nLABEL s=$BUILDKIT_SBOM_SCAN_STAGE\n",
    expects: [],
  },
  {
    name: "heredoc RUN with an empty continuation before it",
    dockerfile: 'FROM alpine\nRUN \\\n\n  <<EOF\ntrue\nEOF\nCMD ["x"]\n',
    expects: ["NoEmptyContinuation"],
  },
  {
    name: "unreachable stage is checked by --check",
    dockerfile: "FROM alpine AS unused\nWORKDIR rel\nCMD echo\nFROM alpine\nRUN true\n",
    expects: ["WorkdirRelativePath", "JSONArgsRecommended"],
  },
  {
    name: "unreachable stage is not checked by a build",
    mode: "build",
    dockerfile: "FROM alpine AS unused\nWORKDIR rel\nCMD echo\nFROM alpine\nRUN true\nCMD echo\n",
    expects: ["JSONArgsRecommended"],
  },
  {
    name: "a build's target and what it copies from",
    mode: "build",
    target: "mid",
    dockerfile:
      "FROM alpine AS dep\nWORKDIR rel\nFROM alpine AS mid\nCOPY --from=dep /a /b\nCMD echo\nFROM alpine AS last\nCMD echo\n",
    expects: ["WorkdirRelativePath", "JSONArgsRecommended"],
  },
  {
    name: "--check with a target walks its stages only",
    target: "a",
    dockerfile: "FROM alpine AS a\nCMD echo\nFROM alpine AS b\nWORKDIR rel\n",
    expects: ["JSONArgsRecommended"],
  },
  {
    name: "TARGETSTAGE names the target",
    mode: "build",
    dockerfile: "FROM alpine:$TARGETSTAGE AS a\n",
    expects: [],
  },
  {
    name: "check=skip",
    dockerfile:
      "# check=skip=JSONArgsRecommended,MaintainerDeprecated\nFROM alpine\nCMD echo\nMAINTAINER me\nWORKDIR rel\n",
    expects: ["WorkdirRelativePath"],
  },
  {
    name: "check=skip=all",
    dockerfile: "# check=skip=all\nFROM alpine\nCMD echo\n",
    expects: [],
  },
  {
    name: "check=error=true",
    dockerfile: "# check=error=true\nFROM alpine\nCMD echo\nMAINTAINER x\n",
    expects: ["JSONArgsRecommended"],
  },
  {
    name: "check=error=true in a build",
    mode: "build",
    dockerfile: "# check=error=true\nFROM alpine\nCMD echo\n",
    expects: ["JSONArgsRecommended"],
  },
  {
    name: "check=error=true without warnings",
    dockerfile: "# check=error=true\nFROM alpine\n",
    expects: [],
  },
  {
    name: "experimental rules",
    dockerfile:
      "# check=experimental=InvalidDefinitionDescription\n# base image\nFROM alpine AS base\n# TAG the tag\nARG TAG=1\n\n# other comment\nARG A B\n# A says\nARG A\n",
    expects: ["InvalidDefinitionDescription"],
  },
  {
    name: "experimental=all: a comment above, a blank line between, a bare # between",
    dockerfile:
      "# check=experimental=all\n# foo bar\n\nARG X\n# stage\n#\nFROM alpine AS base\n# Y is why\nARG Y=1 Z\n",
    expects: ["InvalidDefinitionDescription"],
  },
  {
    name: "experimental rules off",
    dockerfile: "# base image\nFROM alpine AS base\n",
    expects: [],
  },
  {
    name: "several undefined variables in one word",
    dockerfile: "FROM alpine\nLABEL a=$ONE$TWO${THREE:-x}\nENV $KEY=v\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "escaped dollar and single quotes",
    dockerfile: "FROM alpine\nLABEL a=\\$NOPE b='$NOPE2' c=\"$YES\"\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "ARG with quotes and an ARG shadowing ENV",
    dockerfile: 'FROM alpine\nENV X=1\nARG X\nARG Y="a b"\nLABEL x=$X y="$Y"\n',
    expects: [],
  },
  {
    name: "global ARG without a value, declared in the stage",
    dockerfile: "ARG V\nFROM alpine\nARG V\nLABEL v=$V\n",
    expects: [],
  },
  {
    name: "ONBUILD and a stage FROM a stage with ONBUILD",
    dockerfile: 'FROM alpine AS base\nONBUILD RUN echo $X\nFROM base\nCMD ["x"]\n',
    expects: [],
  },
  {
    name: "ONBUILD triggers of a base stage run in the stage FROM it",
    dockerfile:
      'FROM alpine AS base\nONBUILD WORKDIR rel\nONBUILD ENV a b\nONBUILD LABEL l=$NOPE\nFROM base AS child\nCMD ["x"]\n',
    expects: ["WorkdirRelativePath", "LegacyKeyValueFormat", "UndefinedVar"],
  },
  {
    name: "ONBUILD triggers of a base image",
    dockerfile: 'FROM triggered\nCMD ["x"]\n',
    images: { "docker.io/library/triggered:latest": image([], undefined, ["WORKDIR rel", "CMD echo"]) },
    expects: ["WorkdirRelativePath", "JSONArgsRecommended", "MultipleInstructionsDisallowed"],
  },
  {
    name: "EXPOSE ranges and IPv6",
    dockerfile: "FROM alpine\nEXPOSE 80-90/TCP [::1]:80:80 ::90 8000-8001:80-81\n",
    expects: ["ExposeProtoCasing", "ExposeInvalidFormat"],
  },
  {
    name: "FROM --platform constant in a stage named for another",
    dockerfile:
      "FROM --platform=linux/arm64 alpine AS amd\nFROM --platform=linux/arm64 alpine AS linux-build\n",
    expects: ["FromPlatformFlagConstDisallowed"],
  },
  {
    name: "lowercase instructions name themselves as written",
    dockerfile: "from alpine\ncmd echo\ncmd echo\nhealthcheck none\nhealthcheck cmd true\nlabel a b\n",
    expects: ["JSONArgsRecommended", "MultipleInstructionsDisallowed", "LegacyKeyValueFormat"],
  },
  {
    name: "shell of a base image, CMD in a stage FROM it",
    dockerfile: "FROM shelled AS a\nFROM a\nENTRYPOINT echo\nCMD echo\n",
    images: { "docker.io/library/shelled:latest": image(["A=1"], ["/bin/bash", "-c"]) },
    expects: [],
  },
  {
    name: "a build with the base image's env",
    mode: "build",
    dockerfile: "FROM golang\nWORKDIR $GOPATH/src\nENV P=$GOPTAH\n",
    images: { "docker.io/library/golang:latest": image(["GOPATH=/go"]) },
    expects: ["UndefinedVar"],
  },
  {
    name: "empty continuation at the end",
    dockerfile: "FROM alpine\nRUN echo \\\n\n  hi \\\n\n",
    expects: ["NoEmptyContinuation"],
  },
  {
    name: "check directive: BuildKit reads its value up to the first space",
    dockerfile:
      "# check = skip = JSONArgsRecommended , WorkdirRelativePath ; error = false\nFROM alpine\nCMD echo\nWORKDIR x\nMAINTAINER m\n",
    expects: [],
  },
  {
    name: "check directive cut at its first space",
    dockerfile:
      "# check=skip=JSONArgsRecommended, MaintainerDeprecated\nFROM alpine\nCMD echo\nMAINTAINER m\n",
    expects: ["MaintainerDeprecated"],
  },
  {
    name: "COPY --from a stage and from an image",
    dockerfile:
      "FROM alpine AS a\nCOPY --from=busybox:latest /bin/sh /sh\nFROM alpine\nCOPY --chown=$U --from=a /x /y\n",
    expects: ["UndefinedVar"],
  },
  {
    name: "USER, VOLUME JSON, STOPSIGNAL, WORKDIR with ARG values",
    dockerfile:
      'FROM alpine\nARG U=app D=/data\nUSER $U:$G\nVOLUME ["$D", "$E/x"]\nWORKDIR $D\nSTOPSIGNAL $SIG\n',
    expects: ["UndefinedVar"],
  },
  {
    name: "escape directive",
    dockerfile: "# escape=`\nFROM alpine\nRUN echo a `\n\n  b\nENV X=`$Y\nWORKDIR C:`\\x\n",
    expects: ["NoEmptyContinuation"],
  },
];

const question = (c: Case): LintQuestion => ({
  dockerfile: c.dockerfile,
  mode: c.mode ?? "lint",
  ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}),
  ...(c.target ? { target: c.target } : {}),
  ...(c.images ? { images: c.images } : {}),
});

/** Warnings BuildKit gives in Go map order (several undefined variables in one instruction): sorted there. */
function settled<T extends { rule: string; detail: string; line: number }>(ws: T[]): T[] {
  const out = [...ws];
  for (let i = 1; i < out.length; i++) {
    for (let j = i; j > 0; j--) {
      const [a, b] = [out[j - 1]!, out[j]!];
      if (a.rule === b.rule && a.line === b.line && a.detail > b.detail) [out[j - 1], out[j]] = [b, a];
      else break;
    }
  }
  return out;
}

async function berthLint(c: Case): Promise<LintResult> {
  const df = parseDockerfile(c.dockerfile);
  const plan = splitStages(df);
  let config: CheckConfig;
  try {
    config = checkConfig(df, c.buildArgs);
  } catch (err) {
    return { warnings: [], error: (err as Error).message.replace(/^Dockerfile: /, "") };
  }
  const amd64 = { os: "linux", architecture: "amd64" };
  return lintDockerfile({
    df,
    plan,
    buildArgs: c.buildArgs ?? {},
    target: c.target,
    all: (c.mode ?? "lint") === "lint",
    platform: amd64,
    buildPlatform: amd64,
    config,
    image: async (ref) => {
      const full = ref.includes("/") || ref.includes(":") ? ref : `docker.io/library/${ref}:latest`;
      return c.images?.[full]?.config;
    },
  });
}

async function berth(c: Case) {
  const r = await berthLint(c);
  return {
    warnings: settled(
      r.warnings.map((w) => ({
        rule: w.rule as string,
        description: RULES[w.rule] as string,
        url: ruleUrl(w.rule),
        detail: w.detail,
        line: w.line,
        endLine: w.endLine,
      })),
    ),
    error: checkError(r.error),
  };
}

const oracle = (a: LintAnswer) => ({
  warnings: settled(
    a.warnings.map((w) => ({
      rule: w.rule,
      description: w.description,
      url: w.url,
      detail: w.detail,
      line: w.ranges[0]?.start ?? 0,
      endLine: w.ranges[w.ranges.length - 1]?.end ?? 0,
    })),
  ),
  error: checkError(a.error),
});

/**
 * The errors the checks themselves give (error=true's, a blank base); BuildKit's rules in Go map order. Other
 * errors BuildKit stops on are the build's to give (they are tested where it gives them).
 */
function checkError(e: string | undefined): string | undefined {
  const violation = "lint violation found for rules: ";
  if (e?.startsWith(violation)) return violation + e.slice(violation.length).split(", ").sort().join(", ");
  return e?.startsWith("base name (") || e?.startsWith("failed to parse check options") ? e : undefined;
}

describe("lintDockerfile against BuildKit v0.26.2", () => {
  let answers: LintAnswer[];
  beforeAll(async () => {
    answers = await lintOracle(CASES.map(question));
  }, 600_000);

  it("has a case for every rule but CopyIgnoredFile (the oracle has no build context)", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    const tripped = new Set(answers.flatMap((a) => a.warnings.map((w) => w.rule)));
    expect([...tripped].sort()).toEqual(
      Object.keys(RULES)
        .filter((r) => r !== "CopyIgnoredFile")
        .sort(),
    );
  });

  it.each(CASES.map((c, n) => [c.name, n] as const))("%s", async (_name, n) => {
    const c = CASES[n]!;
    const want = oracle(answers[n]!);
    for (const rule of c.expects) expect(want.warnings.map((w) => w.rule)).toContain(rule);
    expect(await berth(c)).toEqual(want);
  });

  const reported = CASES.flatMap((c, n) => ((c.mode ?? "lint") === "lint" ? [[c.name, n] as const] : []));
  it.each(reported)("%s: --check's JSON and text as BuildKit's and buildx's", async (_name, n) => {
    const c = CASES[n]!;
    const a = answers[n]!;
    const lint = await berthLint(c);
    const r = {
      name: "Dockerfile",
      text: c.dockerfile,
      warnings: lint.warnings,
      ...(lint.error ? { error: lint.error } : {}),
    };
    const ours = JSON.parse(checkJson(r));
    const theirs = JSON.parse(a.result!);
    delete theirs.sources[0].definition;
    const order = (doc: {
      warnings: { ruleName: string; detail: string; location: { ranges: { start: { line: number } }[] } }[];
    }) =>
      settled(
        (doc.warnings ?? []).map((w) => ({ ...w, rule: w.ruleName, line: w.location.ranges[0]!.start.line })),
      );
    expect(order(ours)).toEqual(order(theirs));
    if (theirs.buildError || ours.buildError) {
      expect(checkError(ours.buildError?.message)).toBe(checkError(theirs.buildError?.message));
      return;
    }
    expect(ours.warnings === null).toBe(theirs.warnings === null);
    expect({ ...ours, warnings: [] }).toEqual({ ...theirs, warnings: [] });
    // the text: buildx's printResult around BuildKit's PrintTo (where Go's map order cannot change it)
    const keys = a.warnings.map((w) => `${w.rule} ${w.ranges[0]?.start}`);
    if (new Set(keys).size !== keys.length) return;
    const n0 = a.warnings.length;
    const head =
      n0 === 0
        ? ""
        : `Check complete, ${n0 === 1 ? "1 warning has been found!" : `${n0} warnings have been found!`}\n`;
    expect(checkReport(r, "Dockerfile")).toBe(
      head + (a.text ?? "") + (n0 === 0 ? "Check complete, no warnings found.\n" : ""),
    );
  });
});

describe("the differential corpus's Dockerfiles (test/dockerfile/buildkit), checked as BuildKit checks them", () => {
  const corpus: Case[] = ORACLE_CORPUS.map((o) => ({
    name: o.name,
    dockerfile: o.dockerfile.replaceAll("{{BASE}}", "base").replaceAll("{{URL}}", "http://127.0.0.1:1"),
    ...(o.buildArgs
      ? {
          buildArgs: Object.fromEntries(
            o.buildArgs.map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
          ),
        }
      : {}),
    ...(o.target ? { target: o.target } : {}),
    images: { "docker.io/library/base:latest": image(["PATH=/bin"]) },
    expects: [],
  }));
  let answers: LintAnswer[];
  beforeAll(async () => {
    answers = await lintOracle(corpus.map(question));
  }, 600_000);

  it.each(corpus.map((c, n) => [c.name, n] as const))("%s", async (_name, n) => {
    expect(await berth(corpus[n]!)).toEqual(oracle(answers[n]!));
  });
});

describe("parseCheckOptions against BuildKit's ParseLintOptions", () => {
  const OPTIONS = [
    "skip=A,B",
    " skip = all ; error = true ",
    "experimental=all;skip=X",
    "error=1",
    "error=maybe",
    "skip",
    "wrong=1",
    "skip=A;error=false;experimental=B;more=1",
    "",
  ];
  let answers: LintAnswer[];
  beforeAll(async () => {
    answers = await lintOracle(OPTIONS.map((checkOption) => ({ checkOption })));
  }, 600_000);

  it.each(OPTIONS.map((o, n) => [o, n] as const))("%j", (o, n) => {
    const a = answers[n]!;
    if (a.error) {
      expect(() => parseCheckOptions(o, "BUILDKIT_DOCKERFILE_CHECK")).toThrow(
        `BUILDKIT_DOCKERFILE_CHECK: ${a.error}`,
      );
      return;
    }
    const c = parseCheckOptions(o, "BUILDKIT_DOCKERFILE_CHECK");
    expect({
      skipAll: c.skipAll,
      skip: c.skip,
      experimentalAll: c.experimentalAll,
      experimental: c.experimental,
      error: c.error,
    }).toEqual({
      skipAll: a.config!.SkipAll,
      skip: a.config!.SkipRules ?? [],
      experimentalAll: a.config!.ExperimentalAll,
      experimental: a.config!.ExperimentalRules ?? [],
      error: a.config!.ReturnAsError,
    });
  });
});

describe("CopyIgnoredFile (experimental; the oracle has no build context: BuildKit's sentence from its ruleset)", () => {
  const run = async (text: string) => {
    const df = parseDockerfile(text);
    const amd64 = { os: "linux", architecture: "amd64" };
    const r = await lintDockerfile({
      df,
      plan: splitStages(df),
      all: true,
      platform: amd64,
      buildPlatform: amd64,
      config: parseCheckOptions(df.check, "the check directive"),
      ignore: createMatcher(parseIgnoreFile("secret.txt\nbuild\n"), "dockerignore", ".dockerignore"),
      image: async () => undefined,
    });
    return r.warnings.map((w) => `${w.rule}: ${w.detail} (line ${w.line})`);
  };

  it("names each excluded source of COPY and ADD, or one under an excluded folder", async () => {
    expect(
      await run(
        "# check=experimental=CopyIgnoredFile\nFROM alpine AS a\nCOPY secret.txt app.js /app/\nADD build/out.js https://x/secret.txt /b/\nFROM alpine\nCOPY --from=a secret.txt /\n",
      ),
    ).toEqual([
      'CopyIgnoredFile: Attempting to Copy file "secret.txt" that is excluded by .dockerignore (line 3)',
      'CopyIgnoredFile: Attempting to Add file "build/out.js" that is excluded by .dockerignore (line 4)',
    ]);
  });

  it("is silent unless experimental= asks for it", async () => {
    expect(await run("FROM alpine\nCOPY secret.txt /\n")).toEqual([]);
  });
});
