import { userInfo } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../../errors.ts";
import { type Image, loadRoot, selectImage } from "../../oci/image.ts";
import { type Platform, parsePlatform } from "../../oci/platform.ts";
import { Store } from "../../oci/store.ts";
// The modules themselves, not runtime/index.ts: `berth run` then loads neither the sandbox nor the layer engine.
import { runContainer } from "../../runtime/container.ts";
import { parseNetworkMode, parsePublish } from "../../runtime/network.ts";
import { capabilityName, type RootlessIds, type Volume } from "../../runtime/spec.ts";
import { subordinateIds } from "../../runtime/userns.ts";
import { openSource } from "../../transport/open.ts";
import { type ImageArgument, parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { info } from "../output.ts";
import { BlobProgress } from "../progress.ts";

const collect = (v: string, prev: string[]) => [...prev, v];

/** Whether docker's `--security-opt` values turn seccomp off; the only one berth takes is seccomp=unconfined. */
export function seccompOff(values: readonly string[]): boolean {
  for (const v of values) {
    if (v !== "seccomp=unconfined" && v !== "seccomp:unconfined") {
      throw new BerthError(
        "USAGE",
        `--security-opt ${JSON.stringify(v)} is not supported (only seccomp=unconfined)`,
      );
    }
  }
  return values.length > 0;
}

/** When `run` and `bundle` pull from a registry (docker's `--pull`). */
export type PullPolicy = "missing" | "always" | "never";

export function parsePullPolicy(value: string): PullPolicy {
  if (value === "missing" || value === "always" || value === "never") return value;
  throw new BerthError("USAGE", `--pull must be missing, always or never, not ${JSON.stringify(value)}`);
}

/**
 * Open an image argument and select this platform's image. As `docker run` does, a bare reference or
 * `docker://REF` runs from the local store, pulled into it first when it is not there (`pull` "missing"),
 * every time ("always") or never; other transports are read in place.
 */
export async function openImage(
  cli: Cli,
  text: string,
  platform: string | undefined,
  pull: PullPolicy = "missing",
): Promise<{ image: Image; name: string; close: () => Promise<void> }> {
  const given = parseImageArgument(text);
  const arg: ImageArgument =
    given.transport === "docker" ? { transport: "store", ref: given.ref, text: given.ref } : given;
  const wanted = platform ? parsePlatform(platform) : undefined;
  if (arg.transport === "store" && pull === "always") await pullIntoStore(cli, arg.ref, wanted);
  let opened: Awaited<ReturnType<typeof openSource>>;
  try {
    opened = await openSource(arg, cli.ctx);
  } catch (err) {
    if (!(err instanceof BerthError && err.code === "IMAGE_NOT_FOUND" && arg.transport === "store"))
      throw err;
    if (pull !== "missing") {
      throw new BerthError("IMAGE_NOT_FOUND", `no image ${arg.ref} in the local store (--pull ${pull})`, {
        cause: err,
        hint: `pull it first: berth pull ${arg.ref}`,
      });
    }
    info(cli.out, `berth: no image ${Store.normalize(arg.ref)} in the local store, pulling it`);
    await pullIntoStore(cli, arg.ref, wanted);
    opened = await openSource(arg, cli.ctx);
  }
  try {
    const root = await loadRoot(opened.source, opened.root);
    const image = await selectImage(root, wanted);
    return { image, name: text, close: opened.close };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/** `berth pull REF`: the registry's image (this platform's, or `platform`'s) into the store under REF. */
async function pullIntoStore(cli: Cli, ref: string, platform: Platform | undefined): Promise<void> {
  const progress = new BlobProgress(cli.out);
  const { copyImage } = await import("../../transport/copy.ts");
  await copyImage(parseImageArgument(`docker://${ref}`), { transport: "store", ref, text: ref }, cli.ctx, {
    ...(platform ? { platform } : {}),
    onBlob: progress.onBlob,
  });
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
    .option(
      "--network <default|host|none>",
      "default: a private network with outbound access; host: the host's (loopback included); none",
      "default",
    )
    .option("-p, --publish <[IP:]HOST:CTR[/udp]>", "publish a container port on the host", collect, [])
    .option("--cap-add <cap>", "add a Linux capability (NET_RAW, …, ALL)", collect, [])
    .option("--cap-drop <cap>", "drop a Linux capability (…, ALL)", collect, [])
    .option("--hostname <name>", "the container's hostname")
    .option("--runtime <runc|crun|path>", "OCI runtime (default: $BERTH_RUNTIME, else runc, else crun)")
    .option(
      "--security-opt <seccomp=unconfined>",
      "seccomp=unconfined: no seccomp filter (default: Docker's refusals)",
      collect,
      [],
    )
    .option("--platform <os/arch[/variant]>", "from a multi-platform image, run this platform's")
    .option(
      "--pull <missing|always|never>",
      "pull a registry image into the store: when missing (default), always or never",
      "missing",
    )
    .option("--keep", "keep the container's folder (its writable layer) afterwards")
    .option("--rm", "remove the container afterwards (the default)")
    .passThroughOptions()
    .addHelpText(
      "after",
      `
The container has a private network by default (a namespace connected by pasta): it reaches the internet
and the host's own addresses, but not the host's loopback (127.0.0.1, ::1) or abstract unix sockets; publish
its ports with -p (docker's syntax; the host address defaults to every address). --network host shares the
host's network, loopback included. Raw sockets need --cap-add NET_RAW. stdin is passed, SIGINT and SIGTERM are forwarded, and berth exits with the container's exit code.

A bare reference or docker://REF runs from the local store and is pulled into it first when missing.

Examples:
  berth run oci:./layout:app
  berth run 127.0.0.1:5000/team/app:1
  berth run -e GREETING=hi -v ./data:/data:ro app:1 sh -c 'cat /data/x'
  berth run -p 127.0.0.1:8080:80 app:1
  berth run --user nobody --network none app:1 id`,
    )
    .action(async (image: string, args: string[], opts) => {
      const c = cli();
      const { out, env } = c;
      const network = parseNetworkMode(opts.network as string);
      const ports = (opts.publish as string[]).map(parsePublish);
      const capAdd = (opts.capAdd as string[]).map((c) => capabilityName(c, "--cap-add"));
      const capDrop = (opts.capDrop as string[]).map((c) => capabilityName(c, "--cap-drop"));
      if (ports.length > 0 && network !== "default") {
        throw new BerthError(
          "USAGE",
          `-p publishes ports of the default network, not of --network ${network}`,
        );
      }
      const volumes = (opts.volume as string[]).map((v) => parseVolume(v, c.cwd));
      const unconfined = seccompOff(opts.securityOpt as string[]);
      const opened = await openImage(c, image, opts.platform, parsePullPolicy(opts.pull as string));
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
          ...(unconfined ? { seccomp: false } : {}),
          home: c.ctx.home,
          image: opened.image,
          imageName: opened.name,
          args,
          ...(opts.entrypoint !== undefined ? { entrypoint: [opts.entrypoint as string] } : {}),
          env: parseEnv(opts.env as string[], env),
          ...(opts.workdir ? { cwd: opts.workdir as string } : {}),
          ...(opts.user !== undefined ? { user: opts.user as string } : {}),
          volumes,
          network,
          ports,
          capAdd,
          capDrop,
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
