import { rm } from "node:fs/promises";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import type { Command } from "commander";
import { BerthError, wrapError } from "../../errors.ts";
import { compressLayers } from "../../image/compress.ts";
import { type BlobSource, hasBlobRange } from "../../oci/blob.ts";
import type { CopyResult } from "../../oci/copy.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { loadRoot } from "../../oci/image.ts";
import { formatReference, parseReference, type Reference, repositoryName } from "../../oci/reference.ts";
import { Store } from "../../oci/store.ts";
import { login, logout } from "../../registry/index.ts";
import { copyImage, writeImage } from "../../transport/copy.ts";
import { openSource } from "../../transport/open.ts";
import { type ImageArgument, parseImageArgument, registryArgument } from "../../transport/parse.ts";
import { referenceTarget, registryOptions, sharedClient } from "../../transport/registry.ts";
import { ownedTempDir } from "../../util/fs.ts";
import type { Cli } from "../env.ts";
import { jsonOption, withPlatform } from "../flags.ts";
import { info, printJson } from "../output.ts";
import { TransferProgress } from "../progress.ts";

/** `docker://REF` or a bare reference, as a registry reference. */
function registryRef(value: string): string {
  return value.startsWith("docker://") ? value.slice("docker://".length) : value;
}

/**
 * The local store as a push source that knows where the registry already holds its blobs: a blob of another
 * image in the store named on the destination's registry (pulled from, or pushed to, another repository there)
 * is mounted from that repository, as docker does from its distribution metadata; the rest is uploaded.
 */
async function storeWithMounts(
  c: Cli,
  source: BlobSource,
  target: Reference,
): Promise<{ source: BlobSource; close: () => Promise<void> }> {
  const store = await Store.open(c.ctx.home);
  const where = new Map<string, Reference>();
  for (const entry of await store.list()) {
    if (!entry.name) continue;
    const ref = parseReference(entry.name);
    if (ref.registry !== target.registry || ref.repository === target.repository) continue;
    const root = await loadRoot(store.layout, entry.descriptor).catch(() => undefined);
    if (root?.kind !== "image") continue;
    for (const d of [root.manifest.config, ...root.manifest.layers])
      if (!where.has(d.digest)) where.set(d.digest, ref);
  }
  if (!where.size) return { source, close: async () => {} };
  const client = await sharedClient(c.ctx);
  const repos = new Map<string, BlobSource>();
  return {
    source: {
      openBlob: (d) => source.openBlob(d),
      ...(source.readBlob ? { readBlob: (d: Descriptor) => source.readBlob!(d) } : {}),
      ...(hasBlobRange(source) ? { blobRange: (d: Descriptor) => source.blobRange(d) } : {}),
      originOf: (d) => {
        const ref = where.get(d.digest);
        if (!ref) return source.originOf?.(d) ?? source;
        const key = repositoryName(ref);
        if (!repos.has(key)) repos.set(key, client.repositoryOf(ref));
        return repos.get(key);
      },
    } as BlobSource,
    close: async () => {},
  };
}

/**
 * Push `src` to `dst`: from the store, blobs the registry holds in another repository are mounted; an image
 * whose layers are uncompressed tars (a loaded `docker save` archive) goes with them gzipped, as docker and
 * skopeo push it, the same bytes every time, so one manifest digest (an index is pushed as it is).
 */
async function push(
  c: Cli,
  src: ImageArgument,
  dst: ImageArgument,
  progress: TransferProgress,
): Promise<CopyResult> {
  const opened = await openSource(src, c.ctx).catch((err) => {
    throw wrapError(`reading ${src.text}`, err);
  });
  const dir = await ownedTempDir(join(c.ctx.home, "tmp"), "push-");
  const mounts =
    src.transport === "store" && dst.transport === "docker"
      ? await storeWithMounts(c, opened.source, parseReference(dst.ref))
      : { source: opened.source, close: async () => {} };
  try {
    const root = await loadRoot(mounts.source, opened.root);
    const compressed = root.kind === "image" ? await compressLayers(root, dir) : undefined;
    if (compressed)
      info(c.out, `Compressing ${compressed.compressed} uncompressed layers with gzip for the registry`);
    const source = compressed?.source ?? mounts.source;
    const rootDesc = compressed?.descriptor ?? opened.root;
    return await writeImage(source, rootDesc, opened.tag, dst, c.ctx, {
      all: true,
      ...progress.hooks,
    }).catch((err) => {
      throw wrapError(`copying ${src.text} to ${dst.text}`, err);
    });
  } finally {
    progress.close();
    await mounts.close();
    await rm(dir, { recursive: true, force: true });
    await opened.close();
  }
}

export function registerRegistry(program: Command, cli: () => Cli): void {
  registerPull(program, cli);
  registerPush(program, cli);
  registerTags(program, cli);
  registerDelete(program, cli);
  registerLogin(program, cli);
  registerLogout(program, cli);
}

