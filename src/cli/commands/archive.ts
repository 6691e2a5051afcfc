import type { Command } from "commander";
import { BerthError, wrapError } from "../../errors.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { loadArchive, saveArchive } from "../../transport/archive.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { info, outputOf, printJson } from "../output.ts";

export function registerArchive(program: Command, cli: () => Cli): void {
  program
    .command("save")
    .description(
      "save images to a docker-archive tar (docker save format) that docker, podman and skopeo load",
    )
    .argument("<image...>", "images (the local store, or any transport)")
    .requiredOption("-o, --output <file>", "the archive to write (- for standard output)")
    .option(
      "--platform <os/arch[/variant]>",
      "from an index, save this platform's image (default: this machine's)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  berth save app:1 -o app.tar\n  berth save app:1 base:2 -o both.tar\n  berth save app:1 -o - | gzip > app.tar.gz",
    )
    .action(async (images: string[], opts) => {
      const { ctx, out } = cli();
      await saveArchive(
        images.map((i) => parseImageArgument(i)),
        outputOf(opts.output, out),
        ctx,
        opts.platform ? parsePlatform(opts.platform) : undefined,
      );
      info(out, `Saved ${images.length} image${images.length > 1 ? "s" : ""} to ${opts.output}`);
    });

  program
    .command("load")
    .description("load the images of a docker-archive or oci-archive into the local store")
    .requiredOption("-i, --input <file>", "the archive to read (plain, gzip or zstd)")
    .option("-q, --quiet", "print nothing but errors")
    .option("--json", "print what was loaded as JSON")
    .addHelpText("after", "\nExamples:\n  berth load -i app.tar\n  berth load -i image.oci.tar.gz")
    .action(async (opts) => {
      const { ctx, out } = cli();
      if (opts.quiet) out.quiet = true;
      // a system error (a full disk) is said with the step: berth's own errors already name the archive
      const loaded = await loadArchive(opts.input, ctx).catch((err: unknown) => {
        throw err instanceof BerthError ? err : wrapError(`loading ${opts.input} into the local store`, err);
      });
      if (opts.json) {
        printJson(out, { images: loaded });
        return;
      }
      for (const l of loaded) {
        if (l.name) out.stdout.write(`Loaded image: ${l.name}\n`);
        else out.stdout.write(`Loaded image ID: ${l.digest}\n`);
      }
    });
}
