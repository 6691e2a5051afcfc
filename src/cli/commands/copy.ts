import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { copyImage } from "../../transport/copy.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { jsonOption, withPlatform } from "../flags.ts";
import { printJson } from "../output.ts";
import { TransferProgress } from "../progress.ts";

export function registerCopy(program: Command, cli: () => Cli): void {
  program
    .command("copy")
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
  berth copy --all oci:./multi oci-archive:multi.tar`,
    )
    .action(async (src: string, dst: string, opts) => {
      const { ctx, out } = cli();
      if (opts.quiet) out.quiet = true;
      if (opts.all && opts.platform)
        throw new BerthError("USAGE", "--all and --platform cannot be used together");
      const progress = new TransferProgress(out);
      const result = await copyImage(parseImageArgument(src), parseImageArgument(dst), ctx, {
        all: Boolean(opts.all),
        ...withPlatform(opts.platform),
        ...progress.hooks,
      }).finally(() => progress.close());
      progress.finish(`Copied ${result.root.digest} to ${dst}`);
      if (opts.json) printJson(out, result);
    });
}
