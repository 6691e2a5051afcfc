import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  BLOCK,
  decodeHeader,
  encodeHeader,
  fitsOctal,
  headerPath,
  isZeroBlock,
  padding,
  type RawHeader,
  splitUstarName,
  truncateBytes,
} from "../../src/tar/header.ts";

const base: RawHeader = {
  name: "etc/passwd",
  prefix: "",
  mode: 0o644,
  uid: 1000,
  gid: 100,
  size: 1234,
  mtime: 1_700_000_000,
  typeflag: "0",
  linkname: "",
  uname: "user",
  gname: "users",
  devmajor: 0,
  devminor: 0,
};

/** A header block written by GNU tar itself, for an empty file of this name. */
function gnuTarBlock(format: string): Buffer {
  const out = execFileSync(
    "bash",
    [
      "-c",
      `d=$(mktemp -d) && cd "$d" && : > f && tar --format=${format} --owner=0 --group=0 --mtime=@0 -cf - f; rm -rf "$d"`,
    ],
    { maxBuffer: 1 << 20 },
  );
  return out.subarray(0, BLOCK);
}

describe("tar header", () => {
  it("round-trips every field", () => {
    const block = encodeHeader(base);
    expect(block.length).toBe(BLOCK);
    const h = decodeHeader(block);
    expect(h.problems).toEqual([]);
    expect(h.magic).toBe("ustar");
    const { magic: _m, problems: _p, ...fields } = h;
    expect(fields).toEqual(base);
  });

  it("writes numbers as GNU tar does: zero-padded octal, NUL-terminated; checksum as 6 digits, NUL, space", () => {
    const block = encodeHeader(base);
    expect(block.toString("latin1", 100, 108)).toBe("0000644\0");
    expect(block.toString("latin1", 124, 136)).toBe("00000002322\0");
    expect(block[154]).toBe(0);
    expect(block[155]).toBe(0x20);
    expect(block.toString("latin1", 257, 265)).toBe("ustar\u000000");
  });

  it("encodes numbers too large for octal in base-256, and decodes them", () => {
    const size = 2 ** 40 + 3;
    const block = encodeHeader({ ...base, size });
    expect(block[124]).toBe(0x80);
    expect(decodeHeader(block).size).toBe(size);
    expect(decodeHeader(block).problems).toEqual([]);
  });

  it("encodes into a reused buffer at an offset, clearing what was there", () => {
    const target = Buffer.alloc(BLOCK * 3, 0xaa);
    const block = encodeHeader(base, target, BLOCK);
    expect(block.buffer).toBe(target.buffer);
    expect(target.subarray(BLOCK, 2 * BLOCK).equals(encodeHeader(base))).toBe(true);
    expect(target[0]).toBe(0xaa);
    expect(target[2 * BLOCK]).toBe(0xaa);
  });

  it("matches the bytes GNU tar writes for a POSIX header", () => {
    const gnu = gnuTarBlock("ustar");
    const h = decodeHeader(gnu);
    expect(h.problems).toEqual([]);
    expect(encodeHeader(h).equals(gnu)).toBe(true);
  });

  it("reads GNU-magic headers without a prefix", () => {
    const h = decodeHeader(gnuTarBlock("gnu"));
    expect(h.magic).toBe("gnu");
    expect(h.problems).toEqual([]);
    expect(headerPath(h)).toBe("f");
  });

  it("reports a bad checksum and fields that are not numbers, in block order", () => {
    const block = encodeHeader(base);
    block[0] = 0x46; // "F" for "e": the stored checksum no longer matches
    expect(decodeHeader(block).problems).toEqual([
      { field: "checksum", message: "tar header checksum does not match (not a tar, or corrupt)" },
    ]);
    const bad = encodeHeader(base);
    bad.write("9", 124, "latin1");
    bad.write("x", 100, "latin1");
    const fields = decodeHeader(bad).problems.map((p) => p.field);
    expect(fields).toEqual(["checksum", "mode", "size"]);
    expect(decodeHeader(bad).problems[2]!.message).toBe('tar header size "90000002322" is not octal');
  });

  it("refuses negative and too large base-256 numbers", () => {
    const neg = encodeHeader(base);
    neg[124] = 0xff;
    expect(decodeHeader(neg).problems.map((p) => p.message)).toContain("tar header has a negative size");
    const big = encodeHeader(base);
    big.fill(0xbf, 124, 136);
    expect(decodeHeader(big).problems.map((p) => p.message)).toContain("tar header size too large");
  });

  it("accepts a checksum computed with signed bytes", () => {
    const block = encodeHeader({ ...base, name: "é" });
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) {
      const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
      signed += b > 127 ? b - 256 : b;
    }
    block.write(`${signed.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    expect(decodeHeader(block).problems).toEqual([]);
  });

  it("splits long names at a slash into prefix and name", () => {
    expect(splitUstarName("a/b")).toEqual({ prefix: "", name: "a/b" });
    const p = `${"p".repeat(120)}/${"n".repeat(90)}`;
    expect(splitUstarName(p)).toEqual({ prefix: "p".repeat(120), name: "n".repeat(90) });
    expect(splitUstarName("x".repeat(101))).toBeUndefined();
    expect(splitUstarName(`${"a".repeat(200)}/${"b".repeat(60)}`)).toBeUndefined();
    const h = decodeHeader(encodeHeader({ ...base, ...splitUstarName(p)! }));
    expect(headerPath(h)).toBe(p);
  });

  it("helpers: fitsOctal, padding, truncateBytes, isZeroBlock", () => {
    expect(fitsOctal(0o7777777, 8)).toBe(true);
    expect(fitsOctal(0o10000000, 8)).toBe(false);
    expect(fitsOctal(1.5, 12)).toBe(false);
    expect(padding(0)).toBe(0);
    expect(padding(1)).toBe(511);
    expect(padding(512)).toBe(0);
    expect(truncateBytes("ab", 100)).toBe("ab");
    expect(truncateBytes("é".repeat(60), 101)).toBe("é".repeat(50));
    expect(isZeroBlock(Buffer.alloc(BLOCK))).toBe(true);
    expect(isZeroBlock(encodeHeader(base))).toBe(false);
  });

  it("refuses a string that does not fit its field", () => {
    expect(() => encodeHeader({ ...base, name: "x".repeat(101) })).toThrow(/longer than 100 bytes/);
  });
});
