/**
 * `berth rebase IMAGE [--run-image R] [--publish] [--previous-image REF] [--force]`: move an app built with
 * buildpacks onto a new run image by the CNB rules. Only a config and a manifest are new: in the store or a
 * layout no layer blob is copied; on a registry the run image's layers are mounted and the app's stay.
 */
import type { Command } from "commander";
import { Rebaser, resolveImage } from "../../cnb/index.ts";
import { BerthError } from "../../errors.ts";
import { writeImage } from "../../transport/copy.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { parseJson } from "../../util/json.ts";
import type { Cli } from "../env.ts";
import { info } from "../output.ts";
import { publishTarget } from "./builder.ts";

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
    .addHelpText(
      "after",
      "\nExamples:\n  berth rebase app:1\n  berth rebase app:1 --run-image my/run:2\n  berth rebase 127.0.0.1:5000/team/app:1 --publish",
    )
    .action(async (image: string, opts) => {
      const { ctx, out } = cli();
      const log = (l: string) => {
        if (!opts.quiet) info(out, l);
      };
      const target = parseImageArgument(publishTarget(image, Boolean(opts.publish)));
      const fromText = opts.previousImage
        ? publishTarget(opts.previousImage, Boolean(opts.publish))
        : target.text;
      const app = await resolveImage(fromText, ctx);
      if (!app) throw new BerthError("IMAGE_NOT_FOUND", `no image ${fromText}`);
      try {
        const md = parseJson(
          app.image.config?.config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}",
          `${fromText}: label io.buildpacks.lifecycle.metadata`,
          "CONFIG_INVALID",
        ) as {
          runImage?: { image?: string };
          stack?: { runImage?: { image?: string } };
        };
        // Apps from lifecycles before Platform API 0.12 record their run image under `stack` only.
        const runName: string | undefined = opts.runImage ?? md.runImage?.image ?? md.stack?.runImage?.image;
        if (!runName) {
          throw new BerthError("USAGE", `${image} names no run image; give one with --run-image`);
        }
        const run = await resolveImage(runName, ctx, {
          registryFallback: true,
          preferRegistry: Boolean(opts.publish),
        });
        if (!run) throw new BerthError("IMAGE_NOT_FOUND", `run image ${runName} was not found`);
        try {
          const r = new Rebaser({
            app: app.image,
            appName: fromText,
            runImage: run.image,
            runImageName: runName,
            runImageReference: run.pinned,
            force: Boolean(opts.force),
            log,
            warn: (l) => out.stderr.write(`${l}\n`),
          }).rebase();
          const name =
            target.transport === "store" || target.transport === "docker" ? target.ref : target.text;
          log(`Saving ${name}...`);
          const written = await writeImage(r.image.source, r.image.descriptor, name, target, ctx);
          log(`*** Images (${JSON.parse(r.image.manifest.toString()).config.digest.slice(7, 19)}):`);
          log(`      ${name}`);
          log(
            `Rebased ${name} (${r.runLayers} run-image layers, ${r.appLayers} app layers kept; blobs written ${written.blobs.written}, mounted ${written.blobs.mounted}, present ${written.blobs.exists})`,
          );
          if (opts.reportOutputDir) {
            const { mkdir, writeFile } = await import("node:fs/promises");
            await mkdir(opts.reportOutputDir, { recursive: true });
            await writeFile(
              `${opts.reportOutputDir}/report.toml`,
              `[image]\ntags = [${JSON.stringify(image)}]\ndigest = ${JSON.stringify(r.image.descriptor.digest)}\nmanifest-size = ${r.image.descriptor.size}\n`,
            );
          }
          if (opts.quiet) out.stdout.write(`${r.image.descriptor.digest}\n`);
        } finally {
          await run.close();
        }
      } finally {
        await app.close();
      }
    });
}
