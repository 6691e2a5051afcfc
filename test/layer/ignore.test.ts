import { describe, expect, it } from "vitest";
import { createMatcher, parseIgnoreFile } from "../../src/layer/ignore.ts";

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
