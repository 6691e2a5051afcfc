import type { Command } from "commander";
import { sourceDateEpochOf } from "../../api/host.ts";
import {
  createStack,
  DEFAULT_BUILD_PACKAGES,
  DEFAULT_RUN_PACKAGES,
  HOST_CA_DIR,
  readExtraCas,
} from "../../cnb/stack/index.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { collect, jsonOption } from "../flags.ts";
import { formatBytes, info, printJson } from "../output.ts";

const list = (v: string) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export function registerStack(program: Command, cli: () => Cli): void {
  const stack = program
    .command("stack")
    .description("build and run images for buildpacks (stacks)")
    .addHelpText("after", "\nExample:\n  berth stack create --build-image my/build --run-image my/run");
  stack
    .command("create")
    .description("make a build image and a run image from distribution packages with debootstrap")
    .requiredOption("--build-image <name>", "the build image to write, in any transport")
    .requiredOption("--run-image <name>", "the run image to write, in any transport")
    .option(
      "--tiny-run-image <name>",
      "also write a tiny run image (distroless-style: the build tree's libc, libstdc++, zlib, libssl, CA bundle, tzdata; no shell)",
    )
    .option("--distro <name:release>", "debian:bookworm, debian:trixie, ubuntu:noble …", "debian:bookworm")
    .option("--packages <p,…>", `build image packages (default: ${DEFAULT_BUILD_PACKAGES.join(",")})`, list)
    .option(
      "--run-packages <p,…>",
      `run image packages besides the minimal base (default: ${DEFAULT_RUN_PACKAGES.join(",")})`,
      list,
    )
    .option("--mirror <url>", "the package mirror (default: the distribution's; also $BERTH_DEBIAN_MIRROR)")
    .option("--trust-ca <file>", "a PEM CA certificate both images trust (repeatable)", collect)
    .option("--trust-host-cas", `trust this machine's local CAs (${HOST_CA_DIR}/*.crt) in both images`)
    .option("-v, --verbose", "show debootstrap's output")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Both images get the CNB user (build: cnb 1000:1000, run: cnb 1001:1000, home /home/cnb), CNB_USER_ID and
CNB_GROUP_ID, the io.buildpacks.base.* labels (distro name and version: the target data), the deprecated
io.buildpacks.stack.id, and the run image io.buildpacks.rebasable=true. --tiny-run-image also writes a
distroless-style run image from the build tree's packages (libc6, libgcc-s1, libstdc++6, zlib1g, libssl3,
ca-certificates' bundle, tzdata, base-files; dpkg records in /var/lib/dpkg/status.d/), with no shell. The run image is the minimal base
(no compilers, no package lists or caches, no documentation). Trees are cached under $BERTH_HOME/cache/stack
by distribution and packages, so a second run takes seconds. File mtimes come from SOURCE_DATE_EPOCH
(default 0). Needs root and debootstrap.

Examples:
  berth stack create --build-image my/build --run-image my/run
  berth stack create --build-image oci:./stack:build --run-image oci:./stack:run --run-packages ca-certificates,tzdata`,
    )
    .action(async (opts) => {
      const c = cli();
      const mirror = (opts.mirror as string | undefined) ?? c.env.BERTH_DEBIAN_MIRROR;
      const epoch = sourceDateEpochOf(c.env);
      const extraCas = await readExtraCas(
        (opts.trustCa as string[] | undefined) ?? [],
        Boolean(opts.trustHostCas),
        c.cwd,
      );
      const result = await createStack({
        distro: opts.distro as string,
        buildImage: parseImageArgument(opts.buildImage as string),
        runImage: parseImageArgument(opts.runImage as string),
        ...(opts.tinyRunImage ? { tinyRunImage: parseImageArgument(opts.tinyRunImage as string) } : {}),
        packages: opts.packages as string[] | undefined,
        runPackages: opts.runPackages as string[] | undefined,
        mirror: mirror || undefined,
        ctx: c.ctx,
        ...(extraCas.length ? { extraCas } : {}),
        isRoot: c.uid === 0,
        searchPath: c.env.PATH || undefined,
        sourceDateEpoch: epoch,
        onProgress: (l) => info(c.out, l),
        ...(opts.verbose ? { onDetail: (l: string) => info(c.out, `  ${l}`) } : {}),
      });
      if (opts.json) {
        printJson(c.out, result);
        return;
      }
      c.out.stdout.write(
        `stack ${result.id}\n` +
          `  build image ${result.build.name} ${result.build.digest} (${formatBytes(result.build.size)}, ${result.build.packages} packages)\n` +
          `  run image   ${result.run.name} ${result.run.digest} (${formatBytes(result.run.size)}, ${result.run.packages} packages)\n` +
          (result.tiny
            ? `  tiny run    ${result.tiny.name} ${result.tiny.digest} (${formatBytes(result.tiny.size)}, ${result.tiny.packages} packages)\n`
            : ""),
      );
    });
}
