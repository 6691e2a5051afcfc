/**
 * The history `created_by` text BuildKit's Dockerfile frontend writes, which is Go's fmt verbs applied to its
 * values: `%q` of a string list (`["a" "b"]`), `%v` of one (`[a b]`), `%q` of a HealthcheckConfig pointer
 * (`&{["CMD-SHELL" "true"] "30s" "0s" "0s" "0s" '\x03'}`, durations as time.Duration.String(), the retry count
 * as a quoted rune). Tools that read history (docker history, dive, scanners) see the same text from both.
 * And the entry BuildKit's image exporter writes for a layer that has none (`exporterHistory`), which names the
 * layer by its ref's description: a file op's is its vertex's name (`vertexName`), a RUN's `mount / from exec …`.
 */
import type { Healthcheck, History } from "../oci/config.ts";
import type { Stage } from "./stage.ts";

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

/** The comment BuildKit's exporter gives a history entry it adds for a layer that has none. */
export const EXPORTER_COMMENT = "buildkit.exporter.image.v0";

/** Where a step stands among its stage's (dockerfile2llb's dispatchState: stageName, cmdIndex, cmdTotal). */
export interface VertexPosition {
  /** The stage's name, `stage-N` for a nameless one, "" when the Dockerfile has one stage. */
  stage: string;
  /** The step's number (1-based): the FROM of an image counts, a FROM of a stage, scratch or a context does not. */
  index: number;
  /** How many the stage counts: its RUN, COPY, ADD and WORKDIR, its ONBUILD triggers, and FROM unless of a stage or scratch. */
  total: number;
  /** An ONBUILD trigger's step. */
  onbuild?: boolean;
}

/** The instructions dockerfile2llb names a vertex for (prefixCommand), and counts (cmdTotal). */
const MAKES_VERTEX = new Set(["RUN", "COPY", "ADD", "WORKDIR"]);

/**
 * Where dockerfile2llb's count of a stage's steps starts (cmdIndex, cmdTotal), the Dockerfile having `stages`
 * stages and the stage's base `triggers` ONBUILD triggers: the FROM of an image with layers (`from.image`) is step
 * 1, BuildKit names no vertex for one of a stage, scratch or a named context; the count takes FROM but of a stage or
 * scratch, the RUN, COPY, ADD and WORKDIR, and the triggers.
 */
export function vertexStart(
  stage: Stage,
  stages: number,
  triggers: number,
  from: { stage: boolean; scratch: boolean; image: boolean },
): VertexPosition {
  let total = triggers + (from.stage || from.scratch ? 0 : 1);
  for (const ins of stage.instructions) if (MAKES_VERTEX.has(ins.keyword)) total++;
  const name = stages === 1 ? "" : (stage.name ?? `stage-${stage.index}`);
  return { stage: name, index: from.image ? 1 : 0, total };
}

/**
 * dockerfile2llb's name of a step's vertex (prefixCommand, without a multi-platform build's platform): `[STAGE
 * N/M] TEXT`, N right-aligned to M's width, the first word of TEXT upper-cased (uppercaseCmd), `ONBUILD ` before a
 * trigger's; TEXT alone when the stage counts no step. A file op (COPY, ADD, WORKDIR) describes its layer so.
 */
export function vertexName(text: string, p: VertexPosition): string {
  const space = text.indexOf(" ");
  const upper = space < 0 ? text.toUpperCase() : `${text.slice(0, space).toUpperCase()}${text.slice(space)}`;
  if (p.total === 0) return upper;
  const width = Math.floor(1 + Math.log10(p.total));
  const n = `${String(p.index).padStart(width)}/${p.total}`;
  return `[${p.stage ? `${p.stage} ` : ""}${n}] ${p.onbuild ? "ONBUILD " : ""}${upper}`;
}

/** A RUN's layer's description (the exec op's root mount: `mount / from exec ARGS`). */
export const execDescription = (argv: readonly string[]) => `mount / from exec ${argv.join(" ")}`;

/**
 * An image's history as BuildKit's exporter writes it when one layer has no entry of its own (FROM a directory
 * context, whose entry berth wrote at `entry`, where the layer is): the entries there describe the layers from
 * the bottom (normalizeLayersAndHistory counts them, it does not match them), and one is appended for the top
 * layer, `description` its ref's, created when the top layer's entry was, commented `EXPORTER_COMMENT`, not an
 * empty layer. The same history when the context's layer is the top one.
 */
export function exporterHistory(history: readonly History[], entry: number, description: string): History[] {
  const top = history.findLast((h) => !h.empty_layer);
  const out = history.filter((_, i) => i !== entry);
  out.push({
    ...(top?.created === undefined ? {} : { created: top.created }),
    created_by: description,
    comment: EXPORTER_COMMENT,
  });
  return out;
}
