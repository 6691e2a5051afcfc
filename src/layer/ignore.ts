/**
 * Include/exclude patterns with `.dockerignore` (default) or `.gitignore` syntax: `*`, `?`, `[…]`, `**`,
 * `!` re-includes, leading `/` anchors, trailing `/` matches directories only, the last matching pattern wins,
 * and a pattern that matches a directory matches everything under it. In gitignore syntax a pattern without
 * an inner slash matches at any depth; in dockerignore syntax every pattern is anchored at the root.
 */
import { BerthError } from "../errors.ts";
import { compileGlob, type Glob } from "../util/glob.ts";

export type IgnoreSyntax = "dockerignore" | "gitignore";

interface Rule {
  source: string;
  negate: boolean;
  dirOnly: boolean;
  glob: Glob;
}

export interface Matcher {
  /** Whether a path (relative, `/`-separated) is excluded. */
  excludes(path: string, isDir: boolean): boolean;
  /** Whether some `!` pattern could re-include something below an excluded directory. */
  readonly hasNegations: boolean;
}

/** Split an ignore file into patterns: one per line, `#` comments and blank lines dropped. */
export function parseIgnoreFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function compile(raw: string, syntax: IgnoreSyntax): Rule | undefined {
  let p = raw.trim();
  let negate = false;
  if (p.startsWith("!")) {
    negate = true;
    p = p.slice(1).trim();
  }
  let dirOnly = false;
  if (p.endsWith("/")) {
    dirOnly = true;
    p = p.replace(/\/+$/, "");
  }
  const anchored = p.startsWith("/");
  p = p.replace(/^(?:\.?\/)+/, "");
  // Clean "a//b" and "a/./b".
  p = p
    .split("/")
    .filter((s) => s !== "" && s !== ".")
    .join("/");
  if (p === "") return undefined;
  if (syntax === "gitignore" && !anchored && !p.includes("/")) p = `**/${p}`;
  const fail = (why: string) =>
    new BerthError("USAGE", `pattern ${JSON.stringify(raw)} is not a valid ${syntax} pattern: ${why}`, {
      hint: "patterns take *, ?, [a-z], [^a-z], ** for any directories, and \\ before a character to match it literally",
    });
  // moby/patternmatcher's matching, as BuildKit has it for .dockerignore
  return { source: raw, negate, dirOnly, glob: compileGlob(p, fail, "patternmatcher") };
}

export function createMatcher(patterns: readonly string[], syntax: IgnoreSyntax = "dockerignore"): Matcher {
  const rules = patterns.map((p) => compile(p, syntax)).filter((r): r is Rule => r !== undefined);
  const hasNegations = rules.some((r) => r.negate);
  const matches = (rule: Rule, path: string, isDir: boolean): boolean => {
    if ((!rule.dirOnly || isDir) && rule.glob.test(path)) return true;
    // A pattern matching an ancestor directory matches the path too.
    for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
      if (rule.glob.test(path.slice(0, i))) return true;
    }
    return false;
  };
  return {
    hasNegations,
    excludes(path: string, isDir: boolean): boolean {
      let excluded = false;
      for (const rule of rules) {
        if (rule.negate === excluded && matches(rule, path, isDir)) excluded = !rule.negate;
      }
      return excluded;
    },
  };
}
