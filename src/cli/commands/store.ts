import { join } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { fsck } from "../../oci/layout/fsck.ts";
import { gc } from "../../oci/layout/gc.ts";
import { OciLayout } from "../../oci/layout/layout.ts";
import { Store } from "../../oci/store.ts";
import { mountsUnder } from "../../runtime/sweep.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { sweepDeadOwners } from "../../util/owner.ts";
import type { Cli } from "../env.ts";
import { jsonOption } from "../flags.ts";
import { formatBytes, printJson } from "../output.ts";

/** Temporary entries older than this with no owner in their name (left by older berths) are stale. */
const STALE_MS = 24 * 60 * 60 * 1000;

/**
 * `store gc` also clears BERTH_HOME's temporary folders of entries that name no owner and are older than a day
 * (every command already sweeps those of dead owners); nothing with a mount inside is touched.
 */
async function sweepStaleTemp(home: string): Promise<string[]> {
  const dirs = [join(home, "tmp"), join(home, "cache", "dockerfile", "tmp"), join(home, "snapshots", "tmp")];
  const removed: string[] = [];
  for (const dir of dirs) {
    const names = await sweepDeadOwners(dir, {
      untaggedOlderThan: STALE_MS,
      beforeRemove: async (path) => (await mountsUnder(path)).length === 0,
    });
    removed.push(...names.map((n) => join(dir, n)));
  }
  return removed;
}

export function registerStore(program: Command, cli: () => Cli): void {
  const store = program
    .command("store")
    .description("maintain the local store ($BERTH_HOME/store), or collect an OCI layout's unused blobs")
    .addHelpText(
      "after",
      "\nExamples:\n  berth store gc --dry-run\n  berth store gc oci:./out\n  berth store fsck",
    );
  registerStoreGc(store, cli);
  registerStoreFsck(store, cli);
}

function registerStoreGc(store: Command, cli: () => Cli): void {
  store
    .command("gc")
    .description("remove blobs no tagged image uses (in the store, or in the OCI layout oci:DIR)")
    .argument("[layout]", "an OCI layout, oci:DIR, to collect instead of the store")
    .option("--dry-run", "only list what would be removed")
    .addHelpText(
      "after",
      "\nExamples:\n  berth store gc --dry-run --json\n  berth store gc\n  berth store gc oci:./out",
    )
    .addOption(jsonOption())
    .action(async (arg: string | undefined, opts) => {
      const { ctx, out } = cli();
      const dryRun = Boolean(opts.dryRun);
      const layout =
        arg === undefined ? (await Store.open(ctx.home)).layout : await wholeLayout(arg, "gc", "collects");
      const result = await gc(layout, { dryRun });
      const temp = dryRun || arg !== undefined ? [] : await sweepStaleTemp(ctx.home);
      if (opts.json) printJson(out, { ...result, staleTemp: temp });
      else
        out.stdout.write(
          `${dryRun ? "Would remove" : "Removed"} ${result.removed.length} blobs (${formatBytes(result.bytes)})${result.leased ? `; kept ${result.leased} unreferenced blobs that running commands hold` : ""}${temp.length ? `; removed ${temp.length} stale temporary entries` : ""}\n`,
        );
    });
}

/** The layout `store gc|fsck oci:DIR` works on: a whole layout, so a tag after the path is refused. */
async function wholeLayout(text: string, command: string, verb: string): Promise<OciLayout> {
  const arg = parseImageArgument(text);
  if (arg.transport !== "oci") {
    throw new BerthError(
      "USAGE",
      `store ${command} ${verb} an OCI layout (oci:DIR), not ${JSON.stringify(text)}`,
      {
        hint: "give the layout as oci:DIR, or nothing for the local store",
      },
    );
  }
  if (arg.ref !== undefined) {
    throw new BerthError(
      "USAGE",
      `store ${command} ${verb} a whole layout: ${JSON.stringify(text)} names a tag`,
      {
        hint: `give the layout alone: oci:${arg.path}`,
      },
    );
  }
  return OciLayout.open(arg.path);
}

function registerStoreFsck(store: Command, cli: () => Cli): void {
  store
    .command("fsck")
    .description(
      "check that every blob the images use is present and intact (in the store, or in the OCI layout oci:DIR)",
    )
    .argument("[layout]", "an OCI layout, oci:DIR, to check instead of the store")
    .addHelpText(
      "after",
      "\nExit code 4 when a blob is missing or damaged.\n\nExamples:\n  berth store fsck --json\n  berth store fsck oci:./out",
    )
    .addOption(jsonOption())
    .action(async (arg: string | undefined, opts) => {
      const { ctx, out } = cli();
      const layout =
        arg === undefined ? (await Store.open(ctx.home)).layout : await wholeLayout(arg, "fsck", "checks");
      const result = await fsck(layout);
      if (opts.json) printJson(out, result);
      else {
        out.stdout.write(
          `Checked ${result.images} images, ${result.blobs} blobs (${formatBytes(result.bytes)})\n`,
        );
        for (const p of result.problems) out.stdout.write(`${p.entry}: ${p.message}\n`);
      }
      if (result.problems.length) {
        const what = arg === undefined ? "the store" : `the layout ${arg}`;
        throw new BerthError(
          "STORE_CORRUPT",
          `${what} has ${result.problems.length} problem${result.problems.length > 1 ? "s" : ""}`,
          {
            hint:
              arg === undefined
                ? "remove the damaged images with `berth rmi` and copy them in again"
                : "copy the damaged images into the layout again (berth copy SOURCE oci:DIR:TAG)",
          },
        );
      }
    });
}
