/**
 * `berth rebase IMAGE… [--from-file FILE] [--run-image R] [--publish] [--previous-image REF] [--force]`: move
 * apps built with buildpacks onto a new run image by the CNB rules. Only a config and a manifest are new: in
 * the store or a layout no layer blob is copied; on a registry the run image's layers are mounted and the
 * app's stay. Many images (several arguments or --from-file) go in one process, `--jobs` at once.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { publishTarget } from "../../api/build.ts";
import { rebase, rebaseMany } from "../../api/rebase.ts";
import { rebaseWithLifecycle } from "../../cnb/index.ts";
import { BerthError, type ErrorCode } from "../../errors.ts";
import { parseNetworkMode } from "../../runtime/network.ts";
import { type Cli, hostOptions } from "../env.ts";
import { exitCodeFor } from "../exit.ts";
import { info, type Output, printJson } from "../output.ts";
import { cnbLogger } from "./builder.ts";

type Log = (line: string) => void;

export function registerRebase(program: Command, cli: () => Cli): void {
  program
    .command("rebase")
    .description("move an app image built with buildpacks onto a new run image, without rebuilding")
    .argument(
      "[images...]",
      "the app images (store names, any transport, or registry names with --publish); several are rebased in one process",
    )
    .option(
      "--from-file <file>",
      "rebase the images named in FILE too (one a line; blank lines and # comments skipped)",
    )
    .option("--run-image <image>", "the new run image (default: the app's run image, newest version)")
    .option("--publish", "rebase in the registry: only a config and a manifest are uploaded")
    .option("--previous-image <ref>", "rebase this image and write the result to IMAGE")
    .option(
      "--force",
      "rebase even when the lifecycle's checks fail (rebasable, os/arch/variant/distro, run image not recorded by the app): each then warns, and a new run image name is recorded",
    )
    .option("--report-output-dir <dir>", "write report.toml here")
    .option("-q, --quiet", "print only the new digest (many images: IMAGE DIGEST lines)")
    .option(
      "--json",
      "print the result as JSON (digest, run image, layers, blobs; many images: one entry each)",
    )
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
  berth rebase --publish --run-image 127.0.0.1:5000/base/run:2 --jobs 16 --from-file apps.txt
  berth rebase registry.example.com/team/app:1 --publish --lifecycle builder`,
    )
    .action(async (args: string[], opts) => {
      const c = cli();
      const fromFile = opts.fromFile ? await imagesFromFile(resolve(c.cwd, opts.fromFile)) : undefined;
      const images = [...args, ...(fromFile ?? [])];
      if (images.length === 0) {
        throw new BerthError("USAGE", "rebase needs an image", {
          hint: "name the app images as arguments or in a file given with --from-file",
        });
      }
      if (opts.lifecycle === "builder") {
        if (images.length !== 1 || fromFile) {
          throw new BerthError("USAGE", `--lifecycle builder rebases one image; ${images.length} were given`);
        }
        await lifecycleRebase(images[0]!, opts, cli);
        return;
      }
      refuseBuilderFlags(opts);
      if (images.length === 1 && !fromFile) await rebaseOne(c, images[0]!, opts);
      else await rebaseAll(c, images, opts);
    });
}

/** `--lifecycle berth` (the default): the flags of the lifecycle's rebaser are refused. */
function refuseBuilderFlags(opts: Record<string, unknown>): void {
  if (opts.lifecycle !== "berth") {
    throw new BerthError("USAGE", `--lifecycle ${JSON.stringify(opts.lifecycle)} must be berth or builder`);
  }
  for (const [k, flag] of [
    ["builder", "--builder"],
    ["lifecycleImage", "--lifecycle-image"],
    ["network", "--network"],
  ] as const) {
    if (opts[k] !== undefined) throw new BerthError("USAGE", `${flag} only matters with --lifecycle builder`);
  }
}

/** berth's rebase lines on stderr: none with -q or --json; warnings always. */
function rebaseLog(out: Output, opts: Record<string, unknown>): { info: Log; warn: Log } {
  return {
    info: (l) => {
      if (!opts.quiet && !opts.json) info(out, l);
    },
    warn: (l) => out.stderr.write(`${l}\n`),
  };
}

/** One image: every flag applies. */
async function rebaseOne(c: Cli, image: string, opts: Record<string, unknown>): Promise<void> {
  const r = await rebase(image, {
    ...hostOptions(c),
    logger: rebaseLog(c.out, opts),
    runImage: opts.runImage as string | undefined,
    publish: Boolean(opts.publish),
    previousImage: opts.previousImage as string | undefined,
    force: Boolean(opts.force),
    reportOutputDir: opts.reportOutputDir as string | undefined,
  });
  if (opts.json) printJson(c.out, r);
  else if (opts.quiet) c.out.stdout.write(`${r.digest}\n`);
}

/** Many images, `--jobs` at once; the flags naming one image's files are refused. */
async function rebaseAll(c: Cli, images: string[], opts: Record<string, unknown>): Promise<void> {
  const { out } = c;
  for (const [flag, set] of [
    ["--previous-image", opts.previousImage],
    ["--report-output-dir", opts.reportOutputDir],
  ] as const) {
    if (set) throw new BerthError("USAGE", `${flag} takes one image; ${images.length} were given`);
  }
  const r = await rebaseMany(images, {
    ...hostOptions(c),
    // for many images, --jobs is the images rebased at once (a rebase moves manifests, configs and mounts)
    concurrency: c.ctx.jobs ?? 8,
    logger: rebaseLog(out, opts),
    runImage: opts.runImage as string | undefined,
    publish: Boolean(opts.publish),
    force: Boolean(opts.force),
  });
  if (opts.json) printJson(out, { images: r.images, failed: r.failed });
  else if (opts.quiet) {
    for (const e of r.images) if (e.digest) out.stdout.write(`${e.image} ${e.digest}\n`);
  }
  if (r.failed.length > 0) {
    const codes = new Set(r.images.flatMap((e) => (e.error ? [e.error.code as ErrorCode] : [])));
    const [only] = codes;
    throw new BerthError(
      "CNB_REBASE_FAILED",
      `${r.failed.length} of ${images.length} images were not rebased: ${r.failed.join(", ")}`,
      { details: { exitCode: codes.size === 1 && only ? exitCodeFor(only) : 1 } },
    );
  }
}

/** The image references of a --from-file file: one a line, blank lines and `#` comments skipped. */
async function imagesFromFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new BerthError("USAGE", `--from-file ${path} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const images: string[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (!line) continue;
    if (/\s/.test(line)) {
      throw new BerthError("USAGE", `--from-file ${path} line ${i + 1} names more than one image: ${line}`, {
        hint: "put one image reference on each line",
      });
    }
    images.push(line);
  }
  return images;
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
    runImage: opts.runImage as string | undefined,
    force: Boolean(opts.force),
    builder: opts.builder as string | undefined,
    lifecycleImage: opts.lifecycleImage as string | undefined,
    ctx,
    ...(opts.network ? { network: parseNetworkMode(opts.network as string) } : {}),
    runtime: env.BERTH_RUNTIME || undefined,
    hostEnv: env,
    logger: cnbLogger(out, { quiet: Boolean(opts.quiet) }),
  });
  if (opts.reportOutputDir) {
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(opts.reportOutputDir as string, { recursive: true });
    await writeFile(`${opts.reportOutputDir}/report.toml`, r.report);
  }
  if (opts.json) printJson(out, r);
  else if (opts.quiet) out.stdout.write(`${r.digest}\n`);
  else info(out, `Rebased ${bare(image)} with the lifecycle ${r.lifecycleVersion} (${r.digest})`);
}
