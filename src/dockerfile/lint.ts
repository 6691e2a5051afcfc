/**
 * BuildKit's build checks on a Dockerfile (v0.26.2's dockerfile2llb, rule for rule): the parse-time ones (empty
 * continuation lines, MAINTAINER, FROM's casing, stage names, the instructions' casing), the FROM ones (its
 * global ARGs, `--platform`), then each stage walked as BuildKit dispatches it (variables each instruction
 * expands, ENV/LABEL/ARG keys, WORKDIR, CMD/ENTRYPOINT/HEALTHCHECK, EXPOSE), in BuildKit's order. The stages
 * walked are the target's (a build) or every one (`--check` without a target); an image a stage starts FROM
 * gives its environment and shell through `image`. No step runs and nothing is written.
 */
import type { Matcher } from "../layer/ignore.ts";
import type { ContainerConfig } from "../oci/config.ts";
import { formatPlatform, type Platform, parsePlatform } from "../oci/platform.ts";
import { parseReference } from "../oci/reference.ts";
import { parseImageArgument } from "../transport/parse.ts";
import type { Vars } from "./expand.ts";
import { CHECK_ARG, type CheckConfig, Checks, type LintWarning, parseCheckOptions } from "./lint-rules.ts";
import {
  argWords,
  cloneState,
  type Expanded,
  imageState,
  type StageState,
  StageWalk,
  setVar,
  suggest,
  tryExpand,
} from "./lint-stage.ts";
import { type Dockerfile, type Instruction, parseTrigger } from "./parse.ts";
import { findBaseStage, neededStages, type Stage, type StagePlan } from "./stage.ts";

export interface LintInputs {
  df: Dockerfile;
  plan: StagePlan;
  buildArgs?: Readonly<Record<string, string>>;
  /** `--target`; none: the last stage. */
  target?: string | undefined;
  /** Every stage (`--check` without a target), not only those the target needs. */
  all: boolean;
  platform: Platform;
  buildPlatform: Platform;
  config: CheckConfig;
  /** The build's .dockerignore rules (the experimental CopyIgnoredFile). */
  ignore?: Matcher | undefined;
  /** The config of the image a stage starts FROM (its Env and Shell). */
  image: (ref: string, platform: Platform) => Promise<ContainerConfig | undefined>;
}

export interface LintResult {
  warnings: LintWarning[];
  /** Why BuildKit would stop: `error=true` with warnings, or a FROM it cannot read. */
  error?: string;
}

/** What the checks are asked: BUILDKIT_DOCKERFILE_CHECK when given (whatever the directive says), else `# check=`. */
export function checkConfig(
  df: Dockerfile,
  buildArgs: Readonly<Record<string, string>> | undefined,
): CheckConfig {
  const arg = buildArgs?.[CHECK_ARG];
  if (arg !== undefined) return parseCheckOptions(arg, `failed to parse ${CHECK_ARG}`);
  // BuildKit's ParseDirective hands the linter the value up to its first space
  return parseCheckOptions(df.check?.split(" ")[0], `${df.name}: failed to parse check options`);
}

const RESERVED = new Set(["context", "scratch"]);

/** The checks' warnings on a Dockerfile, in BuildKit's order. */
export async function lintDockerfile(i: LintInputs): Promise<LintResult> {
  const c = new Checks(i.config);
  parseChecks(c, i.df, i.plan);
  const from = fromChecks(c, i);
  if ("error" in from) return { warnings: c.warnings, error: from.error };
  const walked = walkedStages(i, from.globals);
  const configs = await Promise.all(
    walked.map((s) => {
      const base = from.bases[s.index]!;
      return base.stage || base.name === "scratch" ? undefined : i.image(base.name, base.platform);
    }),
  );
  const states = new Map<number, StageState>();
  walked.forEach((s, n) => {
    const base = from.bases[s.index]!;
    const inherited = base.stage ? states.get(base.stage.index) : undefined;
    const st = inherited ? cloneState(inherited) : imageState(configs[n]);
    const walkInputs = { escape: i.df.escape, buildArgs: i.buildArgs, ignore: i.ignore };
    new StageWalk(c, walkInputs, st, from.globals).walk([
      ...triggers(base.stage, configs[n], s, i.df.name),
      ...s.instructions,
    ]);
    states.set(s.index, st);
  });
  const error = c.error();
  return { warnings: c.warnings, ...(error ? { error } : {}) };
}

