import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { fsck } from "../../oci/layout/fsck.ts";
import { gc } from "../../oci/layout/gc.ts";
import { Store } from "../../oci/store.ts";
import type { Cli } from "../env.ts";
import { formatBytes, printJson } from "../output.ts";

export function registerStore(program: Command, cli: () => Cli): void {
  const store = program
    .command("store")
    .description("maintain the local store ($BERTH_HOME/store)")
    .addHelpText("after", "\nExamples:\n  berth store gc --dry-run\n  berth store fsck");
  store
    .command("gc")
    .description("remove blobs no tagged image uses")
    .option("--dry-run", "only list what would be removed")
    .addHelpText("after", "\nExamples:\n  berth store gc --dry-run --json\n  berth store gc")
    .option("--json", "print the result as JSON")
    .action(async (opts) => {
      const { ctx, out } = cli();
      const s = await Store.open(ctx.home);
      const result = await gc(s.layout, { dryRun: Boolean(opts.dryRun) });
      if (opts.json) printJson(out, result);
      else
        out.stdout.write(
          `${opts.dryRun ? "Would remove" : "Removed"} ${result.removed.length} blobs (${formatBytes(result.bytes)})${result.leased ? `; kept ${result.leased} unreferenced blobs that running commands hold` : ""}\n`,
        );
    });
  store
    .command("fsck")
    .description("check that every blob the store's images use is present and intact")
    .addHelpText(
      "after",
      "\nExit code 4 when a blob is missing or damaged.\n\nExample:\n  berth store fsck --json",
    )
    .option("--json", "print the result as JSON")
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
