import { describe, expect, it } from "vitest";
import { globToRegExp, sliceEntries } from "../../../../src/cnb/phase/export/app.ts";
import type { PlannedEntry } from "../../../../src/layer/walk.ts";

describe("globToRegExp (Go's filepath.Match)", () => {
  const cases: [string, string, boolean][] = [
    ["*.js", "a.js", true],
    ["*.js", "lib/a.js", false], // * stops at '/'
    ["lib/*", "lib/a.js", true],
    ["lib/*", "lib/x/a.js", false],
    ["?.txt", "a.txt", true],
    ["?.txt", "ab.txt", false],
    ["?", "/", false],
    ["[a-c].go", "b.go", true],
    ["[a-c].go", "d.go", false],
    ["[^a-c].go", "d.go", true],
    ["[^a-c].go", "a.go", false],
    ["\\*.md", "*.md", true],
    ["\\*.md", "x.md", false],
    ["a.b", "axb", false], // '.' is literal
    ["(x)+", "(x)+", true], // regexp syntax is literal
    ["static", "static", true],
    ["static", "static2", false],
  ];
  for (const [pattern, path, want] of cases) {
    it(`${pattern} ${want ? "matches" : "does not match"} ${path}`, () => {
      expect(globToRegExp(pattern).test(path)).toBe(want);
    });
  }
});

function entry(path: string, type: "dir" | "file"): PlannedEntry {
  return {
    header: { path, type, mode: type === "dir" ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: 0 },
  } as PlannedEntry;
}

describe("sliceEntries (lc layers/slices.go)", () => {
  const all = [
    entry("workspace", "dir"),
    entry("workspace/app.js", "file"),
    entry("workspace/public", "dir"),
    entry("workspace/public/a.css", "file"),
    entry("workspace/public/img", "dir"),
    entry("workspace/public/img/b.png", "file"),
    entry("workspace/README.md", "file"),
  ];
  const paths = (es: PlannedEntry[]) => es.map((e) => e.header.path);

  it("a matched folder brings everything below it, with the folders above; the rest keeps every folder", () => {
    const [slice, rest] = sliceEntries(all, "/workspace", [{ paths: ["public"] }]);
    expect(paths(slice!)).toEqual([
      "workspace",
      "workspace/public",
      "workspace/public/a.css",
      "workspace/public/img",
      "workspace/public/img/b.png",
    ]);
    expect(paths(rest!)).toEqual([
      "workspace",
      "workspace/app.js",
      "workspace/public",
      "workspace/public/img",
      "workspace/README.md",
    ]);
  });

  it("an entry goes to the first slice that matches it, and ./ and trailing / are ignored in patterns", () => {
    const [first, second, rest] = sliceEntries(all, "/workspace/", [
      { paths: ["./*.md", "public/*.css"] },
      { paths: ["public/"] },
    ]);
    // Byte order, as the lifecycle's tar: "README.md" sorts before "public".
    expect(paths(first!)).toEqual([
      "workspace",
      "workspace/README.md",
      "workspace/public",
      "workspace/public/a.css",
    ]);
    expect(paths(second!)).toEqual([
      "workspace",
      "workspace/public",
      "workspace/public/img",
      "workspace/public/img/b.png",
    ]);
    expect(paths(rest!)).toEqual([
      "workspace",
      "workspace/app.js",
      "workspace/public",
      "workspace/public/img",
    ]);
  });

  it("a slice that matches nothing is empty and the rest is everything", () => {
    const [slice, rest] = sliceEntries(all, "/workspace", [{ paths: ["nothing-*"] }]);
    expect(slice).toEqual([]);
    expect(paths(rest!)).toEqual(paths(all));
  });
});
