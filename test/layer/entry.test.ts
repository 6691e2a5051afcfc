/** Path helpers of the layer entry model: base and dir names, joining, the order entries are written in. */
import { expect, it } from "vitest";
import { baseName, comparePaths, dirName, joinPath } from "../../src/layer/entry.ts";

it("baseName and dirName split at the last slash; a top-level name's directory is the root", () => {
  expect([baseName("a/b/c"), dirName("a/b/c")]).toEqual(["c", "a/b"]);
  expect([baseName("top"), dirName("top")]).toEqual(["top", ""]);
  expect(joinPath("", "top")).toBe("top");
  expect(joinPath("a/b", "c")).toBe("a/b/c");
});

it("paths sort bytewise (UTF-8), not by UTF-16 code units or locale", () => {
  // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (4 bytes, F0 …); as UTF-16 the emoji's surrogate
  // (D83D) sorts before FF5E.
  const paths = ["b", "a/b", "a-b", "\u{1F600}", "\uFF5E", "B", "a"];
  expect([...paths].sort(comparePaths)).toEqual(["B", "a", "a-b", "a/b", "b", "\uFF5E", "\u{1F600}"]);
  expect(comparePaths("x", "x")).toBe(0);
});
