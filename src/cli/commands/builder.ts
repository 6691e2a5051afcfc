import { resolve } from "node:path";
import type { Command } from "commander";
import { publishTarget } from "../../api/build.ts";
import type { PhaseLogger } from "../../cnb/index.ts";
import { createBuilder, openImage, readBuilderConfig, readBuilderInfo } from "../../cnb/index.ts";
import { BerthError } from "../../errors.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { collect, jsonOption } from "../flags.ts";
import type { Output } from "../output.ts";
import { printJson } from "../output.ts";
import type { BuildHeartbeat } from "../progress.ts";

/**
 * Phase lines to stderr; --quiet drops all but warnings, --verbose adds debug lines. A heartbeat sees every
 * line (for its `Still running:` lines in a log that is not a terminal).
 */
export function cnbLogger(
  out: Output,
  o: { verbose?: boolean; quiet?: boolean; heartbeat?: BuildHeartbeat },
): PhaseLogger {
  const quiet = o.quiet || out.quiet;
  const note = (l: string | Buffer) => o.heartbeat?.note(l);
  return {
    info: (l) => {
      note(l);
      if (!quiet) out.stderr.write(`${l}\n`);
    },
    warn: (l) => {
      note(l);
      out.stderr.write(`${l.startsWith("Warning") ? l : `Warning: ${l}`}\n`);
    },
    debug: (l) => {
      if (o.verbose && !quiet) out.stderr.write(`${l}\n`);
    },
    output: (chunk) => {
      note(chunk);
      if (!quiet) out.stderr.write(chunk);
    },
  };
}

/** `berth builder`: made by whichever module registers into it first (this one or the default builder's). */
export function builderGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "builder") ??
    program
      .command("builder")
      .description("create and inspect Cloud Native Buildpacks builders")
      .addHelpText(
        "after",
        "\nExamples:\n  berth builder default\n  berth builder create my-builder --config ./builder.toml\n  berth builder inspect my-builder",
      )
  );
}

export function registerBuilder(program: Command, cli: () => Cli): void {
  const builder = builderGroup(program);
  registerBuilderCreate(builder, cli);
  registerBuilderInspect(builder, cli);
}

