/**
 * What `berth images` shows: its rows, docker's `--filter` (reference=PATTERN as Go's path.Match, dangling,
 * label) and `--format` (the Go templates image lists use) over them, and docker's table.
 */
import { BerthError } from "../errors.ts";
import { familiarReference, parseReference } from "../oci/reference.ts";
import { compileGlob, type Glob } from "../util/glob.ts";
import { rfc3339 } from "./commands/history.ts";
import { dockerTable, humanDuration, humanSize, shortDigest } from "./output.ts";

/** One line of `berth images` (and one entry of its --json). */
export interface ImageRow {
  name: string | undefined;
  repository: string | undefined;
  tag: string | undefined;
  /** The manifest's (or index's) digest: the repository digest a registry knows it by. */
  digest: string;
  mediaType: string;
  /** docker's image id: the config's digest (an index: its own digest). */
  id: string;
  created: string | undefined;
  /** The blobs' bytes: config and compressed layers. */
  size: number | undefined;
  /** What docker's SIZE counts: the unpacked layers' contents (history's layerContentSize); null for an index. */
  unpackedSize?: number | null;
  platforms: number;
  labels: Record<string, string>;
}

/** Go's zero time (0001-01-01T00:00:00Z) in seconds since the epoch: docker's `created` when an image has none. */
const GO_ZERO_TIME = -62_135_596_800;

export function createdSeconds(r: ImageRow): number {
  return r.created === undefined ? GO_ZERO_TIME : Math.floor(Date.parse(r.created) / 1000);
}

/** `--filter KEY=VALUE` as `docker images` takes them: the same key's values OR'ed, different keys AND'ed. */
interface Filters {
  reference: Glob[];
  dangling: boolean | undefined;
  label: string[];
}

function filterError(filter: string, why: string): BerthError {
  return new BerthError("USAGE", `--filter ${filter}: ${why}`, {
    hint: "berth images filters as docker images does: reference=PATTERN, dangling=true|false, label=KEY[=VALUE]",
  });
}

export function parseFilters(given: string[]): Filters {
  const f: Filters = { reference: [], dangling: undefined, label: [] };
  for (const filter of given) {
    const eq = filter.indexOf("=");
    if (eq < 0) throw filterError(filter, "a filter is KEY=VALUE");
    const key = filter.slice(0, eq).toLowerCase();
    const value = filter.slice(eq + 1);
    switch (key) {
      case "reference":
        // docker: reference.FamiliarMatch, Go's path.Match
        f.reference.push(compileGlob(value, (why) => filterError(filter, `not a valid pattern: ${why}`)));
        break;
      case "dangling": {
        const v = value.toLowerCase();
        if (v !== "true" && v !== "1" && v !== "false" && v !== "0")
          throw filterError(filter, "dangling is true or false");
        f.dangling = v === "true" || v === "1";
        break;
      }
      case "label":
        f.label.push(value);
        break;
      default:
        throw filterError(filter, `berth images has no filter ${JSON.stringify(filter.slice(0, eq))}`);
    }
  }
  return f;
}

/** Whether a row passes the filters. */
export function matchesFilters(f: Filters, r: ImageRow): boolean {
  if (f.dangling !== undefined && f.dangling !== (r.name === undefined)) return false;
  if (f.reference.length) {
    if (!r.name) return false;
    const ref = parseReference(r.name);
    const name = familiarReference({ registry: ref.registry, repository: ref.repository });
    const full = ref.tag === undefined ? name : `${name}:${ref.tag}`;
    if (!f.reference.some((re) => re.test(full) || re.test(name))) return false;
  }
  return f.label.every((l) => {
    const eq = l.indexOf("=");
    return eq < 0 ? Object.hasOwn(r.labels, l) : r.labels[l.slice(0, eq)] === l.slice(eq + 1);
  });
}

/** What docker's image formatter context gives a template: each field's value and table header. */
const FIELDS = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  // docker 20.10 heads VirtualSize "SIZE" too
  VirtualSize: "SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
} as const;

type Field = keyof typeof FIELDS;

/** An image row as docker's formatter shows it (every value a string). */
function fieldsOf(r: ImageRow, o: { trunc: boolean; digests: boolean; now: number }): Record<Field, string> {
  const { trunc, now } = o;
  const ref = r.name ? parseReference(r.name) : undefined;
  const seconds = createdSeconds(r);
  const index = r.size === undefined;
  const size = (precision: number) =>
    index ? `index of ${r.platforms}` : r.unpackedSize == null ? "N/A" : humanSize(r.unpackedSize, precision);
  return {
    Containers: "N/A",
    CreatedAt: index && r.created === undefined ? "N/A" : goTimeString(seconds),
    CreatedSince: index && r.created === undefined ? "N/A" : `${humanDuration(now - seconds)} ago`,
    // docker fills .Digest only with --digests (its imageFormatTaggedAndDigest)
    Digest: o.digests && r.name !== undefined ? r.digest : "<none>",
    ID: trunc ? shortDigest(r.id) : r.id,
    Repository: ref ? familiarReference({ registry: ref.registry, repository: ref.repository }) : "<none>",
    SharedSize: "N/A",
    Size: size(3),
    Tag: r.tag ?? "<none>",
    UniqueSize: "N/A",
    VirtualSize: size(4),
  };
}

