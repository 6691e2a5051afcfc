/**
 * `plan.toml` in its two platform shapes: the resolved plan (`<layers>/plan.toml`, `[[entries]] providers,
 * requires`, lc:platform/files plan) and the Buildpack Plan one buildpack's `bin/build` gets (`[[entries]] name,
 * metadata`). The Build Plan `bin/detect` writes is the Buildpack API's (`buildpack/plan.ts`).
 */
import type { Require } from "../buildpack/plan.ts";
import { Fields, type Origin, parseToml, toToml } from "../toml.ts";

export interface PlanEntry {
  /** `extension = true` marks an image extension providing the entry (lc `GroupElement.Extension`). */
  providers: { id: string; version: string; extension?: boolean }[];
  requires: Require[];
}

export interface Plan {
  entries: PlanEntry[];
}

const requireTable = (r: Require) => ({ name: r.name, ...(r.metadata ? { metadata: r.metadata } : {}) });

export function encodePlan(plan: Plan): string {
  return toToml({
    entries: plan.entries.map((e) => ({
      providers: e.providers.map((p) => ({
        id: p.id,
        version: p.version,
        ...(p.extension ? { extension: true } : {}),
      })),
      requires: e.requires.map(requireTable),
    })),
  });
}

export function parsePlan(text: string, file: string): Plan {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return {
    entries: doc.list("entries").map((e) => ({
      providers: e.list("providers").map((p) => ({
        id: p.requiredStr("id"),
        version: p.str("version") ?? "",
        ...(p.bool("extension") ? { extension: true } : {}),
      })),
      requires: e.list("requires").map((r) => {
        const req: Require = { name: r.requiredStr("name") };
        const md = r.anyTable("metadata");
        if (md) req.metadata = md;
        return req;
      }),
    })),
  };
}

/**
 * The Buildpack Plan for one buildpack (or, with `extension`, one image extension): the requires of every
 * entry it is a provider of (lc `Plan.Find`).
 */
export function findPlan(plan: Plan, id: string, extension = false): Require[] {
  const out: Require[] = [];
  for (const e of plan.entries) {
    if (e.providers.some((p) => p.id === id && (p.extension ?? false) === extension)) out.push(...e.requires);
  }
  return out;
}

/** Drop entries met by a buildpack (lc `Plan.Filter`). */
export function filterPlan(plan: Plan, met: readonly string[]): Plan {
  return { entries: plan.entries.filter((e) => !e.requires.some((r) => met.includes(r.name))) };
}

/** The Buildpack Plan file: an empty plan is an empty file, as the lifecycle's TOML encoder leaves a nil list out. */
export function encodeBuildpackPlan(entries: readonly Require[]): string {
  return entries.length === 0 ? "" : toToml({ entries: entries.map(requireTable) });
}
