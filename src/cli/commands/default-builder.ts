import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseToml } from "smol-toml";
import {
  DEFAULT_BUILDER,
  defaultBuilderName,
  ensureDefaultBuilder,
  setDefaultBuilder,
} from "../../cnb/stack/index.ts";
import { packagePath } from "../../util/package.ts";
import type { Cli } from "../env.ts";
import { BuildHeartbeat } from "../progress.ts";
import { builderGroup, cnbLogger } from "./builder.ts";
import { isRoot, readExtraCas } from "./stack.ts";

/** builders/default/builder.toml of this berth (or $BERTH_DEFAULT_BUILDER_TOML). */
export function defaultBuilderToml(env: Record<string, string | undefined>): string {
  return env.BERTH_DEFAULT_BUILDER_TOML ?? packagePath("builders", "default", "builder.toml");
}

/** Whether `berth build` will take the buildpacks way with no builder named (so the default one is needed). */
async function needsDefaultBuilder(appDir: string, opts: Record<string, unknown>): Promise<boolean> {
  if (opts.builder || opts.dockerfile !== undefined || opts.file !== undefined) return false;
  const descriptor = typeof opts.descriptor === "string" ? opts.descriptor : join(appDir, "project.toml");
  let text: string;
  try {
    text = await readFile(descriptor, "utf8");
  } catch {
    return true;
  }
  try {
    const doc = parseToml(text) as { io?: { berth?: { build?: string }; buildpacks?: { builder?: string } } };
    if (doc.io?.berth?.build === "dockerfile") return false;
    if (doc.io?.buildpacks?.builder) return false;
  } catch {
    // berth build reports a malformed project.toml itself
  }
  return true;
}

/**
 * `berth builder default [NAME]`, and the default builder for `berth build` with no --builder: made on first
 * use (stack, then builder, with progress) and reused after.
 */
export function registerDefaultBuilder(program: Command, cli: () => Cli): void {
  const builder = builderGroup(program);
  builder
    .command("default")
    .description("show or set the builder berth build uses when none is named")
    .argument("[name]", "the builder to use from now on (any transport)")
    .option("--reset", `go back to berth's own default builder (${DEFAULT_BUILDER})`)
    .option("--create", "make berth's default builder now (stack and builder), if it is not there yet")
    .addHelpText(
      "after",
      `
berth's own default builder (${DEFAULT_BUILDER}) is defined in the repository (builders/default): buildpacks
for Node.js, Python, Go, static sites, Procfile apps and Java jars on a Debian bookworm stack. berth makes it
on first use: the stack with debootstrap (cached under $BERTH_HOME/cache/stack), then the builder. The
setting is kept in $BERTH_HOME/default-builder.

Examples:
  berth builder default
  berth builder default registry.example.com/team/builder:1
  berth builder default --reset
  berth builder default --create`,
    )
    .action(async (name: string | undefined, opts) => {
      const c = cli();
      if (name !== undefined || opts.reset) {
        await setDefaultBuilder(c.ctx.home, opts.reset ? undefined : name);
      }
      if (opts.create) {
        const made = await ensureDefaultBuilder({
          ctx: c.ctx,
          builderToml: defaultBuilderToml(c.env),
          isRoot: isRoot(),
          ...(c.env.PATH ? { searchPath: c.env.PATH } : {}),
          extraCas: await readExtraCas([], true, c.cwd),
          logger: cnbLogger(c.out, {}),
        });
        if (!made.createdBuilder) c.out.stderr.write(`${made.name} is up to date\n`);
      }
      const current = await defaultBuilderName(c.ctx.home);
      c.out.stdout.write(`${current.name}${current.configured ? "" : " (berth's own)"}\n`);
    });

  const build = program.commands.find((c) => c.name() === "build");
  build?.hook("preAction", async (_cmd, action) => {
    const c = cli();
    const opts = action.opts() as Record<string, unknown>;
    // pack's `berth build IMAGE --path APP`: with --path, the argument is the image
    const appDir = resolve(
      c.cwd,
      (opts.path as string | undefined) ?? (action.args[0] as string | undefined) ?? ".",
    );
    if (!(await needsDefaultBuilder(appDir, opts))) return;
    // making the stack takes minutes on first use: a log that is not a terminal gets a line every few seconds
    const heartbeat = new BuildHeartbeat(opts.quiet ? { ...c.out, quiet: true } : c.out);
    const logger = cnbLogger(c.out, {
      quiet: Boolean(opts.quiet),
      verbose: Boolean(opts.verbose),
      heartbeat,
    });
    const made = await ensureDefaultBuilder({
      ctx: c.ctx,
      builderToml: defaultBuilderToml(c.env),
      isRoot: isRoot(),
      ...(c.env.PATH ? { searchPath: c.env.PATH } : {}),
      // The host's own CAs (a company's, a proxy's) are trusted in the default stack, so that npm and pip work.
      extraCas: await readExtraCas([], true, c.cwd),
      logger,
    }).finally(() => heartbeat.stop());
    if (!opts.quiet) c.out.stderr.write(`Using the default builder ${made.name}\n`);
    // source "default": berth made this builder here, so build's --pull-policy leaves it (and its run image) alone
    action.setOptionValueWithSource("builder", made.name, "default");
  });
}
