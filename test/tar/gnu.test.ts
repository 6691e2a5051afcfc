import { describe, expect, it } from "vitest";
import { decodeLongName } from "../../src/tar/gnu.ts";

describe("decodeLongName", () => {
  it("strips the trailing NULs GNU tar pads the name with", () => {
    expect(decodeLongName(Buffer.from("a/very/long/name\0\0\0\0"))).toBe("a/very/long/name");
  });

  it("keeps a name without NUL, and decodes UTF-8", () => {
    expect(decodeLongName(Buffer.from("dir/é.txt"))).toBe("dir/é.txt");
  });

  it("keeps NULs that are not trailing (the caller's problem, not silently cut)", () => {
    expect(decodeLongName(Buffer.from("a\0b\0"))).toBe("a\0b");
  });
});
