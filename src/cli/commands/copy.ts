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
      // a docker-archive's image as skopeo reads it: into an OCI layout converted; into a registry its layers
      // gzipped unasked, as skopeo's. Into an OCI layout they stay the archive's uncompressed tars, where skopeo
      // gzips them: berth's gzip (zlib, 2 cores) took 16.5 s for 1 GiB of mostly incompressible layers against
      // skopeo's 3.2 (Go's pgzip) and berth's 1.3 uncompressed; --dest-compress-format gzip asks for it
      const skopeoView = !options.preserveDigests && readAsSkopeo(from, to);
      const gzip = skopeoView && to.transport === "docker" ? { compression: "gzip" as const } : undefined;
      const target = compress ?? gzip;
      if (skopeoView) all.format ??= archiveFormat(from, to);
      // a docker-archive holds no index: index-only copies its image, as skopeo's
      if (skopeoView && !compress) all.indexOnly = false;
      const result = await (target
        ? copyRecompressed(from, to, sides, target, all)
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
 * Whether a copy reads its source as skopeo 1.9.3 reads a docker-archive (containers/image's
 * docker/internal/tarfile source): a Docker v2s2 image whose layers are the uncompressed tars, which a registry
 * gets gzipped and an OCI layout or archive in an OCI manifest. Into a docker-archive the layers stay
 * uncompressed and the config's bytes are kept, as berth's writer keeps them; into the local store the image is kept as the archive holds it
 * (its ID is its config's digest, and `berth save` gives docker the same image back).
 */
function readAsSkopeo(src: ImageArgument, dst: ImageArgument): boolean {
  if (src.transport !== "docker-archive") return false;
  switch (dst.transport) {
    case "docker":
    case "oci":
    case "oci-archive":
      return true;
    case "docker-archive":
    case "store":
    case "scratch":
      return false;
  }
}

/**
 * The manifest type skopeo writes a docker-archive's image in, unasked: v2s2 into a registry (the source's own
 * type, config bytes kept), OCI into an OCI layout or archive (the config rewritten as Go writes it).
 */
function archiveFormat(src: ImageArgument, dst: ImageArgument): "oci" | "v2s2" | undefined {
  if (!readAsSkopeo(src, dst)) return undefined;
  return dst.transport === "docker" ? "v2s2" : "oci";
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
  const options = { ...asked, format: asked.format ?? (zstd ? ("oci" as const) : archiveFormat(src, dst)) };
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
