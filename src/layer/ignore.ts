/**
 * Include/exclude patterns with `.dockerignore` (default) or `.gitignore` syntax: `*`, `?`, `[…]`, `**`,
 * `!` re-includes, leading `/` anchors, the last matching pattern wins, and a pattern that matches a directory
 * matches everything under it; each pattern matches as moby/patternmatcher's (src/util/glob.ts). In gitignore
 * syntax a pattern without an inner slash matches at any depth and a trailing `/` matches directories only; in
 * dockerignore syntax every pattern is anchored at the root and cleaned as Go's path.Clean (`dir/` is `dir`).
 */
import { posix } from "node:path";
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

/** Go's strings.TrimSpace: Unicode white space (U+0085 yes, U+FEFF no, unlike String.prototype.trim). */
function goTrimSpace(s: string): string {
  return s
    .replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/, "")
    .replace(/[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/, "");
}

/**
 * Split an ignore file into patterns as moby/patternmatcher's ignorefile.ReadAll: a leading UTF-8 BOM dropped,
 * a line starting with `#` (before any space) is a comment, each line trimmed, blank lines dropped.
 */
export function parseIgnoreFile(text: string): string[] {
  return text
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .filter((l) => !l.startsWith("#"))
    .map(goTrimSpace)
    .filter((l) => l !== "");
}

/**
 * A pattern (without its `!`) as the syntax reads it: dockerignore as moby/patternmatcher's ignorefile (Go's
 * path.Clean, so a trailing `/` is dropped and `dir/` matches a file too; a leading `/` dropped), gitignore
 * with `dir/` for directories only and an unanchored name at any depth. Undefined: it matches nothing.
 */
function shape(pattern: string, syntax: IgnoreSyntax): { p: string; dirOnly: boolean } | undefined {
  if (syntax === "dockerignore") {
    // Go's path.Clean is posix.normalize without its trailing /
    const p = posix
      .normalize(pattern)
      .replace(/(.)\/$/, "$1")
      .replace(/^\/(?=.)/, "");
    return p === "." || p === "/" ? undefined : { p, dirOnly: false };
  }
  const dirOnly = pattern.endsWith("/");
  const anchored = pattern.startsWith("/");
  const p = pattern
    .replace(/^(?:\.?\/)+/, "")
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/");
  if (p === "") return undefined;
  // git's wildmatch takes `[!…]` as `[^…]`; patternmatcher's classes know only `^`
  const negated = p.replace(/(^|[^\\])\[!/g, "$1[^");
  return { p: !anchored && !negated.includes("/") ? `**/${negated}` : negated, dirOnly };
}

function compile(raw: string, syntax: IgnoreSyntax, origin: string | undefined): Rule | undefined {
  let pattern = goTrimSpace(raw);
  let negate = false;
  if (pattern.startsWith("!")) {
    negate = true;
    pattern = goTrimSpace(pattern.slice(1));
  }
  const fail = (why: string) =>
    new BerthError(
      "USAGE",
      `${origin ? `${origin}: ` : ""}pattern ${JSON.stringify(raw)} is not a valid ${syntax} pattern: ${why}`,
      {
        hint: "patterns take *, ?, [a-z], [^a-z], ** for any directories, and \\ before a character to match it literally",
      },
    );
  // patternmatcher.New refuses a lone !
  if (negate && pattern === "" && syntax === "dockerignore") throw fail("a ! needs a pattern after it");
  const shaped = shape(pattern, syntax);
  if (!shaped) return undefined;
  // moby/patternmatcher's matching, as BuildKit has it for .dockerignore
  return {
    source: raw,
    negate,
    dirOnly: shaped.dirOnly,
    glob: compileGlob(shaped.p, fail, "patternmatcher"),
  };
}

/** A matcher of `patterns`; a bad one is an error naming it, after `origin` (the file it came from) when given. */
export function createMatcher(
  patterns: readonly string[],
  syntax: IgnoreSyntax = "dockerignore",
  origin?: string,
): Matcher {
  const rules = patterns.map((p) => compile(p, syntax, origin)).filter((r): r is Rule => r !== undefined);
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
