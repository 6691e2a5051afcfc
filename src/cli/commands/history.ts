import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { readTar } from "../../layer/reader.ts";
import type { BlobSource } from "../../oci/blob.ts";
import { decompress } from "../../oci/compression.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { type Image, loadRoot, selectImage } from "../../oci/image.ts";
import { openSource } from "../../transport/open.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { goBool } from "../../util/go-json.ts";
import type { Cli } from "../env.ts";
import { jsonOption, platformOf } from "../flags.ts";
import { dockerTable, humanDuration, humanSize, printJson, shortDigest } from "../output.ts";

/** One config `history` entry, with the layer it made (if it made one). */
export interface HistoryRow {
  /** The entry's `created` as written (RFC 3339), if it has one. */
  created: string | undefined;
  createdBy: string;
  comment: string;
  emptyLayer: boolean;
  /** The layer's content size as docker counts it (layerContentSize); 0 for an empty layer. */
  size: number;
  layer?: { digest: string; diffId: string | undefined };
}

/**
 * The bytes docker's history shows for a layer: the sizes of its files and symbolic links (a link's size is
 * its target's length), a hard-linked file once, directories and devices nothing; what a graph driver's
 * DiffSize sums over the unpacked layer.
 */
export async function layerContentSize(source: BlobSource, desc: Descriptor): Promise<number> {
  const sizes = new Map<string, number>();
  for await (const entry of readTar(await decompress(await source.openBlob(desc)))) {
    const h = entry.header;
    if (h.type === "file") sizes.set(h.path, h.size);
    else if (h.type === "symlink") sizes.set(h.path, Buffer.byteLength(h.linkname ?? ""));
    else sizes.set(h.path, 0);
  }
  let total = 0;
  for (const n of sizes.values()) total += n;
  return total;
}

/**
 * The image's history entries in config order, each paired with its layer; refuses as `docker history` does.
 * Without `sizes` no layer is read (every size 0): for `-q`, which prints ids only.
 */
export async function historyOf(
  image: Image,
  source: BlobSource,
  what: string,
  sizes = true,
): Promise<HistoryRow[]> {
  const config = image.config;
  if (!config) {
    throw new BerthError(
      "MEDIA_TYPE_UNSUPPORTED",
      `${what} has no image config (its config is ${image.manifest.config.mediaType})`,
    );
  }
  const rows: HistoryRow[] = [];
  let next = 0;
  for (const [i, h] of (config.history ?? []).entries()) {
    const emptyLayer = h.empty_layer === true;
    const row: HistoryRow = {
      created: h.created,
      createdBy: h.created_by ?? "",
      comment: h.comment ?? "",
      emptyLayer,
      size: 0,
    };
    if (!emptyLayer) {
      const layer = image.manifest.layers[next];
      if (!layer) {
        throw new BerthError(
          "CONFIG_INVALID",
          `${what}'s config history[${i}] is a non-empty layer's entry, but the image has only ${next} layers`,
          {
            hint: "each history entry without empty_layer: true pairs with the next of the manifest's layers",
          },
        );
      }
      row.layer = { digest: layer.digest, diffId: config.rootfs.diff_ids[next] };
      if (sizes) row.size = await layerContentSize(source, layer);
      next++;
    }
    rows.push(row);
  }
  return rows;
}

/** Go's zero time (0001-01-01T00:00:00Z) in seconds since the epoch: docker's `created` when an entry has none. */
const GO_ZERO_TIME = -62_135_596_800;

/** Go's time.RFC3339 in the local zone, as docker's `--human=false` prints a time. */
export function rfc3339(seconds: number): string {
  const offset = -new Date(seconds * 1000).getTimezoneOffset();
  const local = new Date((seconds + offset * 60) * 1000).toISOString().slice(0, 19);
  if (offset === 0) return `${local}Z`;
  const a = Math.abs(offset);
  const hh = String(Math.trunc(a / 60)).padStart(2, "0");
  return `${local}${offset < 0 ? "-" : "+"}${hh}:${String(a % 60).padStart(2, "0")}`;
}

/** East Asian Wide and Fullwidth characters (golang.org/x/text/width's two-column kinds), by their main blocks. */
const WIDE =
  /[\u{1100}-\u{115F}\u{2E80}-\u{303E}\u{3041}-\u{33FF}\u{3400}-\u{4DBF}\u{4E00}-\u{9FFF}\u{A000}-\u{A4CF}\u{AC00}-\u{D7A3}\u{F900}-\u{FAFF}\u{FE30}-\u{FE4F}\u{FF00}-\u{FF60}\u{FFE0}-\u{FFE6}\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]/u;

/**
 * docker's formatter.Ellipsis(s, 45) for CREATED BY (tabs as spaces first): the longest start that fits in
 * width - 1 columns and "…", a wide character taking two columns.
 */
