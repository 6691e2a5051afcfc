import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { loadRoot } from "../../oci/image.ts";
import { gc } from "../../oci/layout/gc.ts";
import { familiarReference, parseReference, repositoryName } from "../../oci/reference.ts";
import { Store } from "../../oci/store.ts";
import { writeFileAtomic } from "../../util/fs.ts";
import type { Cli } from "../env.ts";
import { collect, jsonOption } from "../flags.ts";
import {
  dockerTable,
  formatBytes,
  humanDuration,
  humanSize,
  info,
  printJson,
  shortDigest,
} from "../output.ts";
import { layerContentSize, rfc3339 } from "./history.ts";

/** One line of `berth images` (and one entry of its --json). */
interface ImageRow {
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

/** A row and its image's layers (none for an index). */
interface Listed {
  row: ImageRow;
  layers: Descriptor[] | undefined;
}

/** The store's images as `berth images` lists them: all, or those of REPO (of REPO:TAG: that tag); newest first. */
async function imageRows(store: Store, repository: string | undefined): Promise<Listed[]> {
  const want = repository === undefined ? undefined : parseReference(repository);
  const rows: Listed[] = [];
  for (const entry of await store.list()) {
    const ref = entry.name ? parseReference(entry.name) : undefined;
    if (want && (!ref || repositoryName(ref) !== repositoryName(want))) continue;
    if (want?.tag !== undefined && repository!.replace(/@.*$/, "").match(/:[^/]*$/) && ref?.tag !== want.tag)
      continue;
    const root = await loadRoot(store.layout, entry.descriptor);
    const image = root.kind === "image" ? root : undefined;
    const row: ImageRow = {
      name: entry.name,
      repository: ref ? repositoryName(ref) : undefined,
      tag: ref?.tag,
      digest: entry.descriptor.digest,
      mediaType: entry.descriptor.mediaType,
      id: image ? image.manifest.config.digest : entry.descriptor.digest,
      created: image?.config?.created,
      size: image
        ? image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0)
        : undefined,
      platforms: root.kind === "index" ? root.index.manifests.length : 1,
      labels: image?.config?.config?.Labels ?? {},
    };
    rows.push({ row, layers: image?.manifest.layers });
  }
  // docker lists the newest image first, each image's names together in lexical order of their familiar forms
  const key = (r: ImageRow) => (r.name ? familiarReference(parseReference(r.name)) : "");
  return rows.sort(
    (a, b) =>
      createdSeconds(b.row) - createdSeconds(a.row) ||
      a.row.id.localeCompare(b.row.id) ||
      (key(a.row) < key(b.row) ? -1 : key(a.row) > key(b.row) ? 1 : 0),
  );
}

/** Go's zero time (0001-01-01T00:00:00Z) in seconds since the epoch: docker's `created` when an image has none. */
const GO_ZERO_TIME = -62_135_596_800;

function createdSeconds(r: ImageRow): number {
  return r.created === undefined ? GO_ZERO_TIME : Math.floor(Date.parse(r.created) / 1000);
}

/**
 * The layers' content sizes berth has counted, by layer digest (a digest's content never changes, so an entry is
 * never stale): `$BERTH_HOME/cache/images/content-sizes.json`, so that a listing reads only layers it has not
 * counted before. Anything but a map of digests to sizes there is ignored and rewritten.
 */
async function readSizeCache(path: string): Promise<Map<string, number>> {
  const text = await readFile(path, "utf8").catch(() => "{}");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return new Map();
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return new Map();
  return new Map(
    Object.entries(parsed).filter(
      (e): e is [string, number] =>
        /^sha256:[0-9a-f]{64}$/.test(e[0]) && Number.isSafeInteger(e[1]) && e[1] >= 0,
    ),
  );
}

/**
 * Each row's unpackedSize, every layer read once however many images share it (and not again while the size
 * cache has it); an image with a layer the store lacks (a foreign layer never downloaded, which store fsck
 * reports) keeps null, shown as N/A. `all`: the listing covers the whole store, so the cache keeps only its layers.
 */
async function addUnpackedSizes(home: string, store: Store, listed: Listed[], all: boolean): Promise<void> {
  const path = join(home, "cache", "images", "content-sizes.json");
  const cached = await readSizeCache(path);
  const seen = new Map<string, number>();
  let counted = 0;
  for (const { row, layers } of listed) {
    row.unpackedSize = null;
    if (!layers) continue;
    let total = 0;
    try {
      for (const l of layers) {
        let n = seen.get(l.digest) ?? cached.get(l.digest);
        if (n === undefined) {
          n = await layerContentSize(store.layout, l);
          counted++;
        }
        seen.set(l.digest, n);
        total += n;
      }
    } catch (err) {
      if (err instanceof BerthError && err.code === "BLOB_NOT_FOUND") continue;
      throw err;
    }
    row.unpackedSize = total;
  }
  if (counted === 0 && (!all || seen.size === cached.size)) return;
  const keep = all ? seen : new Map([...cached, ...seen]);
  await writeFileAtomic(path, `${JSON.stringify(Object.fromEntries(keep))}\n`);
}

