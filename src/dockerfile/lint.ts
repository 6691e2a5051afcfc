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
import { splitArgWords } from "./args.ts";
import { expandWord, splitRaw, type Vars } from "./expand.ts";
import { CHECK_ARG, type CheckConfig, Checks, type LintWarning, parseCheckOptions } from "./lint-rules.ts";
import { type Dockerfile, heredocName, type Instruction, parseTrigger } from "./parse.ts";
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

/** Variables BuildKit never reports undefined (its SBOM scan switches). */
const NON_ENV = new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);
/** The PATH BuildKit gives a stage whose image sets none (linux). */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const RESERVED = new Set(["context", "scratch"]);
const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOW = /(?:_|^)(?:public)(?:_|$)/i;

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
    new StageWalk(c, i, st, from.globals).walk([
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
function autoArgs(
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
function triggers(
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

/** A stage's state as the walk goes: its environment, the ARGs it declared, whether WORKDIR and SHELL were set. */
interface StageState {
  env: Map<string, string>;
  args: Set<string>;
  workdirSet: boolean;
  shell: boolean;
}

function cloneState(s: StageState): StageState {
  return { env: new Map(s.env), args: new Set(s.args), workdirSet: s.workdirSet, shell: s.shell };
}

function imageState(config: ContainerConfig | undefined): StageState {
  const env = new Map<string, string>();
  for (const e of config?.Env ?? []) {
    const eq = e.indexOf("=");
    setVar(env, eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
  }
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  return { env, args: new Set(), workdirSet: false, shell: (config?.Shell?.length ?? 0) > 0 };
}

/** A variable set anew goes last among the keys (BuildKit's EnvList: the order of the suggestions). */
function setVar(env: Map<string, string>, key: string, value: string): void {
  env.delete(key);
  env.set(key, value);
}

/** One stage's instructions walked as BuildKit dispatches them, for the checks that need the variables. */
class StageWalk {
  readonly #c: Checks;
  readonly #i: LintInputs;
  readonly #st: StageState;
  readonly #globals: Vars;
  readonly #cmd: { cmd?: Instruction; entrypoint?: Instruction; healthcheck?: Instruction } = {};

  constructor(c: Checks, i: LintInputs, st: StageState, globals: Vars) {
    this.#c = c;
    this.#i = i;
    this.#st = st;
    this.#globals = globals;
  }

  walk(instructions: readonly Instruction[]): void {
    for (const ins of instructions) this.#dispatch(ins);
  }

  #dispatch(ins: Instruction): void {
    switch (ins.keyword) {
      case "ENV":
      case "LABEL":
        this.#keyValues(ins);
        return;
      case "ADD":
      case "COPY":
        this.#copy(ins);
        return;
      case "WORKDIR":
        this.#workdir(ins);
        return;
      case "RUN":
        for (const m of ins.flags.mount ?? []) {
          for (const field of m.split(",")) {
            const eq = field.indexOf("=");
            if (eq >= 0) this.#expand(ins, field.slice(eq + 1));
          }
        }
        return;
      case "USER":
      case "STOPSIGNAL":
        this.#expand(ins, ins.args);
        return;
      case "VOLUME":
        for (const v of ins.json ?? splitRaw(ins.args, this.#i.df.escape)) this.#expand(ins, v);
        return;
      case "ARG":
        this.#arg(ins);
        return;
      case "CMD":
      case "ENTRYPOINT":
      case "HEALTHCHECK":
        this.#once(ins);
        return;
      case "EXPOSE":
        this.#expose(ins);
        return;
      case "SHELL":
        this.#st.shell = true;
        return;
      case "FROM":
      case "MAINTAINER":
      case "ONBUILD":
        return;
      default:
        ins.keyword satisfies never;
    }
  }

  /** Expand `text` with the stage's variables; the undefined ones BuildKit reports. */
  #expand(ins: Instruction, text: string, esc = this.#i.df.escape): string {
    const x = tryExpand(text, this.#st.env, esc);
    if (!x) return text;
    const keys = [...this.#st.env.keys()];
    for (const name of x.unmatched) {
      if (this.#st.args.has(name) || NON_ENV.has(name)) continue;
      const s = suggest(name, keys);
      this.#c.run(
        "UndefinedVar",
        ins,
        `Usage of undefined variable '$${name}'${s ? ` (did you mean $${s}?)` : ""}`,
      );
    }
    return x.value;
  }

  /** ENV and LABEL: `KEY=VALUE …`, or the legacy `KEY VALUE`; ENV's keys checked for secrets. */
  #keyValues(ins: Instruction): void {
    const words = splitRaw(ins.args, this.#i.df.escape);
    const legacy = words.length > 0 && !words[0]!.includes("=");
    const pairs = legacy
      ? [
          ins.args
            .trim()
            .split(/\s+(.*)/s)
            .slice(0, 2) as [string, string],
        ]
      : words.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)] as [string, string]);
    const expanded = pairs.map(([k, v]) => [this.#expand(ins, k), this.#expand(ins, v ?? "")] as const);
    for (const [k, v] of expanded) {
      if (legacy) {
        const name = ins.word;
        this.#c.run(
          "LegacyKeyValueFormat",
          ins,
          `"${name} key=value" should be used instead of legacy "${name} key value" format`,
        );
      }
      if (ins.keyword === "ENV") {
        secrets(this.#c, ins, "ENV", k);
        setVar(this.#st.env, k, v);
      }
    }
  }

  /** COPY and ADD: their options, sources and destination; an expanding heredoc's body, raw. */
  #copy(ins: Instruction): void {
    const f = ins.flags;
    for (const k of ["chown", "chmod", ...(ins.keyword === "ADD" ? ["checksum"] : [])]) {
      this.#expand(ins, f[k]?.[0] ?? "");
    }
    const words = ins.json ?? splitRaw(ins.args, this.#i.df.escape);
    const sources = words.slice(0, -1).filter((w) => heredocName(w) === undefined);
    const expanded = sources.map((w) => this.#expand(ins, w));
    if (words.length > 0) this.#expand(ins, words[words.length - 1]!);
    for (const h of ins.heredocs) if (h.expand) this.#expand(ins, h.content, "\\");
    if (ins.keyword === "COPY" && f.from) return;
    for (const src of expanded) {
      if (!/^(?:https?:\/\/|git@|git:\/\/|ssh:\/\/)/.test(src) && ignored(this.#i.ignore, src)) {
        const what = ins.keyword === "ADD" ? "Add" : "Copy";
        this.#c.run(
          "CopyIgnoredFile",
          ins,
          `Attempting to ${what} file ${JSON.stringify(src)} that is excluded by .dockerignore`,
        );
      }
    }
  }

  #workdir(ins: Instruction): void {
    const path = this.#expand(ins, ins.args);
    if (!this.#st.workdirSet && !path.startsWith("/")) {
      this.#c.run(
        "WorkdirRelativePath",
        ins,
        `Relative workdir ${JSON.stringify(path)} can have unexpected results if the base image changes`,
      );
    }
    this.#st.workdirSet = true;
  }

  /** ARG: its value from --build-arg, else its default (expanded), else the global one. */
  #arg(ins: Instruction): void {
    const given = this.#i.buildArgs ?? {};
    for (const { key, value } of argWords(ins)) {
      secrets(this.#c, ins, "ARG", key);
      let v: string | undefined = given[key];
      if (v === undefined && value !== undefined) v = this.#expand(ins, value);
      else if (v === undefined) v = this.#globals.get(key);
      if (v !== undefined && !NON_ENV.has(key)) setVar(this.#st.env, key, v);
      this.#st.args.add(key);
    }
  }

  /** CMD, ENTRYPOINT, HEALTHCHECK: once a stage (the earlier one is the ignored one); CMD and ENTRYPOINT as JSON. */
  #once(ins: Instruction): void {
    const kind = ins.keyword === "CMD" ? "cmd" : ins.keyword === "ENTRYPOINT" ? "entrypoint" : "healthcheck";
    const earlier = this.#cmd[kind];
    if (earlier) {
      this.#c.run(
        "MultipleInstructionsDisallowed",
        earlier,
        `Multiple ${ins.word} instructions should not be used in the same stage because only the last one will be used`,
      );
    }
    this.#cmd[kind] = ins;
    if (kind !== "healthcheck" && ins.json === undefined && !this.#st.shell) {
      this.#c.run(
        "JSONArgsRecommended",
        ins,
        `JSON arguments recommended for ${ins.word} to prevent unintended behavior related to OS signals`,
      );
    }
  }

  /** EXPOSE: a protocol not in lowercase, an IP address or host port. */
  #expose(ins: Instruction): void {
    const words = splitRaw(ins.args, this.#i.df.escape).flatMap((w) => {
      const x = tryExpand(w, this.#st.env, this.#i.df.escape);
      return (x?.value ?? w).split(/\s+/).filter(Boolean);
    });
    for (const raw of words) {
      const parts = raw.split(":");
      const [port = "", proto = ""] = parts[parts.length - 1]!.split(/\/(.*)/s);
      // a port BuildKit cannot read stops it before its checks; the build says why
      if (port === "" || !["", "tcp", "udp", "sctp"].includes(proto.toLowerCase())) continue;
      if (proto !== proto.toLowerCase()) {
        this.#c.run(
          "ExposeProtoCasing",
          ins,
          `Defined protocol '${raw}' in EXPOSE instruction should be lowercase`,
        );
      }
      if (parts.slice(0, -2).join(":") !== "" || (parts.length > 1 && parts[parts.length - 2] !== "")) {
        this.#c.run(
          "ExposeInvalidFormat",
          ins,
          `EXPOSE instruction should not define an IP address or host-port mapping, found '${raw}'`,
        );
      }
    }
  }
}

/** patternmatcher's MatchesOrParentMatches: the path as written, or a folder above it, is excluded. */
function ignored(m: Matcher | undefined, src: string): boolean {
  return m?.excludes(src, false) ?? false;
}

function secrets(c: Checks, ins: Instruction, what: "ARG" | "ENV", key: string): void {
  if (SECRET.test(key) && !SECRET_ALLOW.test(key)) {
    c.run(
      "SecretsUsedInArgOrEnv",
      ins,
      `Do not use ARG or ENV instructions for sensitive data (${what} "${key}")`,
    );
  }
}

/** An ARG's names and raw defaults. */
function argWords(ins: Instruction): { key: string; value: string | undefined }[] {
  return splitArgWords(ins.args).map((w) => {
    const eq = w.indexOf("=");
    return eq < 0 ? { key: w, value: undefined } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

interface Expanded {
  value: string;
  /** Variables it looked up that were set, and those that were not, in the order it met them. */
  matched: string[];
  unmatched: string[];
}

/** `text` expanded with `vars`; undefined when the lexer refuses it (BuildKit stops there; the build says why). */
function tryExpand(text: string, vars: Vars, esc: string): Expanded | undefined {
  try {
    const x = expandWord(text, vars, esc);
    const used = [...x.used];
    return {
      value: x.value,
      matched: used.filter((n) => vars.has(n)),
      unmatched: used.filter((n) => !vars.has(n)),
    };
  } catch {
    return undefined;
  }
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

/** BuildKit's suggest.Search: the option closest to `value` by edit distance, under 3; none for an exact one. */
function suggest(value: string, options: readonly string[]): string | undefined {
  let match: string | undefined;
  let min = 3;
  for (const o of options) {
    if (o === value) return undefined;
    const d = levenshtein(value, o);
    if (d < min) {
      match = o;
      min = d;
    }
  }
  return match;
}

function levenshtein(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]!;
}

function at(line: number): { line: number; endLine: number } {
  return { line, endLine: line };
}
