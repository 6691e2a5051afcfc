/** The Build Plan a `bin/detect` writes (`provides`, `requires`, `or`); the Buildpack Plan is `files/plan.ts`. */
import { Fields, type Origin, parseToml, type Table } from "../toml.ts";

export interface Require {
  name: string;
  metadata?: Table;
}

export interface Provide {
  name: string;
}

export interface PlanSections {
  provides: Provide[];
  requires: Require[];
}

export interface BuildPlan extends PlanSections {
  or: PlanSections[];
}

function sections(f: Fields, subject: string): PlanSections {
  const provides = f.list("provides").map((p) => ({ name: p.requiredStr("name") }));
  const requires = f.list("requires").map((r) => {
    const req: Require = { name: r.requiredStr("name") };
    if (r.has("version")) {
      throw r.fail(
        "version",
        `is not supported: ${subject} must put the version in metadata.version (as lifecycle ≥0.18 requires)`,
      );
    }
    const md = r.anyTable("metadata");
    if (md) req.metadata = md;
    return req;
  });
  return { provides, requires };
}

/** Parse the plan file `bin/detect` wrote. Empty text is an empty plan. */
export function parseBuildPlan(text: string, file: string, subject: string): BuildPlan {
  const origin: Origin = { file, subject, code: "CNB_DETECT_ERROR" };
  const doc = new Fields(parseToml(text, origin), origin);
  const top = sections(doc, subject);
  const or = doc.list("or").map((o) => sections(o, subject));
  return { ...top, or };
}
