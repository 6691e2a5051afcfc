/**
 * Strings and times as Go's encoding/json writes them, for the documents berth must write byte for byte as a Go
 * program does: skopeo's re-marshalled configs (oci/go-config.ts), buildx's rawjson stream (cli/rawjson.ts),
 * BuildKit's provenance (dockerfile/provenance.ts); and Go's strconv.ParseBool, for the flags and build args
 * berth reads as Go programs read them (skopeo's, docker's, BuildKit's).
 */

const HTML_SAFE: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/** Go before 1.22 wrote \b and \f as \u escapes. */
const LEGACY: Record<string, string> = { "\\b": "\\u0008", "\\f": "\\u000c" };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A string as Go's encoder writes it: HTML-safe (`<`, `>`, `&`, U+2028/9 as `\u` escapes), a lone surrogate
 * (which a Go string cannot hold) as U+FFFD, other control bytes as JSON.stringify escapes them, as Go 1.22 and
 * later do; `go119` (skopeo 1.9.3's Go): `\b` and `\f` as `\u0008` and `\u000c`.
 */
export function goString(s: string, go119 = false): string {
  // every backslash of JSON.stringify's output starts an escape: matching escapes whole keeps `\\b` intact
  return JSON.stringify(s.replace(LONE_SURROGATE, "\uFFFD")).replace(
    /\\(?:u[0-9a-f]{4}|.)|[<>&\u2028\u2029]/g,
    (m) => HTML_SAFE[m] ?? (go119 ? LEGACY[m] : undefined) ?? m,
  );
}

/** Go's strconv.ParseBool: 1, t, T, TRUE, true, True and their false forms; undefined for anything else. */
export function goBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

/**
 * An instant (milliseconds since the epoch, to the microsecond) as Go's time.Time marshals it in UTC:
 * RFC 3339 with the fraction's trailing zeros cut (unquoted).
 */
export function goTime(ms: number): string {
  const us = Math.round(ms * 1000);
  const seconds = new Date(Math.floor(us / 1e6) * 1000).toISOString().slice(0, 19);
  const fraction = String(us % 1e6)
    .padStart(6, "0")
    .replace(/0+$/, "");
  return `${seconds}${fraction ? `.${fraction}` : ""}Z`;
}

/**
 * A value as Go's json.MarshalIndent(v, "", "  ") writes it, its objects' keys already in Go's order (a struct's
 * fields as declared, a map's sorted): JSON.stringify's indentation is Go's; `<`, `>`, `&` and U+2028/9, which
 * stand only inside strings, escaped as Go's encoder escapes them.
 */
export function goIndented(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[<>&\u2028\u2029]/g, (m) => HTML_SAFE[m]!);
}
