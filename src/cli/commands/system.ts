import { lstat, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { gc } from "../../oci/layout/gc.ts";
import { Store } from "../../oci/store.ts";
import { mountsUnder } from "../../runtime/sweep.ts";
import { isAlive, ownerOfName } from "../../util/owner.ts";
import type { Cli } from "../env.ts";
import { jsonOption } from "../flags.ts";
import { formatBytes, printJson, table } from "../output.ts";

/** What BERTH_HOME holds, by kind: the folder, and whether `system prune` (without --all) clears it. */
const KINDS = [
  { kind: "store", path: "store", what: "images (blobs no image uses are reclaimable)" },
  { kind: "snapshots", path: "snapshots", what: "applied layers for run and builds (made again on use)" },
  { kind: "build-cache", path: "cache/cnb", what: "buildpacks builds' app copies, layers and caches" },
  { kind: "dockerfile-cache", path: "cache/dockerfile", what: "Dockerfile step results" },
  { kind: "stack-cache", path: "cache/stack", what: "debootstrap trees and packages of the default stack" },
  { kind: "other-cache", path: "cache", what: "the launcher, Node's compile cache and the rest" },
  { kind: "temporary", path: "tmp", what: "temporary files of running (or killed) commands" },
] as const;

interface Usage {
  kind: string;
  path: string;
  bytes: number;
  /** What `system prune` would free (store: unused blobs; with --all: everything but the store's images). */
  reclaimable: number;
}

/** Disk use of a tree as du counts it: allocated blocks, each inode once, symbolic links not followed. */
async function diskUse(path: string, seen: Set<string>, skip: Set<string>): Promise<number> {
  if (skip.has(path)) return 0;
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  const key = `${st.dev}:${st.ino}`;
  let n = 0;
  if (!seen.has(key)) {
    seen.add(key);
    n += st.blocks * 512;
  }
  if (st.isDirectory()) {
    const names = await readdir(path).catch(() => [] as string[]);
    for (const name of names) n += await diskUse(join(path, name), seen, skip);
  }
  return n;
}

/** The caches under cache/ that have a kind of their own (the rest of cache/ is "other-cache"). */
function specificCaches(home: string): string[] {
  return KINDS.filter((k) => k.path.startsWith("cache/")).map((k) => join(home, k.path));
}

async function usage(home: string): Promise<{ usage: Usage[]; unusedBlobs: number }> {
  const store = await Store.open(home);
  const unused = await gc(store.layout, { dryRun: true });
  const seen = new Set<string>();
  // the specific caches are counted under their own kind, not again under "other-cache"
  const specific = new Set(specificCaches(home));
  const out: Usage[] = [];
  for (const k of KINDS) {
    const path = join(home, k.path);
    const bytes = await diskUse(path, seen, k.kind === "other-cache" ? specific : new Set());
    const reclaimable =
      k.kind === "store"
        ? unused.bytes
        : (await pruneCandidates(home, k.kind, path, [...specific])).remove.reduce((n, c) => n + c.bytes, 0);
    out.push({ kind: k.kind, path, bytes, reclaimable });
  }
  return { usage: out, unusedBlobs: unused.removed.length };
}

/** Entries under a folder that a prune may remove, each with its size; `kept` says why others stay. */
interface Candidate {
  path: string;
  bytes: number;
}

/** An owner-tagged entry of a process still alive, or an ownerless one younger than an hour: in use. */
async function inUse(path: string, name: string): Promise<boolean> {
  const owner = ownerOfName(name);
  if (owner !== undefined) return isAlive(owner);
  const st = await lstat(path).catch(() => undefined);
  return st !== undefined && st.mtimeMs > Date.now() - 3600_000;
}

/** A buildpacks build holds `<cache/cnb/NAME>/build.lock` while it runs. */
async function buildRunning(entry: string): Promise<boolean> {
  const owner = await readFile(join(entry, "build.lock", "owner"), "utf8").catch(() => undefined);
  return owner !== undefined && (await isAlive(owner.trim()));
}

/** What `system prune` removes of one kind, and what it keeps (with the reason). */
async function pruneCandidates(
  home: string,
  kind: string,
  path: string,
  specific: string[],
): Promise<{ remove: Candidate[]; kept: string[] }> {
  const remove: Candidate[] = [];
  const kept: string[] = [];
  const names = await readdir(path).catch(() => [] as string[]);
  // snapshots are the lower layers of running containers' roots, mounted elsewhere under BERTH_HOME
  if (kind === "snapshots" && (await mountsUnder(home)).length) {
    return {
      remove,
      kept: [`${path}: a container or build is running (something is mounted under ${home})`],
    };
  }
  for (const name of names) {
    const entry = join(path, name);
    if (specific.includes(entry)) continue;
    if (kind === "temporary" && (await inUse(entry, name))) {
      kept.push(`${entry}: in use`);
      continue;
    }
    if (kind === "build-cache" && (await buildRunning(entry))) {
      kept.push(`${entry}: a build is running`);
      continue;
    }
    if ((await mountsUnder(entry)).length) {
      kept.push(`${entry}: something is mounted in it`);
      continue;
    }
    remove.push({ path: entry, bytes: await diskUse(entry, new Set(), new Set()) });
  }
  return { remove, kept };
}

/** What `system prune` removed (or, without `force`, would remove) of one kind, and what it kept. */
interface Pruned {
  kind: string;
  bytes: number;
  removed: string[];
  kept: string[];
}

/** `system prune`: unused blobs and dead commands' temporary files; with `all`, the snapshots and caches too. */
async function prune(home: string, o: { all: boolean; force: boolean }): Promise<Pruned[]> {
  const kinds = KINDS.filter((k) => (o.all ? true : k.kind === "store" || k.kind === "temporary"));
  const result: Pruned[] = [];
  for (const k of kinds) {
    if (k.kind === "store") {
      const s = await Store.open(home);
      const done = await gc(s.layout, { dryRun: !o.force });
      result.push({ kind: k.kind, bytes: done.bytes, removed: done.removed, kept: [] });
      continue;
    }
    const { remove, kept } = await pruneCandidates(home, k.kind, join(home, k.path), specificCaches(home));
    if (o.force) {
      for (const c of remove) {
        await rm(c.path, { recursive: true, force: true }).catch((err: unknown) => {
          throw new BerthError("IO", `removing ${c.path}`, { cause: err });
        });
      }
    }
    result.push({
      kind: k.kind,
      bytes: remove.reduce((n, c) => n + c.bytes, 0),
      removed: remove.map((c) => c.path),
      kept,
    });
  }
  return result;
}

export function registerSystem(program: Command, cli: () => Cli): void {
  const system = program
    .command("system")
    .description("disk use of BERTH_HOME, and reclaiming it")
    .addHelpText(
      "after",
      "\nExamples:\n  berth system df\n  berth system prune\n  berth system prune --all --force",
    );
  registerSystemDf(system, cli);
  registerSystemPrune(system, cli);
}

function registerSystemDf(system: Command, cli: () => Cli): void {
  system
    .command("df")
    .description("show how much disk the store, snapshots, caches and temporary files use")
    .addOption(jsonOption("the table"))
    .addHelpText(
      "after",
      "\nExamples:\n  berth system df\n  berth system df --json | jq '.kinds[] | {kind, bytes}'",
    )
    .action(async (opts) => {
      const { ctx, out } = cli();
      const { usage: rows } = await usage(ctx.home);
      const total = rows.reduce((n, r) => n + r.bytes, 0);
      if (opts.json) {
        printJson(out, { home: ctx.home, total, kinds: rows });
        return;
      }
      const lines = [["KIND", "SIZE", "RECLAIMABLE", "WHAT"]];
      for (const [i, r] of rows.entries()) {
        lines.push([r.kind, formatBytes(r.bytes), formatBytes(r.reclaimable), KINDS[i]!.what]);
      }
      out.stdout.write(`${table(lines)}\n\nTotal ${formatBytes(total)} in ${ctx.home}\n`);
    });
}

function registerSystemPrune(system: Command, cli: () => Cli): void {
  system
    .command("prune")
    .description(
      "remove what berth can make again: unused blobs and dead commands' temporary files; --all: every cache",
    )
    .option(
      "-a, --all",
      "also the snapshots and every cache (build caches, Dockerfile steps, the stack's trees)",
    )
    .option("-f, --force", "remove (without it, prune only says what it would remove)")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Without --force, prune is a dry run: it lists what would go and how much that frees. The images in the store
stay (remove those with berth rmi). Nothing in use is touched: temporary files of running commands, the cache
of a build under way, snapshots while a container runs, any tree with a mount inside.

Examples:
  berth system prune
  berth system prune --all --force`,
    )
    .action(async (opts) => {
      const { ctx, out } = cli();
      const result = await prune(ctx.home, { all: Boolean(opts.all), force: Boolean(opts.force) });
      const freed = result.reduce((n, r) => n + r.bytes, 0);
      if (opts.json) {
        printJson(out, { dryRun: !opts.force, all: Boolean(opts.all), freed, kinds: result });
        return;
      }
      for (const r of result) {
        const count = `${r.removed.length} ${r.kind === "store" ? "unused blobs" : "entries"}`;
        out.stdout.write(
          `${opts.force ? "Removed" : "Would remove"} ${r.kind}: ${count}, ${formatBytes(r.bytes)}\n`,
        );
        for (const k of r.kept) out.stdout.write(`  kept ${k}\n`);
      }
      out.stdout.write(`${opts.force ? "Freed" : "Would free"} ${formatBytes(freed)}\n`);
      if (!opts.force)
        out.stdout.write(`Run 'berth system prune${opts.all ? " --all" : ""} --force' to remove it.\n`);
    });
}