/** The checks BuildKit makes while parsing: before any variable is known. */
function parseChecks(c: Checks, df: Dockerfile, plan: StagePlan): void {
  for (const ins of df.instructions) {
    if (ins.emptyContinuation !== undefined) {
      c.run("NoEmptyContinuation", at(ins.emptyContinuation), "Empty continuation line");
    }
  }
  for (const ins of df.instructions) {
    if (ins.keyword === "MAINTAINER") {
      c.run("MaintainerDeprecated", ins, "Maintainer instruction is deprecated in favor of using label");
    } else if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/).filter(Boolean);
      if (words.length === 3 && words[2] !== words[2]!.toLowerCase()) {
        c.run("StageNameCasing", ins, `Stage name '${words[2]}' should be lowercase`);
      }
      if (words.length >= 3 && !asMatchesFrom(ins.word, words[1]!)) {
        c.run("FromAsCasing", ins, `'${words[1]}' and '${ins.word}' keywords' casing do not match`);
      }
      if (words.length === 3) describes(c, ins, "FROM", [words[2]!.toLowerCase()]);
    } else if (ins.keyword === "ARG") {
      describes(
        c,
        ins,
        "ARG",
        argWords(ins).map((w) => w.key),
      );
    }
  }
  const names = new Set<string>();
  for (const s of plan.stages) {
    if (s.name === undefined) continue;
    if (RESERVED.has(s.name)) {
      c.run(
        "ReservedStageName",
        s.from,
        `Stage name should not use the same name as reserved stage "${s.name}"`,
      );
    }
    if (names.has(s.name)) {
      c.run("DuplicateStageName", s.from, `Duplicate stage name "${s.name}", stage names should be unique`);
    }
    names.add(s.name);
  }
  casingChecks(c, plan);
}

/** FROM's `as` in the casing of FROM itself (a mixed-case FROM is the casing check's business). */
function asMatchesFrom(from: string, as: string): boolean {
  if (from === from.toLowerCase()) return as === as.toLowerCase();
  if (from === from.toUpperCase()) return as === as.toUpperCase();
  return true;
}

/** The experimental InvalidDefinitionDescription: a comment right above FROM … AS / ARG not naming it. */
function describes(c: Checks, ins: Instruction, what: "FROM" | "ARG", keys: string[]): void {
  const last = ins.comments[ins.comments.length - 1];
  if (last === undefined || keys.length === 0) return;
  if (keys.includes(last.split(" ")[0]!)) return;
  const example = keys.length > 1 ? "<arg_key>" : keys[0]!;
  c.run(
    "InvalidDefinitionDescription",
    ins,
    `Comment for ${what} should follow the format: \`# ${example} <description>\``,
  );
}

