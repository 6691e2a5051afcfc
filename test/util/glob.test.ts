/**
 * berth's globs against Go's own: every pattern × name of the tables below is asked of test/helpers/glob-oracle
 * (Go's path.Match and filepath.Match, moby/patternmatcher v0.6.0 as BuildKit vendors it; built by
 * scripts/glob-oracle.sh, cached) and of src/util/glob.ts, and the answers (match, or a bad pattern) must agree.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { compileGlob, type GlobDialect } from "../../src/util/glob.ts";
import { type Answer, globOracle as oracle } from "../helpers/glob-oracle.ts";

class Bad extends Error {}

function berth(dialect: GlobDialect, pattern: string, name: string): Answer {
  try {
    return { match: compileGlob(pattern, (why) => new Bad(why), dialect).test(name), bad: false };
  } catch (err) {
    if (err instanceof Bad) return { match: false, bad: true };
    throw err;
  }
}

const NAMES = [
  "",
  "a",
  "b",
  "z",
  "!",
  "^",
  "-",
  "]",
  "[",
  "*",
  "?",
  "\\",
  "/",
  "ab",
  "abc",
  "a.go",
  "b.go",
  "d.go",
  "a/b",
  "a/b/c",
  "ab/c",
  "a/bc",
  "b/cy",
  "x/y",
  "abc/d/e",
  "a.b",
  "axb",
  "a*b",
  "a?b",
  "a]b",
  "a-b",
  "foo",
  "barfoo",
  "bar/foo",
  "foo/bar",
  "foo/bar/baz",
  "src/lib/util.go",
  "é",
  "€",
  "€x",
  "日本",
  "a\nb",
  "a\rb",
  "1",
  " ",
  "\t",
  "library/busybox:latest",
  "team/app",
  "team/app:1.2",
];

const PATH_PATTERNS = [
  "",
  "*",
  "**",
  "?",
  "a",
  "a*",
  "*b",
  "a*b",
  "a*b*c",
  "*/b",
  "a/*",
  "*/*",
  "a?b",
  "??",
  "*??",
  "*[^a]*y",
  "[a-c]",
  "[a-c].go",
  "[^a-c].go",
  "[^a-c]",
  "[!a]",
  "[!a-c].go",
  "[abc]",
  "[/]",
  "a[/]b",
  "a[^x]b",
  "[z-a]",
  "[a-a]",
  "[\\]]",
  "[\\-]",
  "[a\\-z]",
  "[\\\\]",
  "[*]",
  "[?]",
  "[é-€]",
  "[^é]",
  "\\*",
  "\\?",
  "\\a",
  "a\\*b",
  "\\\\",
  "a.b",
  "(x)+",
  "a]b",
  "]",
  "*]",
  "^",
  "[^^]",
  "team/*",
  "*/app*",
  "library/*:*",
  // bad patterns
  "[",
  "[a",
  "a[",
  "[]",
  "[^]",
  "[]a]",
  "[^]a]",
  "[-a]",
  "[a-]",
  "[a-b-c]",
  "[a--]",
  "\\",
  "a\\",
  "[\\",
  "[a\\",
  "*[",
  "[*",
  "a*[",
  "*a[b",
  "[a]*[",
  "[x-]*",
  "[\\]",
];

const PATTERNMATCHER_PATTERNS = [
  ...PATH_PATTERNS.filter((p) => p !== "" && !p.startsWith("!") && !p.includes("\\") && !p.endsWith("/")),
  "**/foo",
  "**foo",
  "**/*.go",
  "foo/**",
  "foo**",
  "a/**/c",
  "a**b",
  "**/a/**",
  "*/**",
  "a.b**",
  "[ab]**",
  "x^y*",
  "a(b|c)*",
  "a{1}*",
  "a{x}*",
  "ab{2,}*",
  "a|b*",
  "{1}*",
  "a$*",
  "a+*",
  "\\*",
  "\\.",
  "a\\.b*",
  "\\d",
  "[\\d]",
  "\\s",
  "[\\s]",
  "\\w*",
  "\\t*",
  "[\\-a]",
  "[\\]]*",
  // bad for path.Match, not for filepath.Match(pattern, "."), which stops at the first chunk that does not fit
  "x*[]]",
  "x*[]",
  "x*[",
  "x*[^]a]",
  ".*[]]",
];

describe("compileGlob against Go", () => {
  let answers: Map<string, Answer>;
  const queries = [
    ...PATH_PATTERNS.flatMap((pattern) => NAMES.map((name) => ({ dialect: "path" as const, pattern, name }))),
    ...PATTERNMATCHER_PATTERNS.flatMap((pattern) =>
      NAMES.map((name) => ({ dialect: "patternmatcher" as const, pattern, name })),
    ),
  ];
  const key = (q: { dialect: string; pattern: string; name: string }) => JSON.stringify(q);
  beforeAll(async () => {
    const got = await oracle(queries);
    answers = new Map(queries.map((q, i) => [key(q), got[i]!]));
  }, 600_000);

  it("filepath.Match is path.Match on Linux, but for not always saying a pattern is bad", () => {
    const differ = queries.filter((q) => answers.get(key(q))!.filepath !== undefined);
    expect(differ.every((q) => answers.get(key(q))!.bad && q.dialect === "path")).toBe(true);
    expect(differ.map((q) => q.pattern)).toContain("a*[");
  });

  for (const dialect of ["path", "patternmatcher"] as const) {
    it(`${dialect}: every pattern × name as Go has it`, () => {
      const differ = queries
        .filter((q) => q.dialect === dialect)
        .map((q) => ({ ...q, go: answers.get(key(q))!, berth: berth(dialect, q.pattern, q.name) }))
        .filter((r) => r.go.match !== r.berth.match || r.go.bad !== r.berth.bad)
        .map((r) => `${JSON.stringify(r.pattern)} ${JSON.stringify(r.name)}: go ${JSON.stringify(r.go)}`);
      expect(differ).toEqual([]);
    });
  }

  it("the quirks the tables pin (Go's answers, checked above)", () => {
    const m = (d: GlobDialect, p: string, n: string) => berth(d, p, n);
    // a * takes the first place its chunk fits: [^a] could take the / but does not get to
    expect(m("path", "*[^a]*y", "b/cy").match).toBe(false);
    // ! is no negation in Go; ] first in a class is a bad pattern; a reversed range matches nothing
    expect(m("path", "[!a]", "b").match).toBe(false);
    expect(m("path", "[]a]", "a").bad).toBe(true);
    expect(m("path", "[z-a]", "b")).toEqual({ match: false, bad: false });
    // patternmatcher: a leading ** is a suffix test
    expect(m("patternmatcher", "**foo", "barfoo").match).toBe(true);
  });
});

describe("compileGlob", () => {
  it("says why a pattern is bad through the caller's error", () => {
    expect(() => compileGlob("a[", (why) => new Error(`--filter reference=a[: ${why}`))).toThrow(
      "--filter reference=a[: a [ has no closing ]",
    );
    expect(() => compileGlob("a\\", (why) => new Error(why))).toThrow("it ends in a lone \\");
  });

  it("refuses the Go regexp escapes berth does not take in patternmatcher patterns", () => {
    expect(() => compileGlob("\\b*", (why) => new Error(why), "patternmatcher")).toThrow(
      "\\b is a regular expression escape there",
    );
    expect(() => compileGlob("[[:alpha:]]", (why) => new Error(why), "patternmatcher")).toThrow("[:...:]");
  });
});