export function truncateCreatedBy(createdBy: string, width = 45): string {
  const chars = [...createdBy.replaceAll("\t", " ")];
  const columns = chars.map((c) => (WIDE.test(c) ? 2 : 1));
  if (columns.reduce((a, b) => a + b, 0) <= width) return chars.join("");
  let used = 0;
  let n = 0;
  while (used + columns[n]! <= width - 1) used += columns[n++]!;
  return `${chars.slice(0, n).join("")}…`;
}

interface Columns {
  human: boolean;
  trunc: boolean;
  now: number;
}

function cells(row: HistoryRow, id: string, o: Columns): string[] {
  const seconds = row.created === undefined ? GO_ZERO_TIME : Math.floor(Date.parse(row.created) / 1000);
  const created = o.human ? `${humanDuration(o.now - seconds)} ago` : rfc3339(seconds);
  return [
    id,
    created,
    o.trunc ? truncateCreatedBy(row.createdBy) : row.createdBy.replaceAll("\t", " "),
    o.human ? humanSize(row.size) : String(row.size),
    row.comment,
  ];
}

/** The history as `docker history` prints it, newest first: the image's id on the top row, `<missing>` below. */
export function formatHistory(rows: HistoryRow[], imageId: string, o: Columns & { quiet: boolean }): string {
  const id = o.trunc ? shortDigest(imageId) : imageId;
  const newest = [...rows].reverse();
  const ids = newest.map((_, i) => (i === 0 ? id : "<missing>"));
  if (o.quiet) return ids.map((i) => `${i}\n`).join("");
  const header = ["IMAGE", o.human ? "CREATED" : "CREATED AT", "CREATED BY", "SIZE", "COMMENT"];
  return `${dockerTable([header, ...newest.map((r, i) => cells(r, ids[i]!, o))])}\n`;
}

/** `berth history`, or under `parent` (`berth image history`, as `docker image history`). */
export function registerHistory(parent: Command, cli: () => Cli): void {
  parent
    .command("history")
    .description(
      "show how an image was built: its history entries and layer sizes, newest first (docker history)",
    )
    .argument("[image]", "image in any transport (required)")
    .option("-H, --human [bool]", "sizes and dates for people (--human=false: bytes and RFC 3339)", "true")
    .option("--no-trunc", "do not truncate CREATED BY and the image id")
    .option("-q, --quiet", "print the IMAGE column only")
    .option("--platform <os/arch[/variant]>", "from an index, this platform's image")
    .addOption(jsonOption("the entries (oldest first)"))
    .addHelpText(
      "after",
      `
SIZE is each layer's content (files, and links' targets), as docker history counts it; ENV, WORKDIR and the
like made no layer and show 0B. The top row's IMAGE is the image's id (its config digest); the older rows
show <missing>, as docker does for built or loaded images.

Examples:
  berth history app:latest
  berth history --no-trunc -H=false oci:./layout:app
  berth history --json docker://127.0.0.1:5000/team/app:1`,
    )
    .action(async (given: string | undefined, opts) => {
      const { ctx, out } = cli();
      const { human, image } = humanAndImage(opts.human, given);
      const opened = await openSource(parseImageArgument(image), ctx);
      try {
        const img = await selectImage(await loadRoot(opened.source, opened.root), platformOf(opts.platform));
        const rows = await historyOf(img, opened.source, image, !(opts.quiet && !opts.json));
        const id = img.manifest.config.digest;
        if (opts.json) {
          printJson(out, { id, history: rows.map(jsonRow) });
          return;
        }
        const now = Math.floor(Date.now() / 1000);
        out.stdout.write(
          formatHistory(rows, id, { human, trunc: opts.trunc, now, quiet: opts.quiet === true }),
        );
      } finally {
        await opened.close();
      }
    });
}

function jsonRow(r: HistoryRow) {
  return {
    created: r.created ?? null,
    createdBy: r.createdBy,
    size: r.size,
    comment: r.comment,
    emptyLayer: r.emptyLayer,
    ...(r.layer ? { digest: r.layer.digest, diffId: r.layer.diffId ?? null } : {}),
  };
}

/**
 * `-H`, `-H=false`, `--human=false`, `--human false` (docker's boolean flag, Go's ParseBool words), and the
 * image: commander gives an optional value the next word, so in `-H IMAGE` that word is the image.
 */
export function humanAndImage(
  flag: string | boolean,
  given: string | undefined,
): { human: boolean; image: string } {
  const value = typeof flag === "string" ? flag.replace(/^=/, "") : flag;
  const human = typeof value === "boolean" ? value : goBool(value);
  if (human !== undefined && given !== undefined) return { human, image: given };
  if (human === undefined && given === undefined) return { human: true, image: value as string };
  throw new BerthError(
    "USAGE",
    human === undefined ? `--human ${value}: give true or false` : "berth history needs an image",
    { hint: "berth history [--human=false] IMAGE" },
  );
}
