/**
 * Include/exclude patterns with `.dockerignore` (default) or `.gitignore` syntax: `*`, `?`, `[…]`, `**`,
 * `!` re-includes, leading `/` anchors, the last matching pattern wins, and a pattern that matches a directory
 * matches everything under it; each pattern matches as moby/patternmatcher's (src/util/glob.ts). In gitignore
 * syntax a pattern without an inner slash matches at any depth and a trailing `/` matches directories only; in
 * dockerignore syntax every pattern is anchored at the root and cleaned as Go's path.Clean (`dir/` is `dir`).
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

/** Go's path.Clean. */
function goClean(p: string): string {
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c !== "..") out.push(c);
    else if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (!rooted) out.push("..");
  }
  const joined = out.join("/");
  return rooted ? `/${joined}` : joined || ".";
}

/**
 * A pattern (without its `!`) as the syntax reads it: dockerignore as moby/patternmatcher's ignorefile (Go's
 * path.Clean, so a trailing `/` is dropped and `dir/` matches a file too; a leading `/` dropped), gitignore
 * with `dir/` for directories only and an unanchored name at any depth. Undefined: it matches nothing.
 */
function shape(pattern: string, syntax: IgnoreSyntax): { p: string; dirOnly: boolean } | undefined {
  if (syntax === "dockerignore") {
    const p = goClean(pattern).replace(/^\/(?=.)/, "");
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
  return { p: !anchored && !p.includes("/") ? `**/${p}` : p, dirOnly };
}

function compile(raw: string, syntax: IgnoreSyntax): Rule | undefined {
  let pattern = raw.trim();
  let negate = false;
  if (pattern.startsWith("!")) {
    negate = true;
    pattern = pattern.slice(1).trim();
  }
  const shaped = shape(pattern, syntax);
  if (!shaped) return undefined;
  const fail = (why: string) =>
    new BerthError("USAGE", `pattern ${JSON.stringify(raw)} is not a valid ${syntax} pattern: ${why}`, {
      hint: "patterns take *, ?, [a-z], [^a-z], ** for any directories, and \\ before a character to match it literally",
    });
  // moby/patternmatcher's matching, as BuildKit has it for .dockerignore
  return {
    source: raw,
    negate,
    dirOnly: shaped.dirOnly,
    glob: compileGlob(shaped.p, fail, "patternmatcher"),
  };
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
