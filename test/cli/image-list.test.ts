/**
 * src/cli/image-list.ts: `berth images`' rows through docker's --filter and --format (test/cli/commands/images.test.ts
 * compares the whole command with a real dockerd).
 */
import { describe, expect, it } from "vitest";
import {
  formatImages,
  type ImageRow,
  matchesFilters,
  parseFilters,
  parseFormat,
} from "../../src/cli/image-list.ts";

const row = (name: string | undefined): ImageRow => ({
  name,
  repository: undefined,
  tag: undefined,
  digest: `sha256:${"a".repeat(64)}`,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  id: `sha256:${"b".repeat(64)}`,
  created: undefined,
  size: 1,
  platforms: 1,
  labels: {},
});

describe("image list", () => {
  it("lists an index under its own digest as `index of N`", async () => {
    const rows: Parameters<typeof formatImages>[0] = [
      {
        name: "docker.io/library/multi:1",
        repository: "docker.io/library/multi",
        tag: "1",
        digest: `sha256:${"a".repeat(64)}`,
        mediaType: "application/vnd.oci.image.index.v1+json",
        id: `sha256:${"a".repeat(64)}`,
        created: undefined,
        size: undefined,
        unpackedSize: null,
        platforms: 2,
        labels: {},
      },
    ];
    const o = { trunc: true, digests: false, quiet: false, format: undefined, now: 0 };
    expect(formatImages(rows, o).split("\n")[1]).toBe(
      `multi        1         ${"a".repeat(12)}   N/A       index of 2`,
    );
  });

  it("refuses an unknown filter or template field, naming it", () => {
    expect(() => parseFilters(["before=app:1"])).toThrow(
      '--filter before=app:1: berth images has no filter "before"',
    );
    expect(() => parseFilters(["dangling=maybe"])).toThrow(
      "--filter dangling=maybe: dangling is true or false",
    );
    expect(() => parseFilters(["reference"])).toThrow("--filter reference: a filter is KEY=VALUE");
    expect(() => parseFormat("{{.Foo}}")).toThrow("--format: an image has no field .Foo");
    expect(() => parseFormat("{{range .}}")).toThrow("--format: berth images cannot execute {{range .}}");
    expect(parseFilters(["reference=team/*", "dangling=1", "label=a=b"]).dangling).toBe(true);
  });

  it("reference=PATTERN is Go's path.Match over the familiar name, with and without the tag", () => {
    const pass = (pattern: string, name: string) =>
      matchesFilters(parseFilters([`reference=${pattern}`]), row(name));
    expect(pass("team/*", "docker.io/team/web:1")).toBe(true);
    expect(pass("team/*", "docker.io/team/sub/api:1")).toBe(false);
    expect(pass("w[a-f]b:?", "docker.io/library/web:1")).toBe(true);
    expect(pass("[^x]eb", "docker.io/library/web:1")).toBe(true);
    expect(pass("we[\\b]:1", "docker.io/library/web:1")).toBe(true);
    // Go: a ] right after [ (or [^) is a bad pattern, as are an unclosed [ and a trailing \
    expect(() => parseFilters(["reference=[]eb"])).toThrow(
      "--filter reference=[]eb: not a valid pattern: a [...] is empty or has a range with no end",
    );
    expect(() => parseFilters(["reference=web\\"])).toThrow("not a valid pattern: it ends in a lone \\");
    expect(() => parseFilters(["reference=w[eb"])).toThrow("not a valid pattern: a [ has no closing ]");
  });
});
