import { resolve } from "node:path";
import type { Command } from "commander";
import { packageBuildpack, readPackageConfig } from "../../cnb/buildpackage/index.ts";
import { BerthError } from "../../errors.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { jsonOption } from "../flags.ts";
import { info, printJson } from "../output.ts";

/** Where `buildpack package OUT` writes: a .cnb file, the local store, or with --publish a registry. */
export function packageTarget(out: string, format: string, publish: boolean, cwd: string) {
  if (format === "file") {
    if (publish)
      throw new BerthError(
        "USAGE",
        "--publish writes an image to a registry; it does not go with --format file",
      );
    if (/^[a-z-]+:/.test(out) && !out.startsWith("oci-archive:")) {
      throw new BerthError("USAGE", `--format file writes a .cnb file, so OUT must be a path, not ${out}`);
    }
    const path = out.startsWith("oci-archive:") ? out.slice("oci-archive:".length) : out;
    return parseImageArgument(`oci-archive:${resolve(cwd, path)}`);
  }
  if (format !== "image")
    throw new BerthError("USAGE", `--format must be image or file, not ${JSON.stringify(format)}`);
  if (publish) return parseImageArgument(out, { default: "docker" });
  return parseImageArgument(out);
}

export function registerBuildpack(program: Command, cli: () => Cli): void {
  const bp = program
    .command("buildpack")
    .description("package buildpacks (buildpackages)")
    .addHelpText("after", "\nExample:\n  berth buildpack package my/node-bp --config ./node/package.toml");
  bp.command("package")
    .description("package a buildpack and its dependencies as a buildpackage image or .cnb file")
    .argument(
      "<out>",
      "the image to write (any transport; a registry with --publish), or with --format file a .cnb path",
    )
    .requiredOption("-c, --config <package.toml>", "pack's package.toml")
    .option("-f, --format <image|file>", "an image, or a .cnb file (an OCI layout in a tar)", "image")
    .option("--publish", "write the image straight to a registry")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
package.toml is pack's: [buildpack] uri (a folder, .tgz, .cnb or buildpackage image), [[dependencies]] with uri
or image (for composite buildpacks), [[targets]] (os, arch, variant; the first sets the image's platform).
The result has one layer per buildpack at /cnb/buildpacks/<id>/<version>/ and the labels
io.buildpacks.buildpackage.metadata and io.buildpacks.buildpack.layers, so berth builder create (uri or
image in builder.toml), berth build --buildpack and pack all take it.

Examples:
  berth buildpack package my/node-bp --config ./node/package.toml
  berth buildpack package ./node.cnb --config ./node/package.toml --format file
  berth buildpack package registry.example.com/bp/node:1 --config package.toml --publish`,
    )
    .action(async (out: string, opts) => {
      const c = cli();
      const config = await readPackageConfig(resolve(c.cwd, opts.config as string));
      const target = packageTarget(out, opts.format as string, Boolean(opts.publish), c.cwd);
      const result = await packageBuildpack(config, target, {
        ctx: c.ctx,
        onProgress: (l) => info(c.out, l),
      });
      if (opts.json) {
        printJson(c.out, {
          target: target.text,
          digest: result.root.digest,
          id: result.id,
          version: result.version,
          buildpacks: result.buildpacks,
        });
        return;
      }
      c.out.stdout.write(
        `Successfully created package '${out}' (${result.id}@${result.version}, ${result.buildpacks.length} buildpack${result.buildpacks.length === 1 ? "" : "s"}) ${result.root.digest}\n`,
      );
    });
}
