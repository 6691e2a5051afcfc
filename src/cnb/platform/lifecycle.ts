/**
 * The CNB lifecycle a builder carries, as pack puts it there (pack pkg/client/create_builder.go fetchLifecycle,
 * internal/builder/{lifecycle,descriptor,builder}.go): builder.toml's `[lifecycle]` `uri` (a `.tgz` in the
 * release layout, `lifecycle.toml` and `lifecycle/{analyzer,…,launcher}`, an `http(s)` URL of one, or a lifecycle
 * image `docker://REF` whose last layer holds `/cnb/lifecycle`) or `version` (the image
 * `buildpacksio/lifecycle:<version>`); with neither, the pinned default lifecycle image. The builder gets one
 * layer, `/cnb/lifecycle/*` plus the `/lifecycle` symlink, and its metadata label copies lifecycle.toml's version
 * and API lists (the deprecated `api` field: the earliest of each list, pack's `CompatDescriptor`).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import { writeEntries } from "../../layer/build.ts";
import { applyLayer, planLayer, writeLayer } from "../../layer/index.ts";
import type { AddedLayer } from "../../oci/mutate.ts";
import type { Platform } from "../../oci/platform.ts";
import { Store } from "../../oci/store.ts";
import { reported, type TransportContext } from "../../transport/context.ts";
import { copyImage } from "../../transport/copy.ts";
import { parseImageArgument, registryArgument } from "../../transport/parse.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { compareApi, parseApi } from "../api.ts";
import { applyImageLayers, openImage } from "../image.ts";
import type { PhaseLogger } from "../log.ts";
import { Fields, type Origin, parseToml } from "../toml.ts";

/** pack's builder.DefaultLifecycleVersion. */
export const DEFAULT_LIFECYCLE_VERSION = "0.21.0";
/**
 * pack's config.DefaultLifecycleImageRepo, without a registry host: the name is normalised like any reference
 * (Docker Hub's, as `buildpacksio/lifecycle` is for docker and pack).
 */
export const LIFECYCLE_IMAGE_REPO = "buildpacksio/lifecycle";

/** The binaries pack requires of a lifecycle (`validateBinaries`). */
const LIFECYCLE_BINARIES = [
  "detector",
  "restorer",
  "analyzer",
  "builder",
  "exporter",
  "launcher",
  "creator",
] as const;

export interface ApiLists {
  deprecated: string[];
  supported: string[];
}

/** lifecycle.toml. */
export interface LifecycleDescriptor {
  version: string;
  apis: { buildpack: ApiLists; platform: ApiLists };
}

/** `io.buildpacks.builder.metadata`'s `lifecycle`, as pack writes it. */
export interface LifecycleLabel {
  version?: string | null;
  api?: { buildpack: string | null; platform: string | null };
  apis?: {
    buildpack: { deprecated: string[] | null; supported: string[] | null };
    platform: { deprecated: string[] | null; supported: string[] | null };
  };
}

/** What a berth-only builder's label says: no lifecycle (pack's shape with every value null). */
export const NO_LIFECYCLE_LABEL: LifecycleLabel = {
  version: null,
  api: { buildpack: null, platform: null },
  apis: {
    buildpack: { deprecated: null, supported: null },
    platform: { deprecated: null, supported: null },
  },
};

function earliest(l: ApiLists): string | null {
  const all = [...l.deprecated, ...l.supported];
  if (!all.length) return null;
  return all.reduce((a, b) => (compareApi(b, a) < 0 ? b : a));
}

export function lifecycleLabel(d: LifecycleDescriptor): LifecycleLabel {
  return {
    version: d.version,
    api: { buildpack: earliest(d.apis.buildpack), platform: earliest(d.apis.platform) },
    apis: {
      buildpack: { deprecated: d.apis.buildpack.deprecated, supported: d.apis.buildpack.supported },
      platform: { deprecated: d.apis.platform.deprecated, supported: d.apis.platform.supported },
    },
  };
}

/** The lifecycle a builder label claims, or undefined when it claims none. */
export function lifecycleOfLabel(l: LifecycleLabel | undefined): LifecycleDescriptor | undefined {
  if (!l?.version) return undefined;
  const list = (
    x: { deprecated: string[] | null; supported: string[] | null } | undefined,
    old: string | null | undefined,
  ) => ({
    deprecated: x?.deprecated ?? [],
    supported: x?.supported?.length ? x.supported : old ? [old] : [],
  });
  return {
    version: l.version,
    apis: {
      buildpack: list(l.apis?.buildpack, l.api?.buildpack),
      platform: list(l.apis?.platform, l.api?.platform),
    },
  };
}

