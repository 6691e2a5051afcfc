import { beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../../src/errors.ts";
import { createMatcher, parseIgnoreFile } from "../../src/layer/ignore.ts";
import { type Answer, globOracle } from "../helpers/glob-oracle.ts";

describe("ignore patterns", () => {
  it("follows .dockerignore rules: anchored, **, ! re-includes, last match wins, parents match children", () => {
    const m = createMatcher(
      parseIgnoreFile(
        "# comment\n\nnode_modules\n*.log\n!keep.log\n**/*.tmp\ndocs/**/draft?.md\n/build/\n[ab].txt\n",
      ),
    );
    expect(m.excludes("node_modules", true)).toBe(true);
    expect(m.excludes("node_modules/x/y.js", false)).toBe(true);
    expect(m.excludes("src/node_modules", true)).toBe(false); // anchored at the root
    expect(m.excludes("a.log", false)).toBe(true);
    expect(m.excludes("keep.log", false)).toBe(false);
    expect(m.excludes("sub/a.log", false)).toBe(false); // * does not cross /
    expect(m.excludes("x/y/z.tmp", false)).toBe(true);
    expect(m.excludes("z.tmp", false)).toBe(true);
    expect(m.excludes("docs/a/b/draft1.md", false)).toBe(true);
    expect(m.excludes("docs/draft1.md", false)).toBe(true);
    expect(m.excludes("docs/draft10.md", false)).toBe(false);
    expect(m.excludes("build", true)).toBe(true);
    // ignorefile cleans the pattern (Go's path.Clean): a trailing / is dropped, so a file matches too
    expect(m.excludes("build", false)).toBe(true);
    expect(m.excludes("build/out.js", false)).toBe(true);
    expect(m.excludes("a.txt", false)).toBe(true);
    expect(m.excludes("c.txt", false)).toBe(false);
    expect(m.hasNegations).toBe(true);
  });

  it("in .gitignore syntax, a pattern without a slash matches at any depth", () => {
    const m = createMatcher(["*.o", "/root-only", "dist/"], "gitignore");
    expect(m.excludes("a/b/c.o", false)).toBe(true);
    expect(m.excludes("root-only", false)).toBe(true);
    expect(m.excludes("x/root-only", false)).toBe(false);
    expect(m.excludes("pkg/dist", true)).toBe(true);
    expect(m.excludes("pkg/dist/x.js", false)).toBe(true);
    expect(m.excludes("pkg/dist", false)).toBe(false);
  });

  it("in .gitignore syntax, [!…] is a negated class, as git's wildmatch (in .dockerignore a literal !)", () => {
    const git = createMatcher(["file[!0-9].txt", "lit\\[!x]"], "gitignore");
    expect(git.excludes("filea.txt", false)).toBe(true);
    expect(git.excludes("file1.txt", false)).toBe(false);
    expect(git.excludes("lit[!x]", false)).toBe(true);
    const docker = createMatcher(["file[!0-9].txt"]);
    expect(docker.excludes("file!.txt", false)).toBe(true);
    expect(docker.excludes("filea.txt", false)).toBe(false);
  });

  it("cleans a .dockerignore pattern as ignorefile does (Go's path.Clean, a leading / dropped)", () => {
    const m = createMatcher(["logs/", "a/../b", "./c/./d", "/", "."]);
    expect(m.excludes("logs", false)).toBe(true);
    expect(m.excludes("b/x", false)).toBe(true);
    expect(m.excludes("a/b", false)).toBe(false);
    expect(m.excludes("c/d", false)).toBe(true);
    expect(m.excludes("e", false)).toBe(false);
  });

  it("matches each pattern as moby/patternmatcher does for BuildKit (test/util/glob.test.ts asks it)", () => {
    const m = createMatcher(["**.log", "[!a].txt", "x**y"]);
    // a leading ** is a test of the path's end
    expect(m.excludes("deep/dir/app.log", false)).toBe(true);
    // ! in a class is no negation
    expect(m.excludes("b.txt", false)).toBe(false);
    expect(m.excludes("!.txt", false)).toBe(true);
    // ** is "any directories" even inside a name
    expect(m.excludes("x/z/y", false)).toBe(true);
    expect(m.excludes("xzy", false)).toBe(false);
    expect(() => createMatcher(["src/[a"])).toThrow(
      'pattern "src/[a" is not a valid dockerignore pattern: a [ has no closing ]',
    );
  });
});

/** .dockerignore texts × paths, asked of moby/patternmatcher's ignorefile + MatchesOrParentMatches (BuildKit's). */
describe(".dockerignore files against moby/patternmatcher", () => {
  const TEXTS = [
    "*.log\n!keep.log\n",
    "logs/\n",
    "/build\n",
    "  # not a comment\n",
    "# a comment\nREADME.md\n",
    "\uFEFF*.md\n",
    "!\n",
    "! keep.log\n*.log\n",
    "a/../b\n./c\n",
    "**\n!docs\n",
    "**/\n",
    "docs/**\n!docs/keep.md\n",
    "docs\n!docs/keep.md\n",
    "*/x\n",
    "[!a]*\n",
    "x\\*y\n",
    "**.log\n",
    "x**y\n",
    "[\n",
    "x*[]]\n",
    "sub\n!sub/a.log\n",
    "\tlogs \r\n",
  ];
  const NAMES = [
    "a.log",
    "keep.log",
    "sub/a.log",
    "sub/keep.log",
    "logs",
    "logs/x",
    "build",
    "build/x",
    "sub/build",
    "b",
    "b/c",
    "c",
    "c/d",
    "x*y",
    "xzy",
    "x/z/y",
    "x]",
    "# not a comment",
    "README.md",
    "docs",
    "docs/keep.md",
    "docs/other.md",
    "a",
    "d/x",
    "d/e/x",
  ];
  const questions = TEXTS.flatMap((pattern) =>
    NAMES.map((name) => ({ dialect: "ignorefile" as const, pattern, name })),
  );
  let answers: Answer[];
  beforeAll(async () => {
    answers = await globOracle(questions);
  }, 600_000);

  const berth = (text: string, name: string): Answer => {
    try {
      return { match: createMatcher(parseIgnoreFile(text)).excludes(name, false), bad: false };
    } catch (err) {
      if (err instanceof BerthError) return { match: false, bad: true };
      throw err;
    }
  };

  it("excludes what BuildKit excludes, and refuses what it refuses", () => {
    const differ = questions
      .map((q, i) => ({ ...q, go: answers[i]!, berth: berth(q.pattern, q.name) }))
      .filter((r) => r.go.bad !== r.berth.bad || (!r.go.bad && r.go.match !== r.berth.match))
      .map((r) => `${JSON.stringify(r.pattern)} ${JSON.stringify(r.name)}: go ${JSON.stringify(r.go)}`);
    expect(differ).toEqual([]);
  });
});
