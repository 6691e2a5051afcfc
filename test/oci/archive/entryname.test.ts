import { describe, expect, it } from "vitest";
import { normalizeEntryName, resolveLinkTarget } from "../../../src/oci/archive/entryname.ts";
import { errorOf } from "../../helpers/oci.ts";

describe("normalizeEntryName", () => {
  it.each([
    ["./a//b/", "a/b"],
    ["a/./b", "a/b"],
    ["a/b/../c", "a/c"],
    ["./", ""],
    ["/index.json", "index.json"],
    ["//blobs/sha256/x", "blobs/sha256/x"],
  ])("%s → %s", (raw, want) => {
    expect(normalizeEntryName(raw, "a.tar")).toBe(want);
  });

  it.each(["..", "../escape", "a/../../b", "/../etc/passwd"])(
    "refuses %s, naming the entry and archive",
    async (raw) => {
      const err = await errorOf(() => normalizeEntryName(raw, "in.tar"));
      expect(err.code).toBe("ARCHIVE_INVALID");
      expect(err.message).toBe(`archive in.tar: entry ${JSON.stringify(raw)} points outside the archive`);
      expect(err.details).toEqual({ archive: "in.tar", entry: raw });
      expect(err.hint).toMatch(/malicious/);
    },
  );
});

describe("resolveLinkTarget", () => {
  it.each([
    ["a/b/link", "c", "a/b/c"],
    ["a/b/link", "../c", "a/c"],
    ["link", "./x/y", "x/y"],
    ["a/link", "..", ""],
  ])("%s -> %s resolves to %s", (link, target, want) => {
    expect(resolveLinkTarget(link, target, "a.tar")).toBe(want);
  });

  it("refuses an absolute target", async () => {
    const err = await errorOf(() => resolveLinkTarget("a/link", "/etc/passwd", "a.tar"));
    expect(err.code).toBe("ARCHIVE_INVALID");
    expect(err.message).toBe('archive a.tar: entry "a/link" is a symlink to the absolute path "/etc/passwd"');
  });

  it("refuses a target that climbs out, naming the link, not the joined path", async () => {
    const err = await errorOf(() => resolveLinkTarget("a/link", "../../x", "a.tar"));
    expect(err.message).toBe('archive a.tar: entry "a/link" is a symlink to "../../x", outside the archive');
    expect(err.details).toEqual({ archive: "a.tar", entry: "a/link" });
  });
});
