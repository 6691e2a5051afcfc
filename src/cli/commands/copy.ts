import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { closeContext } from "../../transport/context.ts";
import { copyImage } from "../../transport/copy.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { addSideOptions, copySides } from "../copy-sides.ts";
import type { Cli } from "../env.ts";
import { jsonOption, withPlatform } from "../flags.ts";
import { printJson } from "../output.ts";
import { TransferProgress } from "../progress.ts";

export function registerCopy(program: Command, cli: () => Cli): void {
  const command = program.command("copy");
  addSideOptions(command)
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
      if (opts.all && opts.platform)
        throw new BerthError("USAGE", "--all and --platform cannot be used together");
      const progress = new TransferProgress(out);
      const [from, to] = [parseImageArgument(src), parseImageArgument(dst)];
      const sides = copySides(ctx, opts, from, to, cwd);
      const result = await copyImage(from, to, sides, {
        all: Boolean(opts.all),
        ...withPlatform(opts.platform),
        ...progress.hooks,
      }).finally(async () => {
        progress.close();
        await Promise.all([closeContext(sides.source), closeContext(sides.destination)]);
      });
      progress.finish(`Copied ${result.root.digest} to ${dst}`);
      if (opts.json) printJson(out, result);
    });
}
