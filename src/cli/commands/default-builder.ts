import type { Command } from "commander";
import {
  DEFAULT_BUILDER,
  defaultBuilderName,
  ensureDefaultBuilder,
  readExtraCas,
  setDefaultBuilder,
} from "../../cnb/stack/index.ts";
import { packagePath } from "../../util/package.ts";
import type { Cli } from "../env.ts";
import { builderGroup, cnbLogger } from "./builder.ts";

/** builders/default/builder.toml of this berth (or $BERTH_DEFAULT_BUILDER_TOML). */
export function defaultBuilderToml(env: Record<string, string | undefined>): string {
  return env.BERTH_DEFAULT_BUILDER_TOML ?? packagePath("builders", "default", "builder.toml");
}

/**
 * `berth builder default [NAME]`, and the default builder for `berth build` with no --builder: made on first
 * use (stack, then builder, with progress) and reused after (by the library's `build`, src/api/build.ts).
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
          isRoot: c.uid === 0,
          searchPath: c.env.PATH || undefined,
          extraCas: await readExtraCas([], true, c.cwd),
          logger: cnbLogger(c.out, {}),
        });
        if (!made.createdBuilder) c.out.stderr.write(`${made.name} is up to date\n`);
      }
      const current = await defaultBuilderName(c.ctx.home);
      c.out.stdout.write(`${current.name}${current.configured ? "" : " (berth's own)"}\n`);
    });
}
