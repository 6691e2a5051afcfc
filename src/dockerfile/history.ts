/**
 * The history `created_by` text BuildKit's Dockerfile frontend writes, which is Go's fmt verbs applied to its
 * values: `%q` of a string list (`["a" "b"]`), `%v` of one (`[a b]`), `%q` of a HealthcheckConfig pointer
 * (`&{["CMD-SHELL" "true"] "30s" "0s" "0s" "0s" '\x03'}`, durations as time.Duration.String(), the retry count
 * as a quoted rune). Tools that read history (docker history, dive, scanners) see the same text from both.
 */
import type { Healthcheck } from "../oci/config.ts";

const ESCAPES: Record<number, string> = {
  7: "\\a",
  8: "\\b",
  9: "\\t",
  10: "\\n",
  11: "\\v",
  12: "\\f",
  13: "\\r",
};

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

function escapeRune(cp: number, quote: number): string {
  if (cp === quote || cp === 0x5c) return `\\${String.fromCodePoint(cp)}`;
  if (ESCAPES[cp]) return ESCAPES[cp];
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  // Go keeps printable runes as they are; C1 controls and other non-printables are escaped.
  if (cp >= 0x80 && cp < 0xa0) return `\\u${hex(cp, 4)}`;
  return String.fromCodePoint(cp);
}

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch.codePointAt(0)!, 0x22);
  return `${out}"`;
}

/** Go's strconv.QuoteRune (fmt's `%q` of an int). */
export function goQuoteRune(n: number): string {
  return `'${escapeRune(n, 0x27)}'`;
}

/** fmt's `%q` of a []string. */
export function goQuoteList(xs: readonly string[]): string {
  return `[${xs.map(goQuote).join(" ")}]`;
}

/** fmt's `%v` of a []string. */
export function goList(xs: readonly string[]): string {
  return `[${xs.join(" ")}]`;
}

/** Go's time.Duration.String() of nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = Math.abs(ns);
  const sign = neg ? "-" : "";
  const frac = (v: number, digits: number) => {
    // v in units of 10^-digits; trailing zeros dropped, as Go's fmtFrac.
    const whole = Math.floor(v / 10 ** digits);
    const rest = (v % 10 ** digits).toString().padStart(digits, "0").replace(/0+$/, "");
    return rest ? `${whole}.${rest}` : `${whole}`;
  };
  if (u < 1e9) {
    if (u < 1e3) return `${sign}${u}ns`;
    if (u < 1e6) return `${sign}${frac(u, 3)}µs`;
    return `${sign}${frac(u, 6)}ms`;
  }
  const h = Math.floor(u / 3600e9);
  u -= h * 3600e9;
  const m = Math.floor(u / 60e9);
  u -= m * 60e9;
  const s = `${frac(u, 9)}s`;
  if (h > 0) return `${sign}${h}h${m}m${s}`;
  if (m > 0) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}

/** fmt's `%q` of BuildKit's *HealthcheckConfig. */
export function goHealthcheck(h: Healthcheck): string {
  const d = (n: number | undefined) => goQuote(goDuration(n ?? 0));
  return `&{${goQuoteList(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${d(h.StartInterval)} ${goQuoteRune(h.Retries ?? 0)}}`;
}