/** Every instruction's keyword in one casing, that of the majority of those written in one casing. */
function casingChecks(c: Checks, plan: StagePlan): void {
  const stageIns = plan.stages.flatMap((s) => [s.from, ...s.instructions]);
  let lower = 0;
  let upper = 0;
  for (const { word } of stageIns) {
    if (word === word.toLowerCase()) lower++;
    else if (word === word.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const ins of stageIns) {
    const casing =
      majorityLower && ins.word.toLowerCase() !== ins.word
        ? "lowercase"
        : !majorityLower && ins.word.toUpperCase() !== ins.word
          ? "uppercase"
          : undefined;
    if (casing) {
      c.run(
        "ConsistentInstructionCasing",
        ins,
        `Command '${ins.word}' should match the case of the command majority (${casing})`,
      );
    }
  }
}

/** What a stage starts from: an earlier stage, or an image (with the platform it is read for). */
interface Base {
  name: string;
  stage: Stage | undefined;
  platform: Platform;
}

/**
 * FROM's checks with the global ARGs: a base that is no image name with the ARGs' defaults, variables no
 * global ARG declares, `--platform` set to $TARGETPLATFORM or to a constant. A base that comes out blank stops
 * the checks with BuildKit's error.
 */
function fromChecks(
  c: Checks,
  i: LintInputs,
): { globals: Map<string, string>; bases: Base[] } | { error: string } {
  const { df, plan } = i;
  const target = i.target ?? plan.stages[plan.stages.length - 1]!.name ?? "";
  const auto = autoArgs(i.platform, i.buildPlatform, target, i.buildArgs ?? {});
  const defaults = metaArgs(auto, plan.globalArgs, {}, df.escape);
  if (defaults) {
    for (const s of plan.stages) {
      const name = tryExpand(s.baseText, defaults.env, df.escape);
      if (!name) break;
      if (!validReference(name.value)) {
        c.run(
          "InvalidDefaultArgInFrom",
          s.from,
          `Default value for ARG ${s.baseText} results in empty or invalid base image name`,
        );
      }
    }
  }
  const meta = metaArgs(auto, plan.globalArgs, i.buildArgs ?? {}, df.escape);
  const globals = meta?.env ?? auto;
  const declared = [...new Set([...(meta?.declared ?? []), ...globals.keys()])];
  const bases: Base[] = [];
  for (const s of plan.stages) {
    const name = tryExpand(s.baseText, globals, df.escape);
    undefinedInFrom(c, s.from, name?.unmatched ?? [], declared);
    if (name && name.value === "") return { error: `base name (${s.baseText}) should not be blank` };
    const base: Base = {
      name: name?.value ?? s.baseText,
      stage: findBaseStage(plan.stages, name?.value ?? s.baseText, s.index),
      platform: i.platform,
    };
    const text = s.from.flags.platform?.[0];
    if (text !== undefined) {
      const p = tryExpand(text, globals, df.escape);
      undefinedInFrom(c, s.from, p?.unmatched ?? [], declared);
      if (p) platformChecks(c, s, text, p, globals);
      try {
        base.platform = parsePlatform(p?.value ?? text);
      } catch {
        // BuildKit stops on it; the build reports it
      }
    }
    bases.push(base);
  }
  return { globals, bases };
}

function undefinedInFrom(
  c: Checks,
  from: Instruction,
  unmatched: readonly string[],
  declared: string[],
): void {
  for (const arg of unmatched) {
    if (declared.includes(arg)) continue;
    const s = suggest(arg, declared);
    c.run(
      "UndefinedArgInFrom",
      from,
      `FROM argument '${arg}' is not declared${s ? ` (did you mean ${s}?)` : ""}`,
    );
  }
}

/** `--platform=$TARGETPLATFORM` (redundant) and `--platform=linux/amd64` (a constant the stage's name lacks). */
function platformChecks(c: Checks, s: Stage, text: string, p: Expanded, globals: Vars): void {
  if (p.matched.length === 1 && p.unmatched.length === 0) {
    if (p.matched[0] === "TARGETPLATFORM" && p.value === globals.get("TARGETPLATFORM")) {
      c.run(
        "RedundantTargetPlatform",
        s.from,
        `Setting platform to predefined ${text} in FROM is redundant as this is the default behavior`,
      );
    }
  }
  if (p.matched.length > 0 || p.unmatched.length > 0) return;
  let platform: Platform;
  try {
    platform = parsePlatform(p.value);
  } catch {
    return;
  }
  const name = s.name ?? "";
  if (name.includes(platform.os) || name.includes(platform.architecture)) return;
  c.run(
    "FromPlatformFlagConstDisallowed",
    s.from,
    `FROM --platform flag should not use constant value "${p.value}"`,
  );
}

/** The args every Dockerfile has (BuildKit's defaultArgs), --build-args overriding them. */
export function autoArgs(
  target: Platform,
  build: Platform,
  stage: string,
  given: Readonly<Record<string, string>>,
): Map<string, string> {
  const env = new Map<string, string>();
  const auto: [string, string][] = [
    ["BUILDPLATFORM", formatPlatform(build)],
    ["BUILDOS", build.os],
    ["BUILDOSVERSION", build["os.version"] ?? ""],
    ["BUILDARCH", build.architecture],
    ["BUILDVARIANT", build.variant ?? ""],
    ["TARGETPLATFORM", formatPlatform(target)],
    ["TARGETOS", target.os],
    ["TARGETOSVERSION", target["os.version"] ?? ""],
    ["TARGETARCH", target.architecture],
    ["TARGETVARIANT", target.variant ?? ""],
    ["TARGETSTAGE", stage || "default"],
  ];
  for (const [k, v] of auto) env.set(k, given[k] ?? v);
  return env;
}

/** The global ARGs (before the first FROM) on top of `auto`, as BuildKit's buildMetaArgs; undefined if one fails. */
function metaArgs(
  auto: Map<string, string>,
  globalArgs: readonly Instruction[],
  given: Readonly<Record<string, string>>,
  esc: string,
): { env: Map<string, string>; declared: string[] } | undefined {
  const env = new Map(auto);
  const declared: string[] = [];
  for (const ins of globalArgs) {
    for (const { key, value } of argWords(ins)) {
      let v = given[key];
      if (v === undefined && value !== undefined) {
        const x = tryExpand(value, env, esc);
        if (!x) return undefined;
        v = x.value;
      }
      if (v !== undefined) setVar(env, key, v);
      if (!declared.includes(key)) declared.push(key);
    }
  }
  return { env, declared };
}

/** The stages walked: every one, or those the target needs, in Dockerfile order. */
function walkedStages(i: LintInputs, globals: Map<string, string>): Stage[] {
  const { plan } = i;
  if (i.all && i.target === undefined) return plan.stages;
  const target =
    i.target === undefined ? plan.stages[plan.stages.length - 1]! : findBaseStage(plan.stages, i.target);
  if (!target) return [];
  try {
    return neededStages(plan, target, globals, i.df.name);
  } catch {
    return [target];
  }
}

/**
 * The ONBUILD triggers a stage runs before its own instructions: its base stage's ONBUILDs, else its image's,
 * each at the lines of the stage's FROM, as BuildKit dispatches them (a trigger it cannot read is the build's
 * error).
 */
export function triggers(
  base: Stage | undefined,
  config: ContainerConfig | undefined,
  s: Stage,
  file: string,
): Instruction[] {
  const texts = base
    ? base.instructions.filter((x) => x.keyword === "ONBUILD").map((x) => x.args)
    : (config?.OnBuild ?? []);
  return texts.flatMap((t) => {
    try {
      return [{ ...parseTrigger(t, file, s.from.line), endLine: s.from.endLine }];
    } catch {
      return [];
    }
  });
}

/**
 * Whether a base name is an image reference as BuildKit's reference.ParseNormalizedNamed takes one, or one of
 * berth's transports (`oci:DIR:TAG`, `docker-archive:FILE`), which BuildKit has none of.
 */
function validReference(name: string): boolean {
  try {
    parseReference(name);
    return true;
  } catch {
    try {
      return parseImageArgument(name).transport !== "store";
    } catch {
      return false;
    }
  }
}

function at(line: number): { line: number; endLine: number } {
  return { line, endLine: line };
}
