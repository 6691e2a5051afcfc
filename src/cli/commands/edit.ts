import type { Command } from "commander";
import { sourceDateEpochOf } from "../../api/host.ts";
import { BerthError } from "../../errors.ts";
import { appendLayers, exportFilesystem, mutateImage } from "../../image/index.ts";
import type { Compression } from "../../oci/mediatype.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { parseJson } from "../../util/json.ts";
import type { Cli } from "../env.ts";
import { collect, jsonOption, keyValue, keyValues, platformOf, withPlatform } from "../flags.ts";
import { formatBytes, info, outputOf, printJson } from "../output.ts";

/** `["a","b"]` as JSON, or a plain string as docker's shell form `["/bin/sh","-c",STRING]`; `[]` clears. */
export function parseCommand(value: string, flag: string): string[] | null {
  const t = value.trim();
  if (t.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = parseJson(t, flag, "USAGE");
    } catch {
      throw new BerthError("USAGE", `${flag} ${value} is not a valid JSON array`);
    }
    if (!Array.isArray(parsed) || parsed.some((s) => typeof s !== "string")) {
      throw new BerthError("USAGE", `${flag} must be a JSON array of strings or a plain command line`);
    }
    return parsed.length === 0 ? null : (parsed as string[]);
  }
  return t === "" ? null : ["/bin/sh", "-c", value];
}

function owner(v: string): { uid: number; gid: number } {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new BerthError("USAGE", `--owner ${JSON.stringify(v)} must be UID:GID (numbers)`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

export function registerEdit(program: Command, cli: () => Cli): void {
  registerAppend(program, cli);
  registerMutate(program, cli);
  registerExport(program, cli);
}

function registerAppend(program: Command, cli: () => Cli): void {
  program
    .command("append")
    .description("add one reproducible layer per directory on top of an image")
    .argument("<base>", "base image in any transport, or scratch")
    .argument("<dir...>", "DIR[:DEST] — a host directory and where its contents go in the image (default /)")
    .requiredOption("-t, --tag <target>", "the image to write, in any transport")
    .option("--compression <gzip|zstd|none>", "layer compression", "gzip")
    .option("--level <n>", "compression level (gzip 1-9, zstd 1-22)", (v) => Number.parseInt(v, 10))
    .option("--owner <uid:gid>", "owner of every file in the layers", "0:0")
    .option("--exclude <pattern>", "leave out files matching a .dockerignore pattern (repeatable)", collect)
    .option(
      "--platform <os/arch[/variant]>",
      "from an index, the platform to build on; for scratch, the image's platform",
    )
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
File mtimes and the image's created time come from SOURCE_DATE_EPOCH (default 0): the same files give the
same digest on every machine.

Examples:
  berth append scratch ./rootfs -t hello:1
  berth append alpine:3 ./dist:/srv/www -t oci:./out:web --exclude '*.map'
  berth append docker://127.0.0.1:5000/base:1 ./app:/app -t docker://127.0.0.1:5000/app:1`,
    )
    .action(async (base: string, dirs: string[], opts) => {
      const { ctx, out, env } = cli();
      const compression = opts.compression as Compression;
      if (!["gzip", "zstd", "none"].includes(compression)) {
        throw new BerthError("USAGE", `--compression ${compression} must be gzip, zstd or none`);
      }
      const layerDirs = dirs.map((d) => {
        const i = d.indexOf(":");
        return i < 0 ? { source: d, dest: "/" } : { source: d.slice(0, i), dest: d.slice(i + 1) || "/" };
      });
      const epoch = sourceDateEpochOf(env);
      const result = await appendLayers(
        parseImageArgument(base, { allowScratch: true }),
        layerDirs,
        parseImageArgument(opts.tag),
        ctx,
        {
          compression,
          level: opts.level,
          ...owner(opts.owner),
          exclude: opts.exclude,
          sourceDateEpoch: epoch,
          ...withPlatform(opts.platform),
        },
      );
      if (opts.json) printJson(out, result);
      else info(out, `Wrote ${result.root.digest} to ${opts.tag}`);
    });
}

function registerMutate(program: Command, cli: () => Cli): void {
  program
    .command("mutate")
    .description("change an image's config (env, entrypoint, cmd, workdir, user, labels, ports, platform)")
    .argument("<image>", "image in any transport")
    .requiredOption("-t, --tag <target>", "the image to write, in any transport")
    .option("--env <KEY=VALUE>", "set an environment variable (repeatable)", collect)
    .option("--entrypoint <json|string>", "JSON array, or a command line run by /bin/sh -c; [] clears")
    .option("--cmd <json|string>", "JSON array, or a command line run by /bin/sh -c; [] clears")
    .option("--workdir <dir>", "working directory")
    .option("--user <user>", "user name or UID[:GID]")
    .option("--label <KEY=VALUE>", "set a label (repeatable)", collect)
    .option("--expose <port[/proto]>", "expose a port (repeatable)", collect)
    .option("--platform <os/arch[/variant]>", "set the image's platform")
    .addOption(jsonOption())
    .addHelpText(
      "after",
      `
Examples:
  berth mutate app:1 -t app:2 --env PORT=8080 --cmd '["node","server.js"]'
  berth mutate oci:./out:web -t oci:./out:web --label org.opencontainers.image.source=https://example.org/web`,
    )
    .action(async (image: string, opts) => {
      const { ctx, out, env } = cli();
      const epoch = sourceDateEpochOf(env);
      const result = await mutateImage(
        parseImageArgument(image),
        parseImageArgument(opts.tag),
        {
          ...(opts.env ? { env: opts.env.map((e: string) => keyValue(e, "--env").join("=")) } : {}),
          ...(opts.entrypoint === undefined
            ? {}
            : { entrypoint: parseCommand(opts.entrypoint, "--entrypoint") }),
          ...(opts.cmd === undefined ? {} : { cmd: parseCommand(opts.cmd, "--cmd") }),
          workdir: opts.workdir,
          user: opts.user,
          ...(opts.label ? { labels: keyValues(opts.label, "--label") } : {}),
          expose: opts.expose,
          ...withPlatform(opts.platform),
          sourceDateEpoch: epoch,
        },
        ctx,
      );
      if (opts.json) printJson(out, result);
      else info(out, `Wrote ${result.root.digest} to ${opts.tag}`);
    });
}

function registerExport(program: Command, cli: () => Cli): void {
  program
    .command("export")
    .description("write an image's filesystem (all layers applied) as one tar")
    .argument("<image>", "image in any transport")
    .requiredOption("-o, --output <file>", "the tar to write (- for standard output)")
    .option("--platform <os/arch[/variant]>", "from an index, this platform's image")
    .addHelpText("after", "\nExample:\n  berth export app:1 -o rootfs.tar && tar -tf rootfs.tar | head")
    .action(async (image: string, opts) => {
      const { ctx, out } = cli();
      const r = await exportFilesystem(
        parseImageArgument(image),
        outputOf(opts.output, out),
        ctx,
        platformOf(opts.platform),
      );
      info(out, `Exported ${r.entries} entries (${formatBytes(r.size)}) to ${opts.output}`);
    });
}
