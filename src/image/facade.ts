/**
 * Everyday calls in the style of crane, taking plain strings: image arguments as the CLI takes them (a bare
 * reference is the local store; `oci:`, `oci-archive:`, `docker-archive:`, `docker://`), and one options object
 * naming BERTH_HOME. Each returns plain data (digests, JSON text, tag lists). `import { images } from "berth"`.
 */
import { loadRoot, selectImage } from "../oci/image.ts";
import { parsePlatform } from "../oci/platform.ts";
import { parseReference } from "../oci/reference.ts";
import { closeContext, type TransportContext } from "../transport/context.ts";
import { copyImage } from "../transport/copy.ts";
import { openSource } from "../transport/open.ts";
import { parseImageArgument, registryArgument } from "../transport/parse.ts";
import { sharedClient } from "../transport/registry.ts";
import { appendLayers } from "./append.ts";
import { type ConfigChanges, mutateImage } from "./mutate.ts";

export interface Options {
  /** BERTH_HOME: the local store and caches (the CLI's default is ~/.local/share/berth). */
  home: string;
  /** For credential lookup (DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME); default none. */
  env?: Record<string, string | undefined>;
  /** The same as `env`, under the name `build`, `run` and `fromEnvironment` use (so their options fit here). */
  hostEnv?: Record<string, string | undefined>;
  /** Registries reached over plain HTTP besides localhost and 127.0.0.1. */
  insecureRegistries?: string[];
  /** A PEM CA file registries' certificates are checked against besides the system's. */
  caCert?: string;
  /** From an index, this platform's image (`linux/arm64`); default this machine's (copies keep every platform). */
  platform?: string;
}

/** Run `fn` with a context of its own, whose registry client (if `fn` made one) is closed when `fn` is done. */
async function withContext<T>(o: Options, fn: (ctx: TransportContext) => Promise<T>): Promise<T> {
  const ctx: TransportContext = {
    home: o.home,
    env: o.env ?? o.hostEnv ?? {},
    insecureRegistries: o.insecureRegistries,
    caCert: o.caCert || undefined,
  };
  try {
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

/** Copy between any two image arguments; returns the root digest written. */
export async function copy(src: string, dst: string, o: Options): Promise<string> {
  const r = await withContext(o, (ctx) =>
    copyImage(parseImageArgument(src), parseImageArgument(dst), ctx, {
      ...(o.platform ? { platform: parsePlatform(o.platform) } : { all: true }),
    }),
  );
  return r.root.digest;
}

/** A registry image into the local store under its reference; returns its digest. */
export async function pull(ref: string, o: Options): Promise<string> {
  const src = registryArgument(ref);
  const r = await withContext(o, (ctx) =>
    copyImage(src, parseImageArgument(src.ref), ctx, {
      ...(o.platform ? { platform: parsePlatform(o.platform) } : {}),
    }),
  );
  return r.root.digest;
}

/** An image (the store, or any transport) to a registry reference; returns the digest pushed. */
export async function push(image: string, ref: string, o: Options): Promise<string> {
  const r = await withContext(o, (ctx) =>
    copyImage(parseImageArgument(image), registryArgument(ref), ctx, { all: true }),
  );
  return r.root.digest;
}

async function opened<T>(
  image: string,
  o: Options,
  fn: (r: Awaited<ReturnType<typeof loadRoot>>) => Promise<T>,
) {
  return withContext(o, async (ctx) => {
    const src = await openSource(parseImageArgument(image), ctx);
    try {
      return await fn(await loadRoot(src.source, src.root));
    } finally {
      await src.close();
    }
  });
}

/** The manifest digest (an index's, unless `platform` picks one of its images). */
export function digest(image: string, o: Options): Promise<string> {
  return opened(image, o, async (root) =>
    o.platform ? (await selectImage(root, parsePlatform(o.platform))).digest : root.digest,
  );
}

/** The manifest (or index) exactly as stored, as text. */
export function manifest(image: string, o: Options): Promise<string> {
  return opened(image, o, async (root) =>
    (o.platform
      ? (await selectImage(root, parsePlatform(o.platform))).rawManifest
      : root.rawManifest
    ).toString("utf8"),
  );
}

/** The image config exactly as stored, as text (this machine's image, or `platform`'s, from an index). */
export function config(image: string, o: Options): Promise<string> {
  return opened(image, o, async (root) => {
    const img = await selectImage(root, o.platform ? parsePlatform(o.platform) : undefined);
    return img.rawConfig?.toString("utf8") ?? "";
  });
}

/** A registry repository's tags. */
export async function tags(repository: string, o: Options): Promise<string[]> {
  return withContext(o, async (ctx) =>
    (await sharedClient(ctx)).repositoryOf(parseReference(repository.replace(/^docker:\/\//, ""))).tags(),
  );
}

/** One reproducible layer per folder (`DIR` or `DIR:DEST`) on top of `base` (or `scratch`), written to `target`. */
export async function append(base: string, dirs: string[], target: string, o: Options): Promise<string> {
  const layers = dirs.map((d) => {
    const i = d.indexOf(":");
    return i < 0 ? { source: d, dest: "/" } : { source: d.slice(0, i), dest: d.slice(i + 1) };
  });
  const r = await withContext(o, (ctx) =>
    appendLayers(parseImageArgument(base), layers, parseImageArgument(target), ctx),
  );
  return r.root.digest;
}

/** `image` with its config changed (env, entrypoint, cmd, workdir, user, labels, ports), written to `target`. */
export async function mutate(
  image: string,
  target: string,
  changes: ConfigChanges,
  o: Options,
): Promise<string> {
  const r = await withContext(o, (ctx) =>
    mutateImage(parseImageArgument(image), parseImageArgument(target), changes, ctx),
  );
  return r.root.digest;
}
