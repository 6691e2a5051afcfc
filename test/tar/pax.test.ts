import { describe, expect, it } from "vitest";
import { decodeLongName } from "../../src/tar/gnu.ts";
import { decodePax, encodePax, encodePaxRecord } from "../../src/tar/pax.ts";

describe("PAX records", () => {
  it("count their own length, across a change in its digits", () => {
    expect(encodePaxRecord("path", "abc").toString()).toBe("12 path=abc\n");
    // 98 bytes of body: 2 digits would give 100, so the length is 101.
    const rec = encodePaxRecord("k", "v".repeat(94)).toString();
    expect(rec.startsWith("101 ")).toBe(true);
    expect(Buffer.byteLength(rec)).toBe(101);
  });

  it("are written with sorted keys and read back, binary values included", () => {
    const records = new Map([
      ["path", Buffer.from("ü/long")],
      ["SCHILY.xattr.security.capability", Buffer.from([0, 1, 2, 0x0a, 0x3d])],
      ["linkpath", Buffer.from("t")],
    ]);
    const data = encodePax(records);
    expect(data.toString("latin1").split("\n")[0]).toContain("SCHILY.xattr");
    const back = decodePax(Buffer.concat([data, Buffer.alloc(20)]));
    expect(back.malformed).toBe(false);
    expect(back.records).toEqual(records);
  });

  it("stop at a malformed record, keeping those before it", () => {
    const good = encodePaxRecord("path", "a");
    for (const bad of ["99 x=1\n", "5 x=1\n", "7 x=12X", "garbage", "6 x1\n"]) {
      const r = decodePax(Buffer.concat([good, Buffer.from(bad)]));
      expect(r.malformed, bad).toBe(true);
      expect(r.records.get("path")?.toString()).toBe("a");
    }
  });
});

describe("GNU long names", () => {
  it("drop the trailing NULs", () => {
    expect(decodeLongName(Buffer.from("a/very/long/name\0\0\0"))).toBe("a/very/long/name");
  });
});
