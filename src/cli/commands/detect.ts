import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command, OptionValues } from "commander";
import {
  buildSteps,
  detectWithLifecycle,
  encodeGroup,
  encodePlan,
  type Isolation,
  openRun,
  type RunContext,
  targetOf,
  targetOfImage,
} from "../../cnb/index.ts";
import { BerthError, isBerthError } from "../../errors.ts";
import { parseNetworkMode } from "../../runtime/network.ts";
import { tmpDirOf } from "../../transport/context.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { type Cli, hostOptions } from "../env.ts";
import { collect, jsonOption, withPlatform } from "../flags.ts";
import { printJson } from "../output.ts";
import { cnbLogger } from "./builder.ts";

export function registerDetect(program: Command, cli: () => Cli): void {
  program
    .command("detect")
    .description("run the buildpacks' detection on an app and print the chosen group and build plan")
    .argument("[app]", "the app folder", ".")
    .requiredOption("-B, --builder <image>", "the builder, in any transport")
    .option(
      "-e, --env <K=V|K>",
      "a build-time variable (bare K takes this shell's value; repeatable)",
      collect,
    )
    .option("--env-file <file>", "build-time variables, one K=V per line (repeatable)", collect)
    .option(
      "--isolation <sandbox|host>",
      "run buildpacks in the build image (sandbox) or on this machine (host)",
      "sandbox",
    )
    .option(
      "--network <default|host|none>",
      "the sandbox's network (default: private, with outbound access; host: the host's)",
      "default",
    )
    .option("--platform <os/arch[/variant]>", "from a multi-platform builder, the platform to use")
    .option(
      "--runtime <name|path>",
      "OCI runtime of the sandbox (runc, crun; default: $BERTH_RUNTIME, else runc)",
    )
    .option(
      "--lifecycle <berth|builder>",
      "berth (default): berth's own engine detects; builder: the builder's /cnb/lifecycle/detector does, in berth's sandbox",
      "berth",
    )
    .option("-v, --verbose", "show every buildpack's detect output and timings")
    .option("-q, --quiet", "only errors")
    .addOption(jsonOption("the group and plan"))
    .addHelpText(
      "after",
      `
Prints group.toml and plan.toml. When no group passes, prints every buildpack's detect output and result
(as the lifecycle does, without -v) and exits with the platform's codes: 20 when no group passed, 21 when
a buildpack's detect errored.

With --lifecycle builder the builder's own lifecycle runs its detector (the Platform API negotiated as pack
does); its output is shown as it comes and berth exits with the detector's exit code (20, 21, 22–29) when it
fails.

Examples:
  berth detect ./app --builder my-builder
  berth detect . -B docker://127.0.0.1:5000/builder:1 -e BP_NODE_VERSION=22 --isolation host
  berth detect ./app -B paketobuildpacks/builder-jammy-base --lifecycle builder`,
    )
    .action(async (app: string, opts) => {
      const isolation = opts.isolation as Isolation;
      if (isolation !== "sandbox" && isolation !== "host") {
        throw new BerthError("USAGE", `--isolation ${isolation} must be sandbox or host`);
      }
      if (opts.lifecycle === "builder") {
        await lifecycleDetect(app, opts, cli);
        return;
      }
      if (opts.lifecycle !== "berth") {
        throw new BerthError(
          "USAGE",
          `--lifecycle ${JSON.stringify(opts.lifecycle)} must be berth or builder`,
        );
      }
      await ownDetect(app, opts, cli);
    });
}

/** `--lifecycle builder`: the builder's detector; its failure exit code is berth's. */
async function lifecycleDetect(app: string, opts: Record<string, unknown>, cli: () => Cli): Promise<void> {
  const { ctx, out, env: hostEnv, cwd } = cli();
  const host = hostOptions(cli(), { runtime: opts.runtime as string | undefined });
  if (opts.isolation !== "sandbox") {
    throw new BerthError("USAGE", "--isolation host cannot be used with --lifecycle builder", {
      hint: "the builder's lifecycle runs in berth's sandbox; leave out --isolation host",
    });
  }
  const r = await detectWithLifecycle({
    builder: opts.builder as string,
    ...withPlatform(opts.platform as string | undefined),
    appDir: resolve(cwd, app),
    ctx,
    env: (opts.env as string[] | undefined) ?? [],
    envFiles: ((opts.envFile as string[] | undefined) ?? []).map((f) => resolve(cwd, f)),
    network: parseNetworkMode(opts.network as string),
    runtime: host.runtime,
    asRoot: host.uid === 0,
    hostEnv,
    logger: cnbLogger(out, opts),
  });
  if (r.exitCode !== 0) {
    const why =
      r.exitCode === 20
        ? "no buildpack group passed detection"
        : r.exitCode === 21
          ? "no buildpack group passed detection, and a buildpack's detect errored"
          : "the builder's lifecycle failed in detector";
    out.stderr.write(`berth: ${why} (the lifecycle's detector exited ${r.exitCode})\n`);
    cli().setExitCode(r.exitCode);
    return;
  }
  if (opts.json) {
    printJson(out, { group: r.group, plan: r.plan });
    return;
  }
  out.stdout.write(`# group.toml\n${encodeGroup(r.group!)}\n# plan.toml\n${encodePlan(r.plan!)}`);
}

async function ownDetect(app: string, opts: OptionValues, cli: () => Cli): Promise<void> {
  const { ctx, out, env: hostEnv, cwd } = cli();
  const host = hostOptions(cli(), { runtime: opts.runtime });
  const isolation = opts.isolation as Isolation;
  const logger = cnbLogger(out, opts);
  const work = await ownedTempDir(tmpDirOf(ctx), "detect-");
  let c: RunContext | undefined;
  try {
    // The same run context as `berth build`, in a folder of its own; the builder's order, and the
    // buildpacks run as berth's own user on this machine (--isolation host).
    c = await openRun({
      builder: opts.builder,
      ...withPlatform(opts.platform),
      ctx,
      appDir: resolve(cwd, app),
      workspace: join(work, "workspace"),
      layersDir: join(work, "layers"),
      work,
      env: (opts.env as string[] | undefined) ?? [],
      envFiles: ((opts.envFile as string[] | undefined) ?? []).map((f) => resolve(cwd, f)),
      isolation,
      hostUser: "berth",
      runtime: host.runtime,
      network: parseNetworkMode(opts.network),
      asRoot: host.uid === 0,
      hostEnv,
      logger,
    });
    const target = await targetOf(c, targetOfImage(c.builder.info.image));
    const result = await buildSteps.detect(c, target).catch((err: unknown) => {
      // The platform spec's detector exit codes: 20 no group passed, 21 a buildpack errored.
      const code = isBerthError(err, "CNB_DETECT_FAILED")
        ? 20
        : isBerthError(err, "CNB_DETECT_ERROR")
          ? 21
          : 0;
      if (code === 0 || !isBerthError(err)) throw err;
      out.stderr.write(`berth: ${err.message}\n`);
      if (err.hint) out.stderr.write(`hint: ${err.hint}\n`);
      cli().setExitCode(code);
      return undefined;
    });
    if (!result) return;
    if (opts.json) {
      printJson(out, result);
      return;
    }
    out.stdout.write(`# group.toml\n${encodeGroup(result.group)}\n# plan.toml\n${encodePlan(result.plan)}`);
  } finally {
    await c?.close();
    await rm(work, { recursive: true, force: true });
  }
}
