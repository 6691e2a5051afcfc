import { existsSync } from "node:fs";
import type { Command } from "commander";
import { sourceDateEpochOf } from "../../api/host.ts";
import { BerthError } from "../../errors.ts";
import { executableImage, SELF_PATH } from "../../image/index.ts";
import { hostPlatform } from "../../oci/platform.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { packagePath } from "../../util/package.ts";
import type { Cli } from "../env.ts";
import { jsonOption } from "../flags.ts";
import { info, printJson } from "../output.ts";
import { runningExecutable } from "../self.ts";
import { registerHistory } from "./history.ts";

const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** berth's own executable: this one when berth runs as one, else the package's dist/berth-linux-<arch>. */
function selfExecutable(given: string | undefined, architecture: string): string {
  if (given !== undefined) return given;
  const running = runningExecutable();
  if (running !== undefined) return running;
  const built = packagePath("dist", `berth-linux-${architecture}`);
  if (!existsSync(built)) {
    throw new BerthError("USAGE", `berth's executable ${built} is not built`, {
      hint: "run 'npm run executable' in berth's checkout, or give one with --executable FILE",
    });
  }
  return built;
}

export function registerImage(program: Command, cli: () => Cli): void {
  const image = program
    .command("image")
    .description("images of berth itself; image history as docker's")
    .addHelpText(
      "after",
      "\nExamples:\n  berth image self oci:./berth-image:latest\n  berth image self --base BUILD-IMAGE docker://127.0.0.1:5000/builder/build-berth:1",
    );
  image
    .command("self")
    .description("write an image of berth's single executable, to run berth as a container or a build step")
    .argument("<target>", "the image to write, in any transport")
    .option(
      "--base <image>",
      "the image to add berth to (a build image, to run berth as a build step); scratch adds the C libraries berth needs, a CA bundle, a user 1000 and /tmp",
      "scratch",
    )
    .option(
      "--executable <file>",
      "the executable to put in (default: this berth's, or dist/berth-linux-<arch>)",
    )
    .option("--dest <path>", "where it goes in the image", SELF_PATH)
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
The image's entrypoint is berth. File mtimes and the created time come from SOURCE_DATE_EPOCH (default 0): the
same executable gives the same digest. On scratch, the CA bundle is $SSL_CERT_FILE's or ${HOST_CA_BUNDLE}.

Examples:
  berth image self oci:./berth-image:latest
  berth image self docker://127.0.0.1:5000/tools/berth:0.1.0
  berth image self --base docker://127.0.0.1:5000/builder/build:1 127.0.0.1:5000/builder/build-berth:1`,
    )
    .action(async (target: string, opts) => {
      const { ctx, out, env } = cli();
      const platform = hostPlatform();
      const base = parseImageArgument(opts.base, { allowScratch: true });
      const executable = selfExecutable(opts.executable, platform.architecture);
      if (!existsSync(executable)) {
        throw new BerthError("USAGE", `--executable ${executable} does not exist`);
      }
      const caBundle = env.SSL_CERT_FILE || (existsSync(HOST_CA_BUNDLE) ? HOST_CA_BUNDLE : undefined);
      const result = await executableImage(base, parseImageArgument(target), ctx, {
        executable,
        dest: opts.dest,
        platform,
        caBundle: base.transport === "scratch" ? caBundle : undefined,
        labels: { "org.opencontainers.image.title": "berth", "org.opencontainers.image.version": "0.1.0" },
        sourceDateEpoch: sourceDateEpochOf(env),
      });
      if (opts.json) printJson(out, result);
      else info(out, `Wrote ${result.root.digest} to ${target}`);
    });
  registerHistory(image, cli);
}
