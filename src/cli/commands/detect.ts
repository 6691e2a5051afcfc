import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import {
  copyApp,
  detect,
  encodeGroup,
  encodePlan,
  type Isolation,
  mergePlatformEnv,
  openBuilder,
  PLATFORM_API,
  parseEnvArg,
  prepareDirs,
  prepareExecutor,
  readEnvFile,
  withSystemBuildpacks,
} from "../../cnb/index.ts";
import { BerthError, isBerthError } from "../../errors.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { parseNetworkMode } from "../../runtime/network.ts";
import { tmpDirOf } from "../../transport/context.ts";
import { ownedTempDir } from "../../util/fs.ts";
import type { Cli } from "../env.ts";
import { printJson } from "../output.ts";
import { cnbLogger } from "./builder.ts";

const collect = (v: string, prev: string[] = []) => [...prev, v];

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
    .option("-v, --verbose", "show every buildpack's detect output and timings")
    .option("-q, --quiet", "only errors")
    .option("--json", "print the group and plan as JSON")
    .addHelpText(
      "after",
      `
Prints group.toml and plan.toml. When no group passes, prints every buildpack's detect output and result
(as the lifecycle does, without -v) and exits with the platform's codes: 20 when no group passed, 21 when
a buildpack's detect errored.

Examples:
  berth detect ./app --builder my-builder
  berth detect . -B docker://127.0.0.1:5000/builder:1 -e BP_NODE_VERSION=22 --isolation host`,
    )
    .action(async (app: string, opts) => {
      const { ctx, out, env: hostEnv, cwd } = cli();
      const isolation = opts.isolation as Isolation;
      if (isolation !== "sandbox" && isolation !== "host") {
        throw new BerthError("USAGE", `--isolation ${isolation} must be sandbox or host`);
      }
      const logger = cnbLogger(out, opts);
      const envFiles: [string, string][] = [];
      for (const f of (opts.envFile as string[] | undefined) ?? [])
        envFiles.push(...(await readEnvFile(resolve(cwd, f), hostEnv)));
      const flags = ((opts.env as string[] | undefined) ?? [])
        .map((e) => parseEnvArg(e, hostEnv))
        .filter((e) => e !== undefined);
      const platformEnv = mergePlatformEnv(envFiles, flags);
      const work = await ownedTempDir(tmpDirOf(ctx), "detect-");
      try {
        const builder = await openBuilder(
          opts.builder,
          ctx,
          join(work, "builder"),
          opts.platform ? parsePlatform(opts.platform) : undefined,
        );
        const paths = {
          app: join(work, "workspace"),
          layers: join(work, "layers"),
          platform: join(work, "platform"),
          buildpacks: builder.buildpacksDir,
          buildConfig: builder.buildConfigDir,
        };
        await copyApp(resolve(cwd, app), paths.app, builder.info.user);
        await prepareDirs(paths, builder.info.user, platformEnv);
        const prepared = await prepareExecutor({
          isolation,
          image: builder.info.image,
          imageName: opts.builder,
          user: builder.info.user,
          paths,
          runtime: {
            home: ctx.home,
            ...(hostEnv.BERTH_RUNTIME ? { runtime: hostEnv.BERTH_RUNTIME } : {}),
            ...(hostEnv.PATH ? { searchPath: hostEnv.PATH } : {}),
          },
          upperDir: join(work, "upper"),
          network: parseNetworkMode(opts.network),
          hostEnv,
        });
        const result = await detect({
          order: withSystemBuildpacks(builder.order, builder.system),
          store: builder.store,
          executor: prepared.executor,
          env: prepared.env,
          target: prepared.target,
          platformApi: PLATFORM_API,
          logger,
        }).catch((err: unknown) => {
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
        out.stdout.write(
          `# group.toml\n${encodeGroup(result.group)}\n# plan.toml\n${encodePlan(result.plan)}`,
        );
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
}
