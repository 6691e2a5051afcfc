import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { BerthError, wrapError } from "../../errors.ts";
import { loadArchive, saveArchive } from "../../transport/archive.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { ownedTempDir } from "../../util/fs.ts";
import type { Cli } from "../env.ts";
import { jsonOption, platformOf } from "../flags.ts";
import { outputOf, printJson } from "../output.ts";
import { TransferProgress } from "../progress.ts";

/**
 * Run `fn` on a file it can read at any position: the input itself when it is a regular file, else (`-`,
 * a pipe, a terminal, /dev/stdin) a copy spooled to a temp file under BERTH_HOME/tmp, removed after.
 */
async function withSeekable<T>(c: Cli, input: string, fn: (path: string) => Promise<T>): Promise<T> {
  if (input !== "-") {
    const st = await stat(input).catch(() => undefined);
    if (!st || st.isFile()) return fn(input);
  }
  const from = input === "-" ? c.stdin() : createReadStream(input);
  if (input === "-" && (c.stdin() as { isTTY?: boolean }).isTTY) {
    throw new BerthError("USAGE", "load reads an archive from standard input, which is a terminal", {
      hint: "give the archive with -i FILE, or pipe one in: docker save app | berth load",
    });
  }
  const dir = await ownedTempDir(join(c.ctx.home, "tmp"), "load-");
  try {
    const path = join(dir, "archive");
    await pipeline(from as NodeJS.ReadableStream, createWriteStream(path, { mode: 0o600 }));
    return await fn(path).catch((err: unknown) => {
      // the spool file is berth's business: the user gave standard input (or a pipe)
      if (!(err instanceof BerthError)) throw err;
      const name = input === "-" ? "standard input" : input;
      throw new BerthError(err.code, err.message.split(path).join(name), {
        cause: err,
        hint: err.hint?.split(path).join(name),
        details: err.details,
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function registerArchive(program: Command, cli: () => Cli): void {
  registerSave(program, cli);
  registerLoad(program, cli);
}

function registerSave(program: Command, cli: () => Cli): void {
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
    .option("-q, --quiet", "print nothing but errors")
    .addHelpText(
      "after",
      "\nExamples:\n  berth save app:1 -o app.tar\n  berth save app:1 base:2 -o both.tar\n  berth save app:1 -o - | gzip > app.tar.gz",
    )
    .action(async (images: string[], opts) => {
      const { ctx, out } = cli();
      if (opts.quiet) out.quiet = true;
      const progress = new TransferProgress(out);
      await saveArchive(
        images.map((i) => parseImageArgument(i)),
        outputOf(opts.output, out),
        ctx,
        platformOf(opts.platform),
        progress.hooks,
      ).finally(() => progress.close());
      progress.finish(`Saved ${images.length} image${images.length > 1 ? "s" : ""} to ${opts.output}`);
    });
}

function registerLoad(program: Command, cli: () => Cli): void {
  program
    .command("load")
    .description("load the images of a docker-archive or oci-archive into the local store")
    .option("-i, --input <file>", "the archive to read (plain, gzip or zstd; - or none: standard input)")
    .option("-q, --quiet", "print nothing but errors")
    .addOption(jsonOption("what was loaded"))
    .addHelpText(
      "after",
      "\nExamples:\n  berth load -i app.tar\n  berth load -i image.oci.tar.gz\n  docker save app:1 | berth load\n  berth save app:1 -o - | ssh host berth load -i -",
    )
    .action(async (opts) => {
      const c = cli();
      const { ctx, out } = c;
      if (opts.quiet) out.quiet = true;
      const input: string = opts.input ?? "-";
      const what = input === "-" ? "standard input" : input;
      // a system error (a full disk) is said with the step: berth's own errors already name the archive
      const progress = new TransferProgress(out);
      const loaded = await withSeekable(c, input, (path) => loadArchive(path, ctx, progress.hooks))
        .catch((err: unknown) => {
          throw err instanceof BerthError ? err : wrapError(`loading ${what} into the local store`, err);
        })
        .finally(() => progress.close());
      progress.finish(`Loaded ${loaded.length} image${loaded.length === 1 ? "" : "s"} from ${what}`);
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
