/**
 * BuildKit's own build checks: test/helpers/lint-oracle/main.go (BuildKit v0.26.2's DockerfileLint, what
 * `docker build --check` runs, and Dockerfile2LLB's warnings, what a build logs), built by
 * scripts/lint-oracle.sh on first use and cached between runs.
 */
import { askGoOracle } from "./go-oracle.ts";

export interface LintQuestion {
  dockerfile?: string;
  /**
   * "lint": every stage unless a target is named (`--check`); "build": the target's stages; "outline" and
   * "targets": BuildKit's Dockerfile2Outline and ListTargets (`--call outline`, `--call targets`).
   */
  mode?: "lint" | "build" | "outline" | "targets";
  buildArgs?: Record<string, string>;
  target?: string;
  /** FROM images' configs by reference as written after expansion (an image not here has an empty config). */
  images?: Record<string, unknown>;
  /** Only parse this as a check option string (BUILDKIT_DOCKERFILE_CHECK, `# check=`). */
  checkOption?: string;
}

export interface OracleWarning {
  rule: string;
  description: string;
  url: string;
  detail: string;
  ranges: { start: number; end: number }[];
}

export interface LintAnswer {
  warnings: OracleWarning[];
  error?: string;
  /**
   * Modes lint, outline and targets: the result as `--call=…,format=json` prints it, and buildx's text of it.
   */
  result?: string;
  text?: string;
  config?: {
    ExperimentalAll: boolean;
    ExperimentalRules: string[] | null;
    ReturnAsError: boolean;
    SkipAll: boolean;
    SkipRules: string[] | null;
  };
}

/** Ask the oracle about each case at once. */
export async function lintOracle(qs: LintQuestion[]): Promise<LintAnswer[]> {
  const out = await askGoOracle("lint-oracle", JSON.stringify(qs.map((q) => ({ mode: "lint", ...q }))));
  return JSON.parse(out) as LintAnswer[];
}
