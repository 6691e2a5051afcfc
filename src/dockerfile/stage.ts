/**
 * Stages: the instructions between FROM lines, their names, the global ARGs before the first FROM, and which
 * stages a target needs (FROM another stage, COPY/ADD --from, RUN --mount from=), so that only those build.
 */
import { BerthError } from "../errors.ts";
import { expandWord, type Vars } from "./expand.ts";
import { type Dockerfile, type Instruction, parseTrigger } from "./parse.ts";

export interface Stage {
  /** 0-based position in the Dockerfile. */
  index: number;
  /** `AS name`, lower-cased. */
  name: string | undefined;
  from: Instruction;
  /** The base as written (before variable expansion). */
  baseText: string;
  instructions: Instruction[];
}

export interface StagePlan {
  globalArgs: Instruction[];
  stages: Stage[];
}

/**
 * The Dockerfile's stages. `listing` (`--call targets`, BuildKit's ListTargets): only what BuildKit's parser
 * refuses is refused; a `COPY --from=$X` is its dispatch's to refuse, which listing never reaches.
 */
export function splitStages(df: Dockerfile, listing = false): StagePlan {
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of df.instructions) {
    refuseVariableFrom(ins, df.name, listing);
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/).filter(Boolean);
      if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === "as")) {
        throw new BerthError(
          "DOCKERFILE_SYNTAX",
          `${df.name}:${ins.line}: FROM needs an image and an optional "AS name", not ${JSON.stringify(ins.args)}`,
        );
      }
      const name = words.length === 3 ? words[2]!.toLowerCase() : undefined;
      if (name !== undefined && !/^[a-z][a-z0-9._-]*$/.test(name)) {
        throw new BerthError(
          "DOCKERFILE_SYNTAX",
          `${df.name}:${ins.line}: invalid stage name ${JSON.stringify(name)}`,
        );
      }
      // a duplicate name is BuildKit's DuplicateStageName warning (lint.ts): the later stage is the one the
      // name means from here on
      stages.push({ index: stages.length, name, from: ins, baseText: words[0]!, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG") {
        throw new BerthError(
          "DOCKERFILE_SYNTAX",
          `${df.name}:${ins.line}: ${ins.keyword} comes before the first FROM (only ARG may)`,
        );
      }
      globalArgs.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  if (stages.length === 0) throw new BerthError("DOCKERFILE_SYNTAX", `${df.name}: no FROM instruction`);
  return { globalArgs, stages };
}

/**
 * `COPY --from=$X` and `RUN --mount=from=$X` are refused before anything builds, with BuildKit's reasons: which
 * stages a build needs is decided before build args are known.
 */
function refuseVariableFrom(ins: Instruction, file: string, listing: boolean): void {
  const copy = !listing && (ins.keyword === "COPY" || ins.keyword === "ADD");
  const from = copy ? ins.flags.from?.[0] : undefined;
  if (from !== undefined && expandWord(from, new Map()).value !== from) {
    throw new BerthError(
      "DOCKERFILE_SYNTAX",
      `${file}:${ins.line}: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround`,
      { details: { line: ins.line } },
    );
  }
  if (ins.keyword !== "RUN") return;
  for (const m of ins.flags.mount ?? []) {
    const f = /(?:^|,)from=([^,]*)/.exec(m)?.[1];
    const dollar = f?.indexOf("$") ?? -1;
    if (f !== undefined && dollar !== -1 && dollar !== f.length - 1) {
      throw new BerthError(
        "DOCKERFILE_SYNTAX",
        `${file}:${ins.line}: 'from' doesn't support variable expansion, define alias stage instead`,
        { details: { line: ins.line } },
      );
    }
  }
}

/** The stages `--no-cache-filter` names (by name or index), each of which must be one of the Dockerfile's. */
export function noCacheStages(stages: readonly Stage[], names: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const n of names) {
    const st = findStage(stages, n);
    if (!st)
      throw new BerthError(
        "USAGE",
        `--no-cache-filter ${JSON.stringify(n)}: the Dockerfile has no stage of that name`,
        {
          hint: `the stages are: ${stages.map((x) => x.name ?? x.index).join(", ")}`,
        },
      );
    out.add(st.index);
  }
  return out;
}