function registerPull(program: Command, cli: () => Cli): void {
  program
    .command("pull")
    .description("copy an image from a registry into the local store, under its reference")
    .argument("<ref>", "image reference (docker://REF or REF)")
    .option("-a, --all", "keep every platform of a multi-platform index")
    .option("--platform <os/arch[/variant]>", "the platform to pull from an index (default: this machine's)")
    .option("-q, --quiet", "print nothing but the digest")
    .addHelpText(
      "after",
      "\nExamples:\n  berth pull 127.0.0.1:5000/team/app:1\n  berth pull --platform linux/arm64 docker://127.0.0.1:5000/base:2",
    )
    .action(async (value: string, opts) => {
      const { ctx, out } = cli();
      if (opts.quiet) out.quiet = true;
      const ref = formatReference(parseReference(registryRef(value)));
      const progress = new TransferProgress(out);
      const r = await copyImage(registryArgument(ref), parseImageArgument(ref), ctx, {
        all: Boolean(opts.all),
        ...withPlatform(opts.platform),
        ...progress.hooks,
      }).finally(() => progress.close());
      progress.finish(`Pulled ${ref}`);
      out.stdout.write(`${r.root.digest}\n`);
    });
}

function registerPush(program: Command, cli: () => Cli): void {
  program
    .command("push")
    .description("copy an image from the local store to a registry")
    .argument("<image>", "image in the local store (or any transport)")
    .argument("[dest]", "registry reference (default: the image's own name)")
    .option("-a, --all", "push every platform of a multi-platform index (default)", true)
    .option("-q, --quiet", "print nothing but the digest")
    .addHelpText(
      "after",
      "\nExamples:\n  berth push 127.0.0.1:5000/team/app:1\n  berth push app:1 docker://127.0.0.1:5000/team/app:1",
    )
    .action(async (image: string, dest: string | undefined, opts) => {
      const c = cli();
      const { out } = c;
      if (opts.quiet) out.quiet = true;
      const src = parseImageArgument(image);
      const target = dest ? registryRef(dest) : src.transport === "store" ? src.ref : undefined;
      if (!target) throw new BerthError("USAGE", `push ${image} needs a destination reference`);
      const progress = new TransferProgress(out);
      const dst = registryArgument(target);
      const r = await push(c, src, dst, progress);
      progress.finish(`Pushed ${formatReference(parseReference(target))}`);
      out.stdout.write(`${r.root.digest}\n`);
    });
}

function registerTags(program: Command, cli: () => Cli): void {
  program
    .command("tags")
    .description("list a repository's tags")
    .argument("<repository>", "registry repository (docker://REPO or REPO)")
    .addOption(jsonOption("the tags"))
    .addHelpText("after", "\nExample:\n  berth tags 127.0.0.1:5000/team/app")
    .action(async (value: string, opts) => {
      const { ctx, out } = cli();
      const ref = parseReference(registryRef(value));
      const tags = await (await sharedClient(ctx)).repositoryOf(ref).tags();
      if (opts.json) printJson(out, { repository: `${ref.registry}/${ref.repository}`, tags });
      else out.stdout.write(tags.map((t) => `${t}\n`).join(""));
    });
}

function registerDelete(program: Command, cli: () => Cli): void {
  program
    .command("delete")
    .description("delete a manifest from a registry")
    .argument("<ref>", "docker://REF (by tag or digest)")
    .addHelpText("after", "\nExample:\n  berth delete docker://127.0.0.1:5000/team/app:old")
    .action(async (value: string) => {
      const { ctx, out } = cli();
      if (!value.startsWith("docker://"))
        throw new BerthError("USAGE", `delete takes docker://REF, not ${value}`);
      const ref = parseReference(registryRef(value));
      const client = await sharedClient(ctx);
      await client.repositoryOf(ref, { push: true }).deleteManifest(referenceTarget(ref));
      info(out, `Deleted ${formatReference(ref)}`);
    });
}

function registerLogin(program: Command, cli: () => Cli): void {
  program
    .command("login")
    .description("check credentials against a registry and store them (docker's config.json or its helper)")
    .argument("<registry>", "registry host[:port]")
    .option("-u, --username <user>", "user name")
    .option(
      "-p, --password <password>",
      "password (prefer --password-stdin: arguments are visible to other users)",
    )
    .option("--password-stdin", "read the password from standard input")
    .addHelpText(
      "after",
      '\nExample:\n  echo "$TOKEN" | berth login registry.example:5000 -u ci --password-stdin',
    )
    .action(async (registry: string, opts) => {
      const { ctx, out } = cli();
      if (!opts.username) throw new BerthError("USAGE", "login needs --username");
      let password: string | undefined = opts.password;
      if (opts.passwordStdin) password = (await text(cli().stdin())).replace(/\r?\n$/, "");
      if (!password) {
        // --password-stdin given: the input was empty (a variable that was not set, piped in)
        throw new BerthError(
          "USAGE",
          opts.passwordStdin
            ? "login --password-stdin read no password: standard input was empty"
            : "login needs --password-stdin (or --password)",
          opts.passwordStdin ? { hint: 'check what is piped in: echo "$TOKEN" | berth login …' } : {},
        );
      }
      const where = await login(registry, opts.username, password, { ...registryOptions(ctx), env: ctx.env });
      info(out, `Login Succeeded (credentials stored in ${where})`);
    });
}

function registerLogout(program: Command, cli: () => Cli): void {
  program
    .command("logout")
    .description("remove a registry's stored credentials")
    .argument("<registry>", "registry host[:port]")
    .addHelpText("after", "\nExample:\n  berth logout registry.example:5000")
    .action(async (registry: string) => {
      const { ctx, out } = cli();
      const removed = await logout(registry, { env: ctx.env });
      info(out, removed ? `Removed login credentials for ${registry}` : `Not logged in to ${registry}`);
    });
}
