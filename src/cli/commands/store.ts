import { join } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { fsck } from "../../oci/layout/fsck.ts";
import { gc } from "../../oci/layout/gc.ts";
import { Store } from "../../oci/store.ts";
import { mountsUnder } from "../../runtime/sweep.ts";
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
    .description("maintain the local store ($BERTH_HOME/store)")
    .addHelpText("after", "\nExamples:\n  berth store gc --dry-run\n  berth store fsck");
  registerStoreGc(store, cli);
  registerStoreFsck(store, cli);
}

function registerStoreGc(store: Command, cli: () => Cli): void {
  store
    .command("gc")
    .description("remove blobs no tagged image uses")
    .option("--dry-run", "only list what would be removed")
    .addHelpText("after", "\nExamples:\n  berth store gc --dry-run --json\n  berth store gc")
    .addOption(jsonOption())
    .action(async (opts) => {
      const { ctx, out } = cli();
      const s = await Store.open(ctx.home);
      const result = await gc(s.layout, { dryRun: Boolean(opts.dryRun) });
      const temp = opts.dryRun ? [] : await sweepStaleTemp(ctx.home);
      if (opts.json) printJson(out, { ...result, staleTemp: temp });
      else
        out.stdout.write(
          `${opts.dryRun ? "Would remove" : "Removed"} ${result.removed.length} blobs (${formatBytes(result.bytes)})${result.leased ? `; kept ${result.leased} unreferenced blobs that running commands hold` : ""}${temp.length ? `; removed ${temp.length} stale temporary entries` : ""}\n`,
        );
    });
}

function registerStoreFsck(store: Command, cli: () => Cli): void {
  store
    .command("fsck")
    .description("check that every blob the store's images use is present and intact")
    .addHelpText(
      "after",
      "\nExit code 4 when a blob is missing or damaged.\n\nExample:\n  berth store fsck --json",
    )
    .addOption(jsonOption())
    .action(async (opts) => {
      const { ctx, out } = cli();
      const s = await Store.open(ctx.home);
      const result = await fsck(s.layout);
      if (opts.json) printJson(out, result);
      else {
        out.stdout.write(
          `Checked ${result.images} images, ${result.blobs} blobs (${formatBytes(result.bytes)})\n`,
        );
        for (const p of result.problems) out.stdout.write(`${p.entry}: ${p.message}\n`);
      }
      if (result.problems.length) {
        throw new BerthError(
          "STORE_CORRUPT",
          `the store has ${result.problems.length} problem${result.problems.length > 1 ? "s" : ""}`,
          {
            hint: "remove the damaged images with `berth rmi` and copy them in again",
          },
        );
      }
    });
}