/** `--filter KEY=VALUE` as `docker images` takes them: the same key's values OR'ed, different keys AND'ed. */
interface Filters {
  reference: RegExp[];
  dangling: boolean | undefined;
  label: string[];
}

/** Go's path.Match pattern as a regular expression (docker's reference filter): `*` and `?` stop at `/`. */
function pathPattern(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) throw filterError(`reference=${pattern}`, "its [ has no ]");
      re += `[${pattern
        .slice(i + 1, end)
        .replace(/^\^/, "^")
        .replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) re += escapeRegExp(pattern[++i]!);
    else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
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
        f.reference.push(pathPattern(value));
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

function matches(f: Filters, r: ImageRow): boolean {
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

function idsOnly(o: { quiet: boolean; format: string | undefined }): boolean {
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

export function registerImages(program: Command, cli: () => Cli): void {
  registerImageList(program, cli);
  registerTag(program, cli);
  registerRmi(program, cli);
}

function registerImageList(program: Command, cli: () => Cli): void {
  program
    .command("images")
    .description("list the images in the local store (docker images)")
    .argument(
      "[repository]",
      "only this repository's images (REPO, or REPO:TAG for one tag), as docker images",
    )
    .option("-a, --all", "show all images (berth keeps no intermediate images: the same list)")
    .option("--digests", "show the DIGEST column (the manifest's digest, what a registry knows the image by)")
    .option(
      "-f, --filter <KEY=VALUE>",
      "reference=PATTERN, dangling=true|false, label=KEY[=VALUE] (repeatable)",
      collect,
      [],
    )
    .option("--format <template>", "docker's Go template: `table {{.Repository}}\\t{{.Tag}}`, `{{json .}}`…")
    .option("--no-trunc", "the whole image id (sha256:…)")
    .option("-q, --quiet", "print the image ids only")
    .addOption(jsonOption("the list"))
    .addHelpText(
      "after",
      `
IMAGE ID is the config's digest, SIZE the unpacked layers' contents (as docker reports it), CREATED the
config's time. An image index (several platforms) is listed under its own digest with SIZE "index of N".

Examples:
  berth images
  berth images --format '{{.Repository}}:{{.Tag}}' --filter reference='team/*'
  berth images --json | jq -r '.images[].name'
  berth images team/app`,
    )
    .action(async (repository: string | undefined, opts) => {
      const { ctx, out } = cli();
      const filters = parseFilters(opts.filter as string[]);
      const format = opts.json ? undefined : (opts.format as string | undefined);
      if (format !== undefined) parseFormat(format);
      const store = await Store.open(ctx.home);
      const listed = (await imageRows(store, repository)).filter((l) => matches(filters, l.row));
      const all = repository === undefined && (opts.filter as string[]).length === 0;
      if (opts.json || !idsOnly({ quiet: !!opts.quiet, format }))
        await addUnpackedSizes(ctx.home, store, listed, all);
      const rows = listed.map((l) => l.row);
      if (opts.json) {
        printJson(out, { images: rows });
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      out.stdout.write(
        formatImages(rows, { trunc: opts.trunc, digests: !!opts.digests, quiet: !!opts.quiet, format, now }),
      );
    });
}

function registerTag(program: Command, cli: () => Cli): void {
  program
    .command("tag")
    .description("give an image in the local store another name")
    .argument("<source>", "image in the local store")
    .argument("<target>", "new name")
    .addHelpText("after", "\nExample:\n  berth tag app:latest registry.example:5000/team/app:1.2")
    .action(async (source: string, target: string) => {
      const { ctx } = cli();
      const store = await Store.open(ctx.home);
      await store.tag(await store.resolve(source), target);
    });
}

function registerRmi(program: Command, cli: () => Cli): void {
  program
    .command("rmi")
    .description("remove images from the local store, and the blobs no other image uses")
    .argument("<image...>", "images to remove")
    .option("-q, --quiet", "print nothing but errors")
    .addHelpText("after", "\nExamples:\n  berth rmi app:1\n  berth rmi localhost:5000/team/app:1 app:2")
    .action(async (images: string[], opts) => {
      const { ctx, out } = cli();
      if (opts.quiet) out.quiet = true;
      const store = await Store.open(ctx.home);
      const missing: string[] = [];
      for (const image of images) {
        try {
          const d = await store.untag(image);
          info(out, `Untagged: ${Store.normalize(image)} (${d.digest})`);
        } catch (err) {
          if (err instanceof BerthError && err.code === "IMAGE_NOT_FOUND") missing.push(image);
          else throw err;
        }
      }
      const freed = await gc(store.layout);
      if (freed.removed.length)
        info(out, `Deleted ${freed.removed.length} blobs (${formatBytes(freed.bytes)})`);
      if (missing.length)
        throw new BerthError("IMAGE_NOT_FOUND", `no image ${missing.join(", ")} in the local store`);
    });
}
