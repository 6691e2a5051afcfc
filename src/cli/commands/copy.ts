import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { closeContext } from "../../transport/context.ts";
import { copyImage } from "../../transport/copy.ts";
import { parseImageArgument } from "../../transport/parse.ts";
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
      const { retry, digestFile, ...options } = skopeoCopyOptions(opts, to);
      const sides = copySides(ctx, opts, from, to, cwd, retry);
      const progress = new TransferProgress(out);
      const result = await copyImage(from, to, sides, { ...options, ...progress.hooks }).finally(async () => {
        progress.close();
        await Promise.all([closeContext(sides.source), closeContext(sides.destination)]);
      });
      // as skopeo writes it: the digest alone, no newline
      if (digestFile !== undefined) await writeFile(resolve(cwd, digestFile), result.root.digest);
      progress.finish(`Copied ${result.root.digest} to ${dst}`);
      if (opts.json) printJson(out, result);
    });
}