/** Parse lifecycle.toml (`[lifecycle] version`, `[apis.{buildpack,platform}]`, or the older `[api]`). */
export function parseLifecycleToml(text: string, file: string): LifecycleDescriptor {
  const origin: Origin = { file, subject: "lifecycle", code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const version = doc.sub("lifecycle")?.str("version");
  if (!version) throw doc.fail("lifecycle.version", "is required");
  const lists = (k: "buildpack" | "platform"): ApiLists => {
    const f = doc.sub("apis")?.sub(k);
    const checked = (key: string, vs: string[] | undefined) => {
      for (const v of vs ?? []) {
        if (!parseApi(v)) throw f!.fail(key, `holds ${JSON.stringify(v)}, which is not an API version`);
      }
      return vs ?? [];
    };
    const supported = checked("supported", f?.strs("supported"));
    const deprecated = checked("deprecated", f?.strs("deprecated"));
    if (!supported.length) {
      const old = doc.sub("api")?.str(k);
      if (old && parseApi(old)) return { deprecated, supported: [old] };
    }
    return { deprecated, supported };
  };
  const d = { version, apis: { buildpack: lists("buildpack"), platform: lists("platform") } };
  if (!d.apis.platform.supported.length) throw doc.fail("apis.platform.supported", "is empty");
  return d;
}

/** Only the version of a lifecycle.toml (`[lifecycle] version`; undefined without one), nothing checked. */
export function lifecycleVersionOf(text: string, file: string): string | undefined {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  return new Fields(parseToml(text, origin), origin).sub("lifecycle")?.str("version");
}

/** A lifecycle on this machine: a folder holding its binaries and lifecycle.toml. */
export interface FetchedLifecycle {
  dir: string;
  descriptor: LifecycleDescriptor;
  /** Where it came from, for messages. */
  source: string;
}

export interface FetchLifecycleOptions {
  ctx: TransportContext;
  /** Folder relative `uri`s are resolved against (builder.toml's). */
  relativeTo: string;
  /** Scratch space; the caller removes it. */
  tmp: string;
  logger: PhaseLogger;
  /** The builder's platform, for a multi-platform lifecycle image. */
  platform?: Platform | undefined;
}

const IMAGE_PREFIX = /^(docker:\/\/|oci:|oci-archive:|docker-archive:)/;

/** Fetch the lifecycle builder.toml's `[lifecycle]` names (or the default one) and check it. */
export async function fetchLifecycle(
  config: { uri?: string; version?: string } | undefined,
  o: FetchLifecycleOptions,
): Promise<FetchedLifecycle> {
  if (config?.uri && config.version) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      "builder config: lifecycle can only declare version or uri, not both",
    );
  }
  const dest = await ownedTempDir(o.tmp, "lifecycle-");
  const uri = config?.uri;
  if (uri && IMAGE_PREFIX.test(uri)) return fromImage(uri, dest, o, false);
  if (uri && /^https?:\/\//i.test(uri)) {
    const file = join(dest, "lifecycle.tgz");
    await download(uri, file);
    return fromArchive(file, uri, dest);
  }
  if (uri) {
    const path = uri.startsWith("file://")
      ? decodeURIComponent(uri.slice("file://".length))
      : isAbsolute(uri)
        ? uri
        : resolve(o.relativeTo, uri);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `builder config: lifecycle uri ${uri}: ${path} is not a file`,
        {
          hint: "give a lifecycle .tgz (the release layout: lifecycle/{analyzer,…,lifecycle.toml}), an http(s) URL of one, or docker://IMAGE",
        },
      );
    }
    return fromArchive(path, uri, dest);
  }
  const version = config?.version ?? DEFAULT_LIFECYCLE_VERSION;
  if (!/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(version)) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `builder config: lifecycle.version ${JSON.stringify(version)} must be a valid semver`,
    );
  }
  return fromImage(`${LIFECYCLE_IMAGE_REPO}:${version}`, dest, o, config?.version === undefined);
}

async function download(url: string, file: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(600_000) });
  } catch (err) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `lifecycle ${url} cannot be downloaded: ${(err as Error).message}`,
      {
        cause: err,
        hint: "give the path of a downloaded lifecycle .tgz as [lifecycle] uri",
      },
    );
  }
  if (!res.ok || !res.body) {
    throw new BerthError("CNB_CONFIG_INVALID", `lifecycle ${url} cannot be downloaded: HTTP ${res.status}`);
  }
  await pipeline(
    Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
    createWriteStream(file),
  );
}

/**
 * A release .tgz (or .tar), as the lifecycle's packager writes it: `lifecycle.toml` at the top and one folder,
 * `lifecycle/`, holding the binaries. A lifecycle.toml inside the folder wins; else the top one is put there,
 * so that the builder has `/cnb/lifecycle/lifecycle.toml`.
 */
async function fromArchive(path: string, source: string, dest: string): Promise<FetchedLifecycle> {
  const root = join(dest, "tree");
  try {
    await applyLayer(createReadStream(path), root);
  } catch (err) {
    throw wrapError(`lifecycle ${source}: extracting ${path}`, err);
  }
  const tops = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory());
  const top = tops.find((e) => e.name === "lifecycle") ?? (tops.length === 1 ? tops[0] : undefined);
  if (!top) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `lifecycle ${source} is not in the lifecycle's release layout (lifecycle.toml and a folder lifecycle/ holding the binaries)`,
    );
  }
  const tree = new ConfinedTree(root, { owner: `lifecycle ${source}`, name: "the archive", seenAs: "/" });
  if ((await tree.kind(`${top.name}/lifecycle.toml`)) === undefined) {
    const text = await tree.readText("lifecycle.toml");
    if (text !== undefined) await tree.writeFile(`${top.name}/lifecycle.toml`, text);
  }
  return checked(join(root, top.name), source);
}