function registerBuilderCreate(builder: Command, cli: () => Cli): void {
  builder
    .command("create")
    .description("create a builder image from pack's builder.toml")
    .argument("<name>", "the builder to write, in any transport (bare name: the local store)")
    .requiredOption("-c, --config <file>", "builder.toml (pack's format)")
    .option("--publish", "write the builder to a registry (NAME is a registry reference)")
    .option("--label <KEY=VALUE>", "add a label to the builder (repeatable)", collect)
    .option(
      "--no-lifecycle",
      "make a builder only berth runs: no /cnb/lifecycle, and a label that claims no lifecycle",
    )
    .option(
      "--platform <os/arch[/variant]>",
      "the builder's platform, picked from multi-platform build, lifecycle, buildpack and run images (default: this machine's)",
    )
    .option("-v, --verbose", "show more detail")
    .option("-q, --quiet", "only errors")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
The builder is laid out as pack lays it out: the build image, a layer of default directories, one layer
per buildpack at /cnb/buildpacks/<id>/<version>/, /cnb/order.toml, /cnb/stack.toml, /cnb/run.toml,
/cnb/build-config/env/, and the labels io.buildpacks.builder.metadata, io.buildpacks.buildpack.layers and
io.buildpacks.buildpack.order. Buildpack uris are paths relative to builder.toml, .tgz files, .cnb
buildpackages, or images. Image extensions ([[extensions]] with a folder or .tgz uri, [[order-extensions]])
go to /cnb/extensions/<id>/<version>/ and [[order-extensions]] of /cnb/order.toml, with the labels
io.buildpacks.extension.layers and io.buildpacks.buildpack.order-extensions.

The builder carries a CNB lifecycle at /cnb/lifecycle, as pack's do: builder.toml's [lifecycle] uri (a
lifecycle .tgz in the release layout, an http(s) URL of one, or docker://IMAGE whose last layer holds
/cnb/lifecycle) or version (the image buildpacksio/lifecycle:<version>); with neither, the
default lifecycle image buildpacksio/lifecycle:0.21.0, pulled into the local store once.
--no-lifecycle leaves it out: such a builder runs only with berth's own engine.

Examples:
  berth builder create my-builder --config ./builder.toml
  berth builder create 127.0.0.1:5000/my-builder:1 --config ./builder.toml --publish
  berth builder create oci:./out:builder --config ./builder.toml`,
    )
    .action(async (name: string, opts) => {
      const { ctx, out, cwd } = cli();
      const logger = cnbLogger(out, opts);
      const config = await readBuilderConfig(resolve(cwd, opts.config));
      const labels: Record<string, string> = {};
      for (const l of (opts.label as string[] | undefined) ?? []) {
        const i = l.indexOf("=");
        if (i <= 0) throw new BerthError("USAGE", `--label ${JSON.stringify(l)} must be KEY=VALUE`);
        labels[l.slice(0, i)] = l.slice(i + 1);
      }
      const target = parseImageArgument(publishTarget(name, Boolean(opts.publish)));
      const buildImage = parseImageArgument(config.buildImage);
      const result = await createBuilder(config, buildImage, target, {
        ctx,
        logger,
        labels,
        noLifecycle: opts.lifecycle === false,
        ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
      });
      if (opts.json) {
        printJson(out, {
          digest: result.root.digest,
          buildpacks: result.metadata.buildpacks,
          order: result.order,
          lifecycle: result.metadata.lifecycle,
        });
        return;
      }
      logger.info(`Successfully created builder image '${name}'`);
      logger.info(`Tip: Run 'berth build <image-name> --builder ${name}' to use this builder`);
    });
}

function registerBuilderInspect(builder: Command, cli: () => Cli): void {
  builder
    .command("inspect")
    .description("show a builder's buildpacks, order, run images and CNB user")
    .argument("<name>", "the builder, in any transport")
    .addOption(jsonOption("the labels"))
    .addHelpText(
      "after",
      "\nExamples:\n  berth builder inspect my-builder\n  berth builder inspect docker://127.0.0.1:5000/team/builder:1 --json",
    )
    .action(async (name: string, opts) => {
      const { ctx, out } = cli();
      const opened = await openImage(name, ctx);
      try {
        const info = readBuilderInfo(opened.image, name);
        if (opts.json) {
          printJson(out, {
            metadata: info.metadata,
            layers: info.layers,
            order: info.orderLabel,
            user: info.user,
          });
          return;
        }
        const lines = [
          `Inspecting builder: ${name}`,
          "",
          `Created By: ${info.metadata?.createdBy?.name ?? ""} ${info.metadata?.createdBy?.version ?? ""}`.trimEnd(),
          `Description: ${info.metadata?.description ?? ""}`,
          `User: ${info.user.uid}:${info.user.gid}`,
          "",
          "Lifecycle:",
          ...(info.metadata?.lifecycle?.version
            ? [
                `  Version: ${info.metadata.lifecycle.version}`,
                `  Buildpack APIs: ${(info.metadata.lifecycle.apis?.buildpack.supported ?? []).join(", ")}`,
                `  Platform APIs: ${(info.metadata.lifecycle.apis?.platform.supported ?? []).join(", ")}`,
              ]
            : ["  (none: the builder runs only with berth's own engine)"]),
          "",
          "Run Images:",
          ...(info.metadata?.images ?? []).flatMap((r) => [
            `  ${r.image}`,
            ...(r.mirrors ?? []).map((m) => `  ${m} (mirror)`),
          ]),
          "",
          "Buildpacks:",
          ...(info.metadata?.buildpacks ?? []).map((b) => `  ${b.id.padEnd(40)} ${b.version ?? ""}`),
          "",
          "Detection Order:",
          ...info.orderLabel.flatMap((g, i) => [
            `  Group #${i + 1}:`,
            ...g.group.map(
              (r) => `    ${r.id}${r.version ? `@${r.version}` : ""}${r.optional ? " (optional)" : ""}`,
            ),
          ]),
        ];
        const extOrder = info.orderExtensionsLabel;
        if (info.metadata?.extensions?.length || extOrder.length) {
          lines.push(
            "",
            "Extensions:",
            ...(info.metadata?.extensions ?? []).map((b) => `  ${b.id.padEnd(40)} ${b.version ?? ""}`),
            "",
            "Detection Order (Extensions):",
            ...extOrder.flatMap((g, i) => [
              `  Group #${i + 1}:`,
              ...g.group.map((r) => `    ${r.id}${r.version ? `@${r.version}` : ""}`),
            ]),
          );
        }
        out.stdout.write(`${lines.join("\n")}\n`);
      } finally {
        await opened.close();
      }
    });
}
