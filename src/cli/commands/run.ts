import { userInfo } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { type Image, loadRoot, selectImage } from "../../oci/image.ts";
import { parsePlatform } from "../../oci/platform.ts";
import type { NetworkMode, RootlessIds, Volume } from "../../runtime/index.ts";
import { runContainer, subordinateIds } from "../../runtime/index.ts";
import { openSource } from "../../transport/open.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";

const collect = (v: string, prev: string[]) => [...prev, v];

/** Open an image argument (any transport) and select this platform's image. */
export async function openImage(
  cli: Cli,
  text: string,
  platform: string | undefined,
): Promise<{ image: Image; name: string; close: () => Promise<void> }> {
  const arg = parseImageArgument(text);
  if (arg.transport === "docker") {
    throw new BerthError(
      "TRANSPORT_UNSUPPORTED",
      `running ${text} straight from a registry is not wired yet`,
      {
        hint: `copy it into the local store first: berth copy ${text} ${arg.ref}`,
      },
    );
  }
  let opened: Awaited<ReturnType<typeof openSource>>;
  try {
    opened = await openSource(arg, cli.ctx);
  } catch (err) {
    if (err instanceof BerthError && err.code === "IMAGE_NOT_FOUND" && arg.transport === "store") {
      throw new BerthError(
        "IMAGE_NOT_FOUND",
        `no image ${text} in the local store (pulling is not wired yet)`,
        {
          cause: err,
          hint: `copy it into the store first: berth copy docker://${text} ${text}, or name a layout: oci:DIR:TAG`,
        },
      );
    }
    throw err;
  }
  try {
    const root = await loadRoot(opened.source, opened.root);
    const image = await selectImage(root, platform ? parsePlatform(platform) : undefined);
    return { image, name: text, close: opened.close };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/** The caller's ids when not root (rootless mode), from the process. */
export function rootlessIds(): RootlessIds | undefined {
  const uid = process.geteuid?.() ?? 0;
  return uid === 0 ? undefined : { uid, gid: process.getegid?.() ?? uid };
}

/**
 * `rootlessIds` plus the caller's subordinate ranges (/etc/subuid, /etc/subgid) when newuidmap/newgidmap are
 * installed: the container can then run as the image's non-root user.
 */
export async function rootlessIdsWithSubordinates(
  searchPath: string | undefined,
): Promise<RootlessIds | undefined> {
  const ids = rootlessIds();
  if (!ids) return undefined;
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = undefined; // no passwd entry for this uid: /etc/subuid may still name it by number
  }
  const sub = await subordinateIds(name, ids.uid, ids.gid, searchPath || "/usr/sbin:/usr/bin:/sbin:/bin");
  return sub ? { ...ids, subUids: sub.uids, subGids: sub.gids } : ids;
}

function parseVolume(text: string, cwd: string): Volume {
  const parts = text.split(":");
  let ro = false;
  if (parts.length === 3) {
    if (parts[2] !== "ro" && parts[2] !== "rw")
      throw new BerthError("USAGE", `volume ${JSON.stringify(text)}: the mode must be ro or rw`);
    ro = parts[2] === "ro";
  } else if (parts.length !== 2) {
    throw new BerthError("USAGE", `volume ${JSON.stringify(text)} is not HOST:CONTAINER[:ro]`);
  }
  const [host, ctr] = parts as [string, string];
  if (!host || !ctr.startsWith("/")) {
    throw new BerthError("USAGE", `volume ${JSON.stringify(text)}: the container path must be absolute`);
  }
  return { source: resolve(cwd, host), destination: ctr, readonly: ro };
}

function parseEnv(items: string[], env: Record<string, string | undefined>): string[] {
  return items.map((e) => {
    if (e.includes("=")) return e;
    const v = env[e];
    return v === undefined ? e : `${e}=${v}`;
  });
}

export function registerRun(program: Command, cli: () => Cli): void {
  // Options after the image belong to the container's command (`berth run img ls -l`).
  program.enablePositionalOptions();
  program
    .command("run")
    .description("run a command in a new container from an image (runc or crun, no daemon)")
    .argument("<image>", "image in any transport (a bare name is the local store)")
    .argument("[args...]", "command and arguments, replacing the image's Cmd")
    .option("-e, --env <K=V>", "set an environment variable (K alone: take it from here)", collect, [])
    .option("-v, --volume <HOST:CTR[:ro]>", "bind-mount a host path", collect, [])
    .option("-w, --workdir <dir>", "working directory in the container")
    .option("-u, --user <name|uid[:gid]>", "user to run as")
    .option("--entrypoint <cmd>", "replace the image's Entrypoint (and its Cmd, unless ARGs are given)")
    .option("--network <host|none>", "host (default: share the host's network) or none", "host")
    .option("--hostname <name>", "the container's hostname")
    .option("--runtime <runc|crun|path>", "OCI runtime (default: $BERTH_RUNTIME, else runc, else crun)")
    .option("--platform <os/arch[/variant]>", "from a multi-platform image, run this platform's")
    .option("--keep", "keep the container's folder (its writable layer) afterwards")
    .option("--rm", "remove the container afterwards (the default)")
    .passThroughOptions()
    .addHelpText(
      "after",
      `
The container shares the host's network by default, so a server it starts on 127.0.0.1 is reachable from
here. stdin is passed, SIGINT and SIGTERM are forwarded, and berth exits with the container's exit code.

Examples:
  berth run oci:./layout:app
  berth run -e GREETING=hi -v ./data:/data:ro app:1 sh -c 'cat /data/x'
  berth run --user nobody --network none app:1 id`,
    )
    .action(async (image: string, args: string[], opts) => {
      const c = cli();
      const { out, env } = c;
      if (opts.network !== "host" && opts.network !== "none") {
        throw new BerthError("USAGE", `--network must be host or none, not ${JSON.stringify(opts.network)}`);
      }
      const volumes = (opts.volume as string[]).map((v) => parseVolume(v, c.cwd));
      const opened = await openImage(c, image, opts.platform);
      // Signals are caught for the whole command: forwarded while the container runs, then ignored until its
      // mounts and state are cleaned up, so that a late SIGTERM cannot leave a mounted root behind.
      const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
      let forward: ((s: NodeJS.Signals) => void) | undefined;
      const onSignal = (s: NodeJS.Signals) => forward?.(s);
      for (const s of signals) process.on(s, onSignal);
      let result: Awaited<ReturnType<typeof runContainer>>;
      try {
        const rootless = await rootlessIdsWithSubordinates(env.PATH);
        result = await runContainer({
          home: c.ctx.home,
          image: opened.image,
          imageName: opened.name,
          args,
          ...(opts.entrypoint !== undefined ? { entrypoint: [opts.entrypoint as string] } : {}),
          env: parseEnv(opts.env as string[], env),
          ...(opts.workdir ? { cwd: opts.workdir as string } : {}),
          ...(opts.user !== undefined ? { user: opts.user as string } : {}),
          volumes,
          network: opts.network as NetworkMode,
          ...(opts.hostname ? { hostname: opts.hostname as string } : {}),
          ...((opts.runtime ?? env.BERTH_RUNTIME)
            ? { runtime: (opts.runtime ?? env.BERTH_RUNTIME) as string }
            : {}),
          ...(env.PATH ? { searchPath: env.PATH } : {}),
          ...(rootless ? { rootless } : {}),
          keep: Boolean(opts.keep),
          stdin: 0,
          onStdout: (chunk) => out.stdout.write(chunk),
          onStderr: (chunk) => out.stderr.write(chunk),
          forwardSignals: (send) => {
            forward = send;
            return () => {
              forward = undefined;
            };
          },
          onApply: (i, n) => {
            if (env.BERTH_DEBUG) out.stderr.write(`berth: applying layer ${i + 1}/${n}\n`);
          },
        });
      } finally {
        for (const s of signals) process.off(s, onSignal);
        await opened.close();
      }
      if (env.BERTH_DEBUG) {
        out.stderr.write(
          `berth: ${result.id} exited ${result.exitCode} (${result.runtime.name}, ${result.snapshots.mode} snapshots, ${result.snapshots.applied} layers applied, ${result.snapshots.reused} cached)\n`,
        );
      }
      for (const w of result.warnings) out.stderr.write(`berth: warning: ${w}\n`);
      if (result.kept) out.stderr.write(`berth: kept the container's folder ${result.kept}\n`);
      cli().setExitCode(result.exitCode);
    });
}