/** A lifecycle image: its last layer holds /cnb/lifecycle (pack's uriFromLifecycleImage). */
async function fromImage(
  ref: string,
  dest: string,
  o: FetchLifecycleOptions,
  isDefault: boolean,
): Promise<FetchedLifecycle> {
  const docker = /^docker:\/\/(.*)$/.exec(ref);
  const name = docker ? docker[1]! : ref;
  let arg = parseImageArgument(IMAGE_PREFIX.test(ref) && !docker ? ref : name);
  if (arg.transport === "store" || docker) {
    // Pulled like any image into the store (verified blob by blob), and read from there next time.
    const store = await Store.open(o.ctx.home);
    const have = await store.resolve(name).then(
      () => true,
      (err) => {
        if (isBerthError(err, "IMAGE_NOT_FOUND")) return false;
        throw err;
      },
    );
    if (!have) {
      o.logger.info(`Pulling lifecycle image ${name}`);
      try {
        await reported(
          o.ctx.progress,
          () => `Pulled lifecycle image ${name}`,
          (hooks) => copyImage(registryArgument(name), parseImageArgument(name), o.ctx, hooks),
        );
      } catch (err) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `${isDefault ? "the default lifecycle image" : "lifecycle image"} ${name} cannot be pulled: ${(err as Error).message}`,
          {
            cause: err,
            hint: isDefault
              ? "set [lifecycle] uri in builder.toml to a lifecycle .tgz or image you can reach, or pass --no-lifecycle for a builder only berth runs"
              : "check the image name, or set [lifecycle] uri to a lifecycle .tgz",
          },
        );
      }
    }
    arg = parseImageArgument(name);
  }
  const opened = await openImage(arg, o.ctx, o.platform);
  const root = join(dest, "tree");
  try {
    const n = opened.image.layers().length;
    if (n === 0) throw new BerthError("CNB_CONFIG_INVALID", `lifecycle image ${ref} has no layers`);
    await applyImageLayers(opened.image, [n - 1], root);
  } finally {
    await opened.close();
  }
  const tree = new ConfinedTree(root, {
    owner: `lifecycle image ${ref}`,
    name: "its last layer",
    seenAs: "/",
  });
  if ((await tree.kind("cnb/lifecycle")) !== "dir") {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `lifecycle image ${ref}: its last layer holds no /cnb/lifecycle`,
    );
  }
  return checked(join(root, "cnb", "lifecycle"), ref);
}

/** lifecycle.toml parsed and every binary pack requires present (read without following links out). */
async function checked(dir: string, source: string): Promise<FetchedLifecycle> {
  const tree = new ConfinedTree(dir, {
    owner: `lifecycle ${source}`,
    name: "the lifecycle",
    seenAs: "lifecycle",
  });
  const text = await tree.readText("lifecycle.toml");
  if (text === undefined) {
    throw new BerthError("CNB_CONFIG_INVALID", `lifecycle ${source} has no lifecycle.toml`);
  }
  const descriptor = parseLifecycleToml(text, `${source}: lifecycle.toml`);
  const names = new Set((await readdir(dir)).map((n) => n.replace(/\.exe$/, "")));
  for (const b of LIFECYCLE_BINARIES) {
    if (!names.has(b))
      throw new BerthError("CNB_CONFIG_INVALID", `lifecycle ${source}: did not find '${b}' in it`);
  }
  return { dir, descriptor, source };
}

/** pack's lifecycle layer: `/cnb/lifecycle` (0755), the lifecycle's files, `/lifecycle` → `/cnb/lifecycle`. */
export async function lifecycleLayer(
  l: FetchedLifecycle,
  dest: string,
  mtime: number,
): Promise<Omit<AddedLayer, "history">> {
  const planned = await planLayer([{ source: l.dir, dest: "/cnb/lifecycle" }], { mtime, uid: 0, gid: 0 });
  const entries = planned
    .filter((e) => e.header.path === "cnb/lifecycle" || e.header.path.startsWith("cnb/lifecycle/"))
    .map((e) => ({
      ...e,
      header: { ...e.header, mode: e.header.type === "dir" ? 0o755 : e.header.mode, uid: 0, gid: 0, mtime },
    }));
  const d = await writeLayer(dest, { compression: "gzip" }, async (w) => {
    await writeEntries(w, entries);
    await w.add({
      path: "lifecycle",
      type: "symlink",
      linkname: "/cnb/lifecycle",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime,
    });
  });
  return { path: dest, mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: d.diffId };
}
