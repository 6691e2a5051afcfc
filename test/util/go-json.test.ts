import { describe, expect, it } from "vitest";
import { goBool, goIndented, goString, goTime } from "../../src/util/go-json.ts";

describe("goTime and goString: Go's encoding of a time and a string", () => {
  it("cuts the fraction's trailing zeros, as RFC3339Nano, to the microsecond", () => {
    expect(goTime(Date.UTC(2026, 11, 4, 3, 50, 12, 120))).toBe("2026-12-04T03:50:12.12Z");
    expect(goTime(Date.UTC(2026, 11, 4, 3, 50, 0, 0))).toBe("2026-12-04T03:50:00Z");
    expect(goTime(Date.UTC(2026, 11, 4, 3, 50, 10, 5))).toBe("2026-12-04T03:50:10.005Z");
    expect(goTime(Date.UTC(2026, 11, 4, 3, 50, 10, 5) + 0.0371)).toBe("2026-12-04T03:50:10.005037Z");
    expect(goTime(Date.UTC(2026, 11, 4, 3, 50, 59, 999) + 0.9999)).toBe("2026-12-04T03:51:00Z");
  });

  it("escapes <, >, &, U+2028 and U+2029, and makes a lone surrogate U+FFFD", () => {
    expect(goString("a<b>&c\u2028\u2029")).toBe('"a\\u003cb\\u003e\\u0026c\\u2028\\u2029"');
    expect(goString("x\uD800y")).toBe('"x\uFFFDy"');
    expect(goString("\u{1F600}\t\x1b")).toBe('"\u{1F600}\\t\\u001b"');
  });

  it("writes \\b and \\f as Go 1.22 does, or as \\u escapes as Go 1.19 did (skopeo 1.9.3), and never touches an escaped backslash", () => {
    expect(goString("a\bb\fc")).toBe('"a\\bb\\fc"');
    expect(goString("a\bb\fc", true)).toBe('"a\\u0008b\\u000cc"');
    expect(goString("\\b\\f<", true)).toBe('"\\\\b\\\\f\\u003c"');
  });
});

describe('goIndented: Go\'s json.MarshalIndent(v, "", "  ")', () => {
  it("indents by two spaces, keeps empty arrays and objects on one line, escapes what Go escapes", () => {
    expect(goIndented({ a: "<b>&\u2028", e: [], o: {}, n: [1, { x: null }] })).toBe(
      '{\n  "a": "\\u003cb\\u003e\\u0026\\u2028",\n  "e": [],\n  "o": {},\n  "n": [\n    1,\n    {\n      "x": null\n    }\n  ]\n}',
    );
  });
});

describe("goBool: Go's strconv.ParseBool", () => {
  it("takes its six spellings of each value and nothing else", () => {
    expect(goBool("TRUE")).toBe(true);
    expect(goBool("F")).toBe(false);
    expect(goBool("tRue")).toBeUndefined();
    expect(goBool(undefined)).toBeUndefined();
  });
});
