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
  createdSeconds,
  formatImages,
  type ImageRow,
  idsOnly,
  matchesFilters,
  parseFilters,
  parseFormat,
} from "../image-list.ts";
import { formatBytes, info, printJson } from "../output.ts";
import { layerContentSize } from "./history.ts";

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
      const listed = (await imageRows(store, repository)).filter((l) => matchesFilters(filters, l.row));
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
