/**
 * `berth rebase IMAGE [--run-image R] [--publish] [--previous-image REF] [--force]`: move an app built with
 * buildpacks onto a new run image by the CNB rules. Only a config and a manifest are new: in the store or a
 * layout no layer blob is copied; on a registry the run image's layers are mounted and the app's stay.
 */
import type { Command } from "commander";
import { publishTarget } from "../../api/build.ts";
import { rebase } from "../../api/rebase.ts";
import { rebaseWithLifecycle } from "../../cnb/index.ts";
import { BerthError } from "../../errors.ts";
import { parseNetworkMode } from "../../runtime/network.ts";
import { type Cli, hostOptions } from "../env.ts";
import { info, printJson } from "../output.ts";
import { cnbLogger } from "./builder.ts";

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
    .option(
      "--lifecycle <berth|builder>",
      "berth (default): berth rebases; builder: a CNB lifecycle's rebaser does, in berth's sandbox (registry images: needs --publish)",
      "berth",
    )
    .option("-B, --builder <image>", "--lifecycle builder: run this builder's lifecycle")
    .option(
      "--lifecycle-image <image>",
      "--lifecycle builder: run this lifecycle image's (default: buildpacksio/lifecycle:0.21.0, as pack)",
    )
    .option(
      "--network <default|host>",
      "--lifecycle builder: the rebaser's network (default: private; host: the host's, for a registry on its loopback)",
    )
    .addHelpText(
      "after",
      `
With --lifecycle builder the CNB lifecycle's own rebaser runs, as pack rebase runs the lifecycle's rebase: the
lifecycle of --builder, else of --lifecycle-image, else of pack's default lifecycle image. The rebaser works
on registry images only (it has no OCI layout mode), so --publish is required.

Examples:
  berth rebase app:1
  berth rebase app:1 --run-image my/run:2
  berth rebase 127.0.0.1:5000/team/app:1 --publish
  berth rebase registry.example.com/team/app:1 --publish --lifecycle builder`,
    )
    .action(async (image: string, opts) => {
      if (opts.lifecycle === "builder") {
        await lifecycleRebase(image, opts, cli);
        return;
      }
      if (opts.lifecycle !== "berth") {
        throw new BerthError(
          "USAGE",
          `--lifecycle ${JSON.stringify(opts.lifecycle)} must be berth or builder`,
        );
      }
      for (const [k, flag] of [
        ["builder", "--builder"],
        ["lifecycleImage", "--lifecycle-image"],
        ["network", "--network"],
      ] as const) {
        if (opts[k] !== undefined)
          throw new BerthError("USAGE", `${flag} only matters with --lifecycle builder`);
      }
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

/** `--lifecycle builder`: the lifecycle's rebaser, on a registry image. */
async function lifecycleRebase(image: string, opts: Record<string, unknown>, cli: () => Cli): Promise<void> {
  const { ctx, out, env } = cli();
  if (!opts.publish) {
    throw new BerthError(
      "USAGE",
      `--lifecycle builder rebases ${image} in its registry (the lifecycle's rebaser has no OCI layout mode), so it needs --publish`,
      { hint: "add --publish with a registry name, or leave out --lifecycle builder to rebase in the store" },
    );
  }
  if (opts.builder && opts.lifecycleImage) {
    throw new BerthError("USAGE", "--builder and --lifecycle-image cannot be used together");
  }
  const bare = (n: string) => publishTarget(n, true).slice("docker://".length);
  const r = await rebaseWithLifecycle({
    image: bare(image),
    ...(opts.previousImage ? { previousImage: bare(opts.previousImage as string) } : {}),
    ...(opts.runImage ? { runImage: opts.runImage as string } : {}),
    force: Boolean(opts.force),
    ...(opts.builder ? { builder: opts.builder as string } : {}),
    ...(opts.lifecycleImage ? { lifecycleImage: opts.lifecycleImage as string } : {}),
    ctx,
    ...(opts.network ? { network: parseNetworkMode(opts.network as string) } : {}),
    ...(env.BERTH_RUNTIME ? { runtime: env.BERTH_RUNTIME } : {}),
    hostEnv: env,
    logger: cnbLogger(out, { quiet: Boolean(opts.quiet) }),
  });
  if (opts.reportOutputDir) {
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(opts.reportOutputDir as string, { recursive: true });
    await writeFile(`${opts.reportOutputDir}/report.toml`, r.report);
  }
  if (opts.quiet) out.stdout.write(`${r.digest}\n`);
  else info(out, `Rebased ${bare(image)} with the lifecycle ${r.lifecycleVersion} (${r.digest})`);
}
