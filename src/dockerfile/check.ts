/**
 * `berth build --check` (buildx's `--check`, `--call=check`): BuildKit's build checks on every stage (on the
 * target's, when one is named) with no step run and nothing written, and buildx's report of them: its text (the
 * warnings in line order, each with the Dockerfile's lines around it) or BuildKit's lint result JSON (what
 * `--call=check,format=json` prints).
 */
import type { Platform } from "../oci/platform.ts";
import { hostPlatform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { BaseImages } from "./bases.ts";
import type { BuildInputs } from "./inputs.ts";
import { checkConfig, lintDockerfile } from "./lint.ts";
import { type LintWarning, RULES, ruleUrl } from "./lint-rules.ts";
import { findContext } from "./named-context.ts";
import { loadIgnore, readDockerfile } from "./read.ts";
import { splitStages, targetStage } from "./stage.ts";

export type CheckInputs = Pick<
  BuildInputs,
  "contextDir" | "dockerfile" | "noIgnoreFile" | "buildArgs" | "target" | "platform" | "pull" | "contexts"
>;

export interface CheckResult {
  /** The Dockerfile's name (as BuildKit's source) and text. */
  name: string;
  text: string;
  warnings: LintWarning[];
  /** What stops the build: `error=true` with warnings (BuildKit's "lint violation found for rules: …"), or a blank FROM. */
  error?: string;
}

/** Run the checks: the Dockerfile read and split, the images its stages start FROM opened for their env. */
export async function checkDockerfile(i: CheckInputs, ctx: TransportContext): Promise<CheckResult> {
  const df = await readDockerfile(i);
  const plan = splitStages(df);
  // a --target the Dockerfile lacks is the error a build gives
  targetStage(plan, i.target, df.name);
  const config = checkConfig(df, i.buildArgs);
  const bases = new BaseImages(ctx, i.pull === true);
  try {
    const platform: Platform = i.platform ?? hostPlatform();
    const r = await lintDockerfile({
      df,
      plan,
      buildArgs: i.buildArgs ?? {},
      target: i.target,
      all: true,
      platform,
      buildPlatform: hostPlatform(),
      config,
      ignore: await loadIgnore(i),
      image: (ref, p) => bases.config(ref, p, findContext(i.contexts, ref, p)),
    });
    return { name: df.name, text: df.text, warnings: r.warnings, ...(r.error ? { error: r.error } : {}) };
  } finally {
    await bases.close();
  }
}

/**
 * buildx's text report (commands/build.go printResult, BuildKit's LintResults.PrintTo): "Check complete, …",
 * then each warning in line order with the lines around it, the file named `shown` (as buildx names it: the
 * path given with -f, else CONTEXT/Dockerfile). An error is the caller's to print after it.
 */
export function checkReport(r: CheckResult, shown: string): string {
  const n = r.warnings.length;
  let out = "";
  if (n > 0)
    out += `Check complete, ${n === 1 ? "1 warning has been found!" : `${n} warnings have been found!`}\n`;
  const sorted = [...r.warnings].sort((a, b) => a.line - b.line);
  for (const w of sorted) {
    out += `\nWARNING: ${w.rule} - ${ruleUrl(w.rule)}\n${w.detail}\n`;
    out += sourceExcerpt(r.text, shown, w.line, w.endLine);
  }
  if (r.error !== undefined) return n > 0 ? `${out}\n` : out;
  if (n === 0) out += "Check complete, no warnings found.\n";
  return out;
}

/** BuildKit's errdefs.Source.Print: the lines `start`–`end` marked `>>>`, with two to four lines around them. */
function sourceExcerpt(text: string, shown: string, first: number, last: number): string {
  const lines = text.split("\n");
  let start = first;
  let end = Math.max(last, first);
  if (start > lines.length || start < 1) return "";
  end = Math.min(end, lines.length);
  const pad = end === start ? 4 : 2;
  for (let p = 0; p < pad; p++) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
  }
  let out = `${shown}:${first}\n--------------------\n`;
  for (let l = start; l <= end; l++) {
    const mark = l >= first && l <= Math.max(last, first) ? ">>>" : "   ";
    out += ` ${String(l).padStart(3)} | ${mark} ${lines[l - 1]}\n`;
  }
  return `${out}--------------------\n`;
}

/**
 * BuildKit's lint result (subrequests/lint LintResults, as `--call=check,format=json` prints it, indented by
 * two): the warnings in the order they came, each with its rule, description, URL, sentence and lines; the
 * Dockerfile as its one source; the error, when there is one. No warning: `"warnings": null`, as Go writes it.
 */
export function checkJson(r: CheckResult): string {
  // Go's nil slice: `null` when there is no warning
  const doc = {
    warnings:
      r.warnings.length === 0
        ? null
        : r.warnings.map((w) => ({
            ruleName: w.rule,
            description: RULES[w.rule],
            url: ruleUrl(w.rule),
            detail: w.detail,
            location: { ranges: lineRanges(w.line, w.endLine) },
          })),
    // BuildKit's source also has the LLB definition of its context, which berth has none of
    sources: [{ filename: r.name, data: Buffer.from(r.text).toString("base64"), language: "Dockerfile" }],
    ...(r.error !== undefined ? { buildError: { message: r.error, location: {} } } : {}),
  };
  return JSON.stringify(doc, null, 2);
}

/** One range a line, as BuildKit's Node.Location gives an instruction's lines. */
function lineRanges(first: number, last: number): { start: { line: number }; end: { line: number } }[] {
  const out: { start: { line: number }; end: { line: number } }[] = [];
  for (let l = first; l <= Math.max(first, last); l++) out.push({ start: { line: l }, end: { line: l } });
  return out;
}
