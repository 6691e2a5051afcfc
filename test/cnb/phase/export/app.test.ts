import { describe, expect, it } from "vitest";
import { sliceEntries } from "../../../../src/cnb/phase/export/app.ts";
import type { PlannedEntry } from "../../../../src/layer/walk.ts";

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

  it("cleans a slice path as filepath.Clean does", () => {
    const [slice] = sliceEntries(all, "/workspace", [{ paths: ["public/../app.js", "./public//img/"] }]);
    expect(paths(slice!)).toEqual([
      "workspace",
      "workspace/app.js",
      "workspace/public",
      "workspace/public/img",
      "workspace/public/img/b.png",
    ]);
  });

  it("matches as Go's filepath.Match (`!` is no negation, a class may take a /); a bad pattern is an error", () => {
    const [neg, slash, rest] = sliceEntries(all, "/workspace", [
      { paths: ["[!a]pp.js"] },
      { paths: ["public[/]a.css"] },
    ]);
    expect(paths(neg!)).toEqual(["workspace", "workspace/app.js"]);
    expect(paths(slash!)).toEqual(["workspace", "workspace/public", "workspace/public/a.css"]);
    expect(paths(rest!)).not.toContain("workspace/app.js");
    expect(() => sliceEntries(all, "/workspace", [{ paths: ["public/[a"] }])).toThrow(
      'launch.toml: slice path "public/[a" is not a valid pattern: a [ has no closing ]',
    );
  });
});
