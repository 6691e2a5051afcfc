/** BuildKit's history wording is Go's fmt output: durations, quoted strings and runes as Go prints them. */
import { describe, expect, it } from "vitest";
import {
  goDuration,
  goHealthcheck,
  goList,
  goQuote,
  goQuoteList,
  goQuoteRune,
} from "../../src/dockerfile/history.ts";

describe("Go formatting for history", () => {
  it("formats durations as time.Duration.String()", () => {
    expect([0, 1, 1500, 500e6, 1.5e9, 30e9, 90e9, 3600e9, 3725.25e9].map(goDuration)).toEqual([
      "0s",
      "1ns",
      "1.5µs",
      "500ms",
      "1.5s",
      "30s",
      "1m30s",
      "1h0m0s",
      "1h2m5.25s",
    ]);
  });
  it("quotes strings and runes as strconv does", () => {
    expect(goQuote('a "b" \\ c\n\t\x01é')).toBe('"a \\"b\\" \\\\ c\\n\\t\\x01é"');
    expect([0, 4, 10, 39, 65].map(goQuoteRune)).toEqual(["'\\x00'", "'\\x04'", "'\\n'", "'\\''", "'A'"]);
    expect(goQuoteList(["/bin/sh", "-c", "echo hi"])).toBe('["/bin/sh" "-c" "echo hi"]');
    expect(goList(["/bin/sh", "-ec"])).toBe("[/bin/sh -ec]");
  });
  it("prints a healthcheck as %q of BuildKit's HealthcheckConfig", () => {
    expect(
      goHealthcheck({ Test: ["CMD-SHELL", "true"], Interval: 30e9, StartPeriod: 90e9, Retries: 4 }),
    ).toBe(`&{["CMD-SHELL" "true"] "30s" "0s" "1m30s" "0s" '\\x04'}`);
  });
});