/** A stage by name or index (`--from=0`, `--from=build`), among the stages before `before`. */
export function findStage(stages: readonly Stage[], ref: string, before = stages.length): Stage | undefined {
  const named = findBaseStage(stages, ref, before);
  if (named) return named;
  if (/^\d+$/.test(ref)) {
    const i = Number(ref);
    if (i < before) return stages[i];
  }
  return undefined;
}

/** The earlier stage a FROM names: by name only, as BuildKit (`FROM 0` is an image called 0). */
export function findBaseStage(
  stages: readonly Stage[],
  ref: string,
  before = stages.length,
): Stage | undefined {
  const lower = ref.toLowerCase();
  // With duplicate names the later stage wins, as in BuildKit.
  return stages
    .slice(0, before)
    .reverse()
    .find((s) => s.name === lower);
}

/** The stage `--target` names (default: the last one): by name only, as BuildKit (`--target 0` is no stage). */
export function targetStage(plan: StagePlan, target: string | undefined, file: string): Stage {
  if (target === undefined) return plan.stages[plan.stages.length - 1]!;
  const found = findBaseStage(plan.stages, target);
  if (!found) {
    const named = plan.stages.flatMap((s) => (s.name ? [s.name] : []));
    const names = named.length
      ? `the named stages are: ${named.join(", ")}`
      : "no stage has a name (FROM … AS NAME)";
    throw new BerthError(
      "DOCKERFILE_STAGE_NOT_FOUND",
      `${file}: target stage ${JSON.stringify(target)} not found`,
      {
        hint: names,
      },
    );
  }
  return found;
}

/** Stage references an instruction makes (`--from=` of COPY/ADD, `from=` of RUN --mount). */
export function stageRefs(ins: Instruction, vars: Vars): string[] {
  const refs: string[] = [];
  if ((ins.keyword === "COPY" || ins.keyword === "ADD") && ins.flags.from) {
    refs.push(expandWord(ins.flags.from[0]!, vars).value);
  }
  if (ins.keyword === "RUN") {
    for (const m of ins.flags.mount ?? []) {
      const from = /(?:^|,)from=([^,]+)/.exec(m);
      if (from) refs.push(expandWord(from[1]!, vars).value);
    }
  }
  return refs;
}

/**
 * The stages `target` needs, in Dockerfile order: itself, the stages it is built FROM and the stages it
 * copies from, transitively. A `--from` that names no earlier stage is an image, or an error when it looks
 * like a stage the Dockerfile lacks.
 */
export function neededStages(plan: StagePlan, target: Stage, globalVars: Vars, file: string): Stage[] {
  const need = new Set<number>();
  const visit = (s: Stage) => {
    if (need.has(s.index)) return;
    need.add(s.index);
    const base = findBaseStage(plan.stages, expandWord(s.baseText, globalVars).value, s.index);
    if (base) visit(base);
    for (const ins of s.instructions) {
      for (const ref of stageRefs(ins, globalVars)) {
        const dep = findStage(plan.stages, ref, s.index);
        if (dep) visit(dep);
        else if (/^\d+$/.test(ref) || plan.stages.slice(s.index).some((x) => x.name === ref.toLowerCase())) {
          // its own stage: BuildKit's "circular dependency detected on stage"
          const self = s.name === ref.toLowerCase() || ref === String(s.index);
          throw new BerthError(
            "DOCKERFILE_STAGE_NOT_FOUND",
            self
              ? `${file}:${ins.line}: stage ${JSON.stringify(ref)} reads from itself (a circular dependency)`
              : `${file}:${ins.line}: stage ${JSON.stringify(ref)} not found before this instruction`,
            { details: { line: ins.line } },
          );
        }
      }
      if (ins.keyword === "ONBUILD") parseTrigger(ins.args, file, ins.line);
    }
  };
  visit(target);
  return plan.stages.filter((s) => need.has(s.index));
}
