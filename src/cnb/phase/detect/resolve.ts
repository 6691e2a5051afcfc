/**
 * Build-plan resolution for one group (spec §Detection; lc phase/detector.go `Resolve`): given each
 * member's detect result, pick the passing members, then try every combination of their plan alternatives
 * (top level, then each `or`) left to right, depth first. A trial fails when a required member requires a
 * name no earlier member (or itself) provides, or provides a name no later member (or itself) requires;
 * optional members that violate this are dropped and the trial re-checked. The first trial that holds wins.
 */
import type { BuildPlan, PlanSections, Require } from "../../buildpack/plan.ts";
import type { GroupEntry } from "../../files/group.ts";
import type { PlanEntry } from "../../files/plan.ts";
import type { PhaseLogger } from "../../log.ts";

/** What one `bin/detect` did: 0 pass, 100 fail, anything else (or -1: not run) an error. */
export interface DetectRun {
  code: number;
  output: string;
  plan?: BuildPlan;
  /** Why it errored, when berth knows (not executable, bad plan, target mismatch). */
  error?: string;
}

export interface Member extends GroupEntry {
  optional: boolean;
  /** An image extension (always optional; never makes a group pass alone). */
  extension?: boolean;
}

export type Resolution =
  | { ok: true; group: Member[]; plan: PlanEntry[] }
  | { ok: false; reason: "fail" | "error" };

interface Option {
  member: Member;
  sections: PlanSections;
}

interface Dep {
  providers: Member[];
  requires: Require[];
  earlyRequires: Member[];
  extraProvides: Member[];
}

export const keyOf = (m: { id: string; version: string }) => `${m.id}@${m.version}`;

/** The key of a member's detect run: kind and id@version, as lc `keyFor` (an extension may share a buildpack's id). */
export const runKey = (m: { id: string; version: string; extension?: boolean }) =>
  `${m.extension ? "extension" : "buildpack"} ${keyOf(m)}`;

function depMap(trial: Option[]): Map<string, Dep> {
  const m = new Map<string, Dep>();
  const entry = (name: string) => {
    let d = m.get(name);
    if (!d) {
      d = { providers: [], requires: [], earlyRequires: [], extraProvides: [] };
      m.set(name, d);
    }
    return d;
  };
  for (const o of trial) {
    for (const p of o.sections.provides) entry(p.name).extraProvides.push(o.member);
    for (const r of o.sections.requires) {
      const d = entry(r.name);
      d.providers.push(...d.extraProvides);
      d.extraProvides = [];
      if (d.providers.length === 0) d.earlyRequires.push(o.member);
      else d.requires.push(r);
    }
  }
  return m;
}

function runTrial(
  trial: Option[],
  log: PhaseLogger,
): { deps: Map<string, Dep>; trial: Option[] } | undefined {
  let deps = depMap(trial);
  for (let retry = true; retry; ) {
    retry = false;
    deps = depMap(trial);
    for (const [name, d] of deps) {
      for (const m of d.earlyRequires) {
        retry = true;
        if (!m.optional) {
          log.debug(`fail: ${keyOf(m)} requires ${name}`);
          return undefined;
        }
        log.debug(`skip: ${keyOf(m)} requires ${name}`);
        trial = trial.filter((o) => o.member !== m);
      }
    }
    for (const [name, d] of deps) {
      for (const m of d.extraProvides) {
        retry = true;
        if (!m.optional) {
          log.debug(`fail: ${keyOf(m)} provides unused ${name}`);
          return undefined;
        }
        log.debug(`skip: ${keyOf(m)} provides unused ${name}`);
        trial = trial.filter((o) => o.member !== m);
      }
    }
    if (retry) deps = depMap(trial);
  }
  if (trial.length === 0) {
    log.debug("fail: no viable buildpacks in group");
    return undefined;
  }
  return { deps, trial };
}

/** Every member's alternatives; only the last alternative keeps the member's optional flag (as lc does). */
function optionsOf(member: Member, plan: BuildPlan): Option[] {
  const all: PlanSections[] = [{ provides: plan.provides, requires: plan.requires }, ...plan.or];
  return all.map((sections, i) => ({
    member: i === all.length - 1 ? member : { ...member, optional: false },
    sections,
  }));
}

function* trials(results: { member: Member; plan: BuildPlan }[], prefix: Option[] = []): Generator<Option[]> {
  if (results.length === 0) {
    yield prefix;
    return;
  }
  const [first, ...rest] = results;
  for (const o of optionsOf(first!.member, first!.plan)) yield* trials(rest, [...prefix, o]);
}

export function resolveGroup(
  done: readonly Member[],
  runs: ReadonlyMap<string, DetectRun>,
  log: PhaseLogger,
): Resolution {
  const passed: { member: Member; plan: BuildPlan }[] = [];
  let detected = true;
  let anyPassed = false;
  let buildpackErr = false;
  log.debug("======== Results ========");
  for (const m of done) {
    const run = runs.get(runKey(m));
    if (!run) throw new Error(`missing detection of ${runKey(m)}`);
    if (run.code === 0) {
      log.debug(`pass: ${keyOf(m)}`);
      passed.push({ member: m, plan: run.plan ?? { provides: [], requires: [], or: [] } });
      if (!m.extension) anyPassed = true;
    } else if (run.code === 100) {
      log.debug(`${m.optional ? "skip" : "fail"}: ${keyOf(m)}`);
      detected &&= m.optional;
    } else {
      log.info(`err:  ${keyOf(m)}${run.code === -1 ? "" : ` (${run.code})`}`);
      buildpackErr = true;
      detected &&= m.optional;
    }
  }
  if (!detected) return { ok: false, reason: buildpackErr ? "error" : "fail" };
  if (!anyPassed) {
    log.debug("fail: no viable buildpacks in group");
    return { ok: false, reason: "fail" };
  }
  let n = 0;
  for (const t of trials(passed)) {
    n++;
    log.debug(`Resolving plan... (try #${n})`);
    const r = runTrial(t, log);
    if (!r) continue;
    const plan: PlanEntry[] = [...r.deps.values()]
      .filter((d) => d.requires.length > 0 || d.providers.length > 0)
      .map((d) => ({
        providers: d.providers.map((p) => ({
          id: p.id,
          version: p.version,
          ...(p.extension ? { extension: true } : {}),
        })),
        requires: d.requires,
      }));
    return { ok: true, group: r.trial.map((o) => o.member), plan };
  }
  return { ok: false, reason: "fail" };
}
