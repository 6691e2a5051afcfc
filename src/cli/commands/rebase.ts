/**
 * `berth rebase IMAGE [--run-image R] [--publish] [--previous-image REF] [--force]`: move an app built with
 * buildpacks onto a new run image by the CNB rules. Only a config and a manifest are new: in the store or a
 * layout no layer blob is copied; on a registry the run image's layers are mounted and the app's stay.
 */
import type { Command } from "commander";
import { rebase } from "../../api/rebase.ts";
import { type Cli, hostOptions } from "../env.ts";
import { info, printJson } from "../output.ts";

export function registerRebase(program: Command, cli: () => Cli): void {
  program
    .command("rebase")
    .description("move an app image built with buildpacks onto a new run image, without rebuilding")
    .argument("<image>", "the app image (a store name, any transport, or a registry name with --publish)")
    .option("--run-image <image>", "the new run image (default: the app's run image, newest version)")
    .option("--publish", "rebase in the registry: only a config and a manifest are uploaded")
    .option("--previous-image <ref>", "rebase this image and write the result to IMAGE")
    .option(
      "--force",
      "rebase even when the lifecycle's checks fail (rebasable, os/arch/variant/distro, run image not recorded by the app): each then warns, and a new run image name is recorded",
    )
    .option("--report-output-dir <dir>", "write report.toml here")
    .option("-q, --quiet", "print only the new digest")
    .option("--json", "print the result as JSON (digest, run image, layers, blobs)")
    .addHelpText(
      "after",
      "\nExamples:\n  berth rebase app:1\n  berth rebase app:1 --run-image my/run:2\n  berth rebase 127.0.0.1:5000/team/app:1 --publish",
    )
    .action(async (image: string, opts) => {
      const c = cli();
      const { out } = c;
      const r = await rebase(image, {
        ...hostOptions(c),
        logger: {
          info: (l) => {
            if (!opts.quiet && !opts.json) info(out, l);
          },
          warn: (l) => out.stderr.write(`${l}\n`),
        },
        ...(opts.runImage ? { runImage: opts.runImage } : {}),
        publish: Boolean(opts.publish),
        ...(opts.previousImage ? { previousImage: opts.previousImage } : {}),
        force: Boolean(opts.force),
        ...(opts.reportOutputDir ? { reportOutputDir: opts.reportOutputDir } : {}),
      });
      if (opts.json) printJson(out, r);
      else if (opts.quiet) out.stdout.write(`${r.digest}\n`);
    });
}
