import { resolve } from "node:path";
import type { Command } from "commander";
import { hostOf } from "../../api/host.ts";
import { openRunImage, parsePullPolicy, rootlessIds, seccompOff } from "../../api/run.ts";
import { BerthError } from "../../errors.ts";
import { type NetworkMode, writeBundle } from "../../runtime/index.ts";
import { type Cli, hostOptions } from "../env.ts";
import { collect } from "../flags.ts";
import { info } from "../output.ts";

export function registerBundle(program: Command, cli: () => Cli): void {
  program.enablePositionalOptions();
  program
    .command("bundle")
    .description("write an OCI runtime bundle (rootfs/ and config.json) that runc or crun can start")
    .argument("<image>", "image in any transport (a bare name is the local store)")
    .argument("<dir>", "bundle directory (missing or empty)")
    .argument("[args...]", "command and arguments, replacing the image's Cmd")
    .option("-e, --env <K=V>", "set an environment variable", collect, [])
    .option("-w, --workdir <dir>", "working directory in the container")
    .option("-u, --user <name|uid[:gid]>", "user to run as")
    .option("--entrypoint <cmd>", "replace the image's Entrypoint")
    .option("--network <host|none>", "host (default) or none", "host")
    .option("--hostname <name>", "the container's hostname")
    .option(
      "--security-opt <seccomp=unconfined>",
      "seccomp=unconfined: no seccomp filter (default: Docker's refusals)",
      collect,
      [],
    )
    .option("--platform <os/arch[/variant]>", "from a multi-platform image, this platform's")
    .option(
      "--pull <missing|always|never>",
      "pull a registry image into the store: when missing (default), always or never",
      "missing",
    )
    .passThroughOptions()
    .addHelpText(
      "after",
      `
Examples:
  berth bundle oci:./layout:app ./app-bundle && runc run -b ./app-bundle app1`,
    )
    .action(async (image: string, dir: string, args: string[], opts) => {
      const c = cli();
      if (opts.network !== "host" && opts.network !== "none") {
        throw new BerthError("USAGE", `--network must be host or none, not ${JSON.stringify(opts.network)}`);
      }
      const unconfined = seccompOff(opts.securityOpt as string[]);
      const host = hostOf({
        ...hostOptions(c),
        logger: { info: (l) => info(c.out, l) },
      });
      const opened = await openRunImage(host, image, opts.platform, parsePullPolicy(opts.pull as string));
      try {
        const rootless = rootlessIds(host);
        const target = resolve(c.cwd, dir);
        const r = await writeBundle(opened.image, target, {
          ...(unconfined ? { seccomp: false } : {}),
          imageName: opened.name,
          args,
          ...(opts.entrypoint !== undefined ? { entrypoint: [opts.entrypoint as string] } : {}),
          env: opts.env as string[],
          cwd: opts.workdir as string | undefined,
          user: opts.user as string | undefined,
          network: opts.network as NetworkMode,
          hostname: opts.hostname as string | undefined,
          rootless,
        });
        info(c.out, `Wrote bundle ${r.dir} (${r.layers} layers): runc run -b ${dir} NAME`);
      } finally {
        await opened.close();
      }
    });
}
