/**
 * BuildKit's build checks (Dockerfile frontend v0.26.2, frontend/dockerfile/linter): each rule's name, short
 * description and URL; the `# check=` directive's (and BUILDKIT_DOCKERFILE_CHECK's) options; and the `Checks`
 * that collects the warnings a Dockerfile earns, leaving out the skipped rules and the experimental ones not
 * asked for, and gives BuildKit's error when `error=true` and any rule fired.
 */
import { BerthError } from "../errors.ts";
import { goBool } from "../util/go-json.ts";

export const RULES = {
  StageNameCasing: "Stage names should be lowercase",
  FromAsCasing: "The 'as' keyword should match the case of the 'from' keyword",
  NoEmptyContinuation: "Empty continuation lines will become errors in a future release",
  ConsistentInstructionCasing:
    "All commands within the Dockerfile should use the same casing (either upper or lower)",
  DuplicateStageName: "Stage names should be unique",
  ReservedStageName: "Reserved words should not be used as stage names",
  JSONArgsRecommended:
    "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
  MaintainerDeprecated:
    "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
  UndefinedArgInFrom: "FROM command must use declared ARGs",
  WorkdirRelativePath:
    "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
  UndefinedVar: "Variables should be defined before their use",
  MultipleInstructionsDisallowed:
    "Multiple instructions of the same type should not be used in the same stage",
  LegacyKeyValueFormat: "Legacy key/value format with whitespace separator should not be used",
  RedundantTargetPlatform:
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
  SecretsUsedInArgOrEnv: "Sensitive data should not be used in the ARG or ENV commands",
  InvalidDefaultArgInFrom: "Default value for global ARG results in an empty or invalid base image name",
  FromPlatformFlagConstDisallowed: "FROM --platform flag should not use a constant value",
  CopyIgnoredFile: "Attempting to Copy file that is excluded by .dockerignore",
  InvalidDefinitionDescription:
    "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
  ExposeProtoCasing: "Protocol in EXPOSE instruction should be lowercase",
  ExposeInvalidFormat:
    "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
} as const;

export type RuleName = keyof typeof RULES;

/** The build arg that replaces the `# check=` directive, as BuildKit's dockerui reads it. */
export const CHECK_ARG = "BUILDKIT_DOCKERFILE_CHECK";

/** Rules that run only when `experimental=` names them (or `all`). */
const EXPERIMENTAL = new Set<RuleName>(["CopyIgnoredFile", "InvalidDefinitionDescription"]);

/** The documentation page of a rule: its name in kebab case (`JSONArgsRecommended` → json-args-recommended). */
export function ruleUrl(rule: RuleName): string {
  const kebab = rule
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();
  return `https://docs.docker.com/go/dockerfile/rule/${kebab}/`;
}

/** One warning: the rule, its sentence for this case (BuildKit's "detail") and the lines it points at. */
export interface LintWarning {
  rule: RuleName;
  detail: string;
  /** First and last line (1-based) of the instruction it is about. */
  line: number;
  endLine: number;
}

/** BuildKit's short form, as a build logs it: `Rule: sentence (line N)`. */
export function shortWarning(w: LintWarning): string {
  return `${w.rule}: ${w.detail} (line ${w.line})`;
}

/** What the `# check=` directive (or BUILDKIT_DOCKERFILE_CHECK) asks. */
export interface CheckConfig {
  skipAll: boolean;
  skip: string[];
  experimentalAll: boolean;
  experimental: string[];
  /** `error=true`: a build with warnings fails after the checks. */
  error: boolean;
}

const NO_CHECK_CONFIG: CheckConfig = {
  skipAll: false,
  skip: [],
  experimentalAll: false,
  experimental: [],
  error: false,
};

/**
 * `skip=A,B;error=true;experimental=all` as BuildKit's linter.ParseLintOptions reads it; `where` names the
 * directive or build arg in the error, which carries BuildKit's sentence.
 */
export function parseCheckOptions(text: string | undefined, where: string): CheckConfig {
  const s = (text ?? "").trim();
  if (s === "") return NO_CHECK_CONFIG;
  const config: CheckConfig = { ...NO_CHECK_CONFIG };
  const fail = (msg: string) =>
    new BerthError("DOCKERFILE_SYNTAX", `${where}: ${msg}`, {
      hint: "the options are skip=RULE,…|all; error=true|false; experimental=RULE,…|all",
    });
  // Go's strings.SplitN(s, ";", 3): the third part keeps any further semicolons
  const all = s.split(";");
  const parts = all.length > 3 ? [...all.slice(0, 2), all.slice(2).join(";")] : all;
  for (const p of parts) {
    const eq = p.indexOf("=");
    if (eq < 0) throw fail(`invalid check option ${JSON.stringify(p)}`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    switch (k) {
      case "skip":
      case "experimental": {
        const list = v === "all" ? [] : v.split(",").map((r) => r.trim());
        if (k === "skip") [config.skipAll, config.skip] = [v === "all", list];
        else [config.experimentalAll, config.experimental] = [v === "all", list];
        break;
      }
      case "error": {
        const b = goBool(v);
        if (b === undefined) {
          throw fail(
            `failed to parse check option ${JSON.stringify(p)}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`,
          );
        }
        config.error = b;
        break;
      }
      default:
        throw fail(`invalid check option ${JSON.stringify(k)}`);
    }
  }
  return config;
}

/** The warnings collected under a check config (BuildKit's linter.Linter). */
export class Checks {
  readonly warnings: LintWarning[] = [];
  readonly #config: CheckConfig;

  constructor(config: CheckConfig) {
    this.#config = config;
  }

  /** Record a warning unless its rule is skipped, or experimental and not asked for. */
  run(rule: RuleName, at: { line: number; endLine: number }, detail: string): void {
    const c = this.#config;
    if (EXPERIMENTAL.has(rule)) {
      if (!c.experimentalAll && !c.experimental.includes(rule)) return;
    } else if (c.skipAll || c.skip.includes(rule)) return;
    this.warnings.push({ rule, detail, line: at.line, endLine: at.endLine });
  }

  /** BuildKit's error when `error=true` and a rule fired: "lint violation found for rules: A, B". */
  error(): string | undefined {
    if (!this.#config.error || this.warnings.length === 0) return undefined;
    return `lint violation found for rules: ${[...new Set(this.warnings.map((w) => w.rule))].join(", ")}`;
  }
}