const ZONE_LOCALES = ["en-US", "en-GB", "en-CA", "en-IN", "en-AU"];

/** Go's Time.String() in the local zone ("2026-12-03 22:01:00 +0000 UTC"), docker's CreatedAt. */
function goTimeString(seconds: number): string {
  const rfc = rfc3339(seconds);
  const offset = rfc.slice(19) === "Z" ? "+0000" : rfc.slice(19).replace(":", "");
  // Go names the zone by tzdata's abbreviation (UTC, CET, NST), or by the offset where it has none ("-03"):
  // ICU knows each abbreviation only in the locales that use it, so ask a few
  const date = new Date(seconds * 1000);
  const named = ZONE_LOCALES.map(
    (l) =>
      new Intl.DateTimeFormat(l, { timeZoneName: "short" })
        .formatToParts(date)
        .find((p) => p.type === "timeZoneName")?.value,
  ).find((n) => n !== undefined && /^[A-Z]+$/.test(n));
  const zone = offset === "+0000" ? "UTC" : (named ?? offset.replace(/00$/, ""));
  return `${rfc.slice(0, 19).replace("T", " ")} ${offset} ${zone}`;
}

/** One `{{…}}` of a --format template: a field, or `json` of the whole row or a field. */
type Part = { kind: "text"; text: string } | { kind: "field"; field: Field; json: boolean } | { kind: "all" };

/** docker's --format as far as image lists use it: `table` first, `\t`, `{{.Field}}`, `{{json .}}`, `{{json .Field}}`. */
export function parseFormat(format: string): { table: boolean; parts: Part[] } {
  const table = format.startsWith("table");
  const body = (table ? format.slice("table".length).trimStart() : format).replaceAll("\\t", "\t");
  const parts: Part[] = [];
  for (const [i, piece] of body.split(/\{\{(.*?)\}\}/s).entries()) {
    if (i % 2 === 0) {
      if (piece) parts.push({ kind: "text", text: piece });
      continue;
    }
    const m = /^\s*(json\s+)?\.(\w*)\s*$/.exec(piece);
    if (!m) {
      throw new BerthError("USAGE", `--format: berth images cannot execute {{${piece}}}`, {
        hint: "give {{.FIELD}}, {{json .}} or {{json .FIELD}}, and `table` first for columns",
      });
    }
    if (m[2] === "" && m[1]) parts.push({ kind: "all" });
    else if (Object.hasOwn(FIELDS, m[2]!)) parts.push({ kind: "field", field: m[2] as Field, json: !!m[1] });
    else {
      throw new BerthError("USAGE", `--format: an image has no field .${m[2]}`, {
        hint: `the fields are ${Object.keys(FIELDS)
          .map((k) => `.${k}`)
          .join(", ")}`,
      });
    }
  }
  return { table, parts };
}

/** Go's encoding/json of a string map: keys sorted, <, > and & escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll("<", "\\u003c")
    .replaceAll(">", "\\u003e")
    .replaceAll("&", "\\u0026");
}

/** One part of a template for a row, or (no fields) for the table's header. */
function renderPart(p: Part, fields: Record<Field, string> | undefined): string {
  switch (p.kind) {
    case "text":
      return p.text;
    case "all":
      return fields ? goJson(Object.fromEntries(Object.entries(fields).sort())) : "";
    case "field":
      if (!fields) return FIELDS[p.field];
      return p.json ? goJson(fields[p.field]) : fields[p.field];
  }
}

function render(parts: Part[], fields: Record<Field, string> | undefined): string {
  return parts.map((p) => renderPart(p, fields)).join("");
}

export function idsOnly(o: { quiet: boolean; format: string | undefined }): boolean {
  return o.quiet && (o.format === undefined || o.format === "table");
}

/** The rows as docker images prints them: its table (DIGEST after TAG with --digests), -q, or a --format. */
export function formatImages(
  rows: ImageRow[],
  o: { trunc: boolean; digests: boolean; quiet: boolean; format: string | undefined; now: number },
): string {
  const all = rows.map((r) => fieldsOf(r, o));
  // docker: a template of one's own wins over -q; `--format table` is the default table
  if (idsOnly(o)) return all.map((f) => `${f.ID}\n`).join("");
  const format =
    o.format !== undefined && o.format !== "table"
      ? o.format
      : `table {{.Repository}}\t{{.Tag}}\t${o.digests ? "{{.Digest}}\t" : ""}{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`;
  const { table, parts } = parseFormat(format);
  const lines = [...(table ? [render(parts, undefined)] : []), ...all.map((f) => render(parts, f))];
  if (!table) return lines.map((l) => `${l}\n`).join("");
  return `${dockerTable(lines.map((l) => l.split("\t")))}\n`;
}
