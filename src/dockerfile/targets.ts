/**
 * `berth build --call targets` (buildx's `--call=targets`, BuildKit's frontend.targets subrequest,
 * dockerfile2llb's ListTargets): every stage of the Dockerfile, as written — its name, the comment above its FROM,
 * its base and `--platform` unexpanded, whether it is the default target (the last) and its lines.
 */
import { goIndented } from "../util/go-json.ts";
import { tabulate } from "../util/tabwriter.ts";
import { describedBy, sourceLocation } from "./outline.ts";
import type { ReadDockerfile } from "./read.ts";
import type { StagePlan } from "./stage.ts";

export interface Target {
  /** "" for an unnamed stage. */
  name: string;
  description: string;
  base: string;
  platform: string;
  default: boolean;
  line: number;
  endLine: number;
}

export interface TargetList {
  targets: Target[];
  /** The Dockerfile, BuildKit's one source. */
  source: string;
}

export function listTargets(df: ReadDockerfile, plan: StagePlan): TargetList {
  const last = plan.stages.length - 1;
  const targets = plan.stages.map((s) => ({
    name: s.name ?? "",
    description: describedBy(s.from.comments, s.name ?? ""),
    base: s.baseText,
    platform: s.from.flags.platform?.[0] ?? "",
    default: s.index === last,
    line: s.from.line,
    endLine: s.from.endLine,
  }));
  return { targets, source: df.text };
}

/** The list as BuildKit marshals it (result.json, what `--call=targets,format=json` prints), Go's omitempty. */
export function targetsJson(l: TargetList): string {
  const doc = {
    targets: l.targets.map((t) => ({
      ...(t.name ? { name: t.name } : {}),
      ...(t.default ? { default: true } : {}),
      ...(t.description ? { description: t.description } : {}),
      ...(t.base ? { base: t.base } : {}),
      ...(t.platform ? { platform: t.platform } : {}),
      location: sourceLocation(t),
    })),
    sources: [Buffer.from(l.source).toString("base64")],
  };
  return goIndented(doc);
}

/** buildx's text of it (BuildKit's targets.PrintTargets): one row a stage, the default one marked. */
export function targetsText(l: TargetList): string {
  const rows = l.targets.map((t) => {
    const name = t.default ? (t.name ? `${t.name} (default)` : "(default)") : t.name;
    return [name, t.description];
  });
  return tabulate([["TARGET", "DESCRIPTION"], ...rows], 1);
}
