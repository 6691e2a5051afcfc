import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { loadRoot } from "../../oci/image.ts";
import { gc } from "../../oci/layout/gc.ts";
import { familiarReference, parseReference, repositoryName } from "../../oci/reference.ts";
import { Store } from "../../oci/store.ts";
import type { Cli } from "../env.ts";
import { jsonOption } from "../flags.ts";
import { formatBytes, info, printJson, shortDigest, table } from "../output.ts";

/** One line of `berth images` (and one entry of its --json). */
interface ImageRow {
  name: string | undefined;
  repository: string | undefined;
  tag: string | undefined;
  digest: string;
  mediaType: string;
  created: string | undefined;
  size: number | undefined;
  platforms: number;
}

/** The store's images as `berth images` lists them: all, or those of REPO (of REPO:TAG: that tag). */
async function imageRows(store: Store, repository: string | undefined): Promise<ImageRow[]> {
  const want = repository === undefined ? undefined : parseReference(repository);
  const rows: ImageRow[] = [];
  for (const entry of await store.list()) {
    const ref = entry.name ? parseReference(entry.name) : undefined;
    if (want && (!ref || repositoryName(ref) !== repositoryName(want))) continue;
    if (want?.tag !== undefined && repository!.replace(/@.*$/, "").match(/:[^/]*$/) && ref?.tag !== want.tag)
      continue;
    const root = await loadRoot(store.layout, entry.descriptor);
    const size =
      root.kind === "image"
        ? root.manifest.config.size + root.manifest.layers.reduce((n, l) => n + l.size, 0)
        : undefined;
    rows.push({
      name: entry.name,
      repository: ref ? repositoryName(ref) : undefined,
      tag: ref?.tag,
      digest: entry.descriptor.digest,
      mediaType: entry.descriptor.mediaType,
      created: root.kind === "image" ? root.config?.created : undefined,
      size: size,
      platforms: root.kind === "index" ? root.index.manifests.length : 1,
    });
  }
  return rows;
}

export function registerImages(program: Command, cli: () => Cli): void {
  registerImageList(program, cli);
  registerTag(program, cli);
  registerRmi(program, cli);
}

function registerImageList(program: Command, cli: () => Cli): void {
  program
    .command("images")
    .description("list the images in the local store")
    .argument(
      "[repository]",
      "only this repository's images (REPO, or REPO:TAG for one tag), as docker images",
    )
    .addOption(jsonOption("the list"))
    .option("--digests", "show full digests")
    .addHelpText(
      "after",
      "\nExamples:\n  berth images\n  berth images --json | jq -r '.images[].name'\n  berth images team/app",
    )
    .action(async (repository: string | undefined, opts) => {
      const { ctx, out } = cli();
      const rows = await imageRows(await Store.open(ctx.home), repository);
      if (opts.json) {
        printJson(out, { images: rows });
        return;
      }
      const lines = [["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]];
      for (const r of rows) {
        const ref = r.name ? parseReference(r.name) : undefined;
        lines.push([
          ref ? familiarReference({ registry: ref.registry, repository: ref.repository }) : "<none>",
          r.tag ?? "<none>",
          opts.digests ? r.digest : shortDigest(r.digest),
          r.created ?? "-",
          r.size === undefined ? `index of ${r.platforms}` : formatBytes(r.size),
        ]);
      }
      out.stdout.write(`${table(lines)}\n`);
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
