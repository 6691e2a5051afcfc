import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { BerthError, wrapError } from "../../errors.ts";
import { type CompressTarget, compressLayers } from "../../image/compress.ts";
import type { BlobSource } from "../../oci/blob.ts";
import { type Rewritten, rewriteIndex } from "../../oci/convert.ts";
import type { CopyResult } from "../../oci/copy.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { type Image, loadRoot, selectImage } from "../../oci/image.ts";
import { closeContext, tmpDirOf } from "../../transport/context.ts";
import {
  type CopyImageOptions,
  type CopySides,
  copyImage,
  formatted,
  writeImage,
} from "../../transport/copy.ts";
import { openSource } from "../../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../../transport/parse.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { addSkopeoOptions, skopeoCopyOptions } from "../copy-options.ts";
import { addSideOptions, copySides } from "../copy-sides.ts";
import type { Cli } from "../env.ts";
import { jsonOption } from "../flags.ts";
import { printJson } from "../output.ts";
import { TransferProgress } from "../progress.ts";

export function registerCopy(program: Command, cli: () => Cli): void {
  const command = program.command("copy");
  addSkopeoOptions(addSideOptions(command))
    .description("copy an image between the local store, OCI layouts, archives and registries")
    .argument("<src>", "source image")
    .argument("<dst>", "destination image")
    .option("-a, --all", "copy every image of a multi-platform index")
    .option("--platform <os/arch[/variant]>", "copy only this platform's image from an index")
    .option("-q, --quiet", "print nothing but errors")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Images are bare references (the local store) or carry skopeo's transports:
  oci:PATH[:TAG]  oci-archive:PATH[:TAG]  docker-archive:PATH[:TAG]  docker://REF

Examples:
  berth copy oci:./layout:app docker-archive:app.tar:app:1
  berth copy docker-archive:app.tar app:1
  berth copy --all oci:./multi oci-archive:multi.tar
  berth copy --src-creds user:pass --dest-tls-verify=false docker://a.example/app docker://b.example/app`,
    )
    .action(async (src: string, dst: string, opts) => {
      const { ctx, out, cwd } = cli();
      if (opts.quiet) out.quiet = true;
      const [from, to] = [parseImageArgument(src), parseImageArgument(dst)];
      const { retry, digestFile, compress, ...options } = skopeoCopyOptions(opts, to);
      const sides = copySides(ctx, opts, from, to, cwd, retry);
      const progress = new TransferProgress(out);
      const all = { ...options, ...progress.hooks };
      const result = await (compress
        ? copyRecompressed(from, to, sides, compress, all)
        : copyImage(from, to, sides, all)
      ).finally(async () => {
        progress.close();
        await Promise.all([closeContext(sides.source), closeContext(sides.destination)]);
      });
      // as skopeo writes it: the digest alone, no newline
      if (digestFile !== undefined) await writeFile(resolve(cwd, digestFile), result.root.digest);
      progress.finish(`Copied ${result.root.digest} to ${dst}`);
      if (opts.json) printJson(out, result);
    });
}

/**
 * A copy whose layers are rewritten in another compression (`--dest-compress-format`): one image (from an
 * index, this machine's or `--platform`'s), or with `--all` every image of the index and the index written again
 * with their new digests; the layers recompressed into a temp directory of BERTH_HOME, each config kept (the
 * DiffIDs do not change), new manifests. zstd without `--format`: a Docker image (or list) becomes OCI's, whose
 * manifests alone have zstd layers, as skopeo converts it unasked.
 */
async function copyRecompressed(
  src: ImageArgument,
  dst: ImageArgument,
  sides: CopySides,
  target: CompressTarget,
  asked: CopyImageOptions,
): Promise<CopyResult> {
  const zstd = target.compression === "zstd" && dst.transport !== "docker-archive";
  const options = { ...asked, format: asked.format ?? (zstd ? ("oci" as const) : undefined) };
  if (options.indexOnly)
    throw new BerthError(
      "USAGE",
      "--dest-compress-format rewrites images, and --multi-arch index-only copies none",
    );
  const opened = await openSource(src, sides.source).catch((err) => {
    throw wrapError(`reading ${src.text}`, err);
  });
  const dir = await ownedTempDir(tmpDirOf(sides.destination), "compress-");
  try {
    // converted first, unless to Docker's format, which has no zstd: compressed first then
    const convert = async (from: BlobSource, root: Descriptor) => formatted(from, root, dst, options);
    const compress = async (from: BlobSource, root: Descriptor): Promise<[BlobSource, Descriptor]> => {
      // each image's layers in a folder of their own (an index's images are rewritten one by one)
      const into = await mkdtemp(join(dir, "image-"));
      const made = await compressLayers(await selectImage(await loadRoot(from, root)), into, target);
      return made ? [made.source, made.descriptor] : [from, root];
    };
    const [first, second] = options.format === "v2s2" ? [compress, convert] : [convert, compress];
    const one = async (image: Image): Promise<Rewritten> => {
      const [source, descriptor] = await second(...(await first(image.source, image.descriptor)));
      return { source, descriptor };
    };
    const root = await loadRoot(opened.source, opened.root);
    const made =
      root.kind === "index" && options.all
        ? ((await rewriteIndex(root, options.format, one)) ?? root)
        : await one(await selectImage(root, options.platform));
    const [source, written] = [made.source, made.descriptor];
    return await writeImage(source, written, opened.tag, dst, sides.destination, options).catch((err) => {
      throw wrapError(`copying ${src.text} to ${dst.text}`, err);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
    await opened.close();
  }
}
