/**
 * Buildpacks from where they live: a directory, a `.tgz`/`.tar` archive, a buildpackage (an image or a `.cnb`
 * file whose layers hold `/cnb/buildpacks/<id>/<version>/`), or a builder image. Every source yields
 * `LoadedBuildpack`s: a parsed descriptor and a host directory holding the buildpack's files.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import { applyLayer } from "../../layer/index.ts";
import type { Image } from "../../oci/image.ts";
import type { Platform } from "../../oci/platform.ts";
import type { TransportContext } from "../../transport/context.ts";
import { parseImageArgument, registryArgument } from "../../transport/parse.ts";
import { readFileWithin } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { applyImageLayers, labelJson, layerIndexOfDiffId, openImage } from "../image.ts";
import {
  type BuildpackDescriptor,
  bpKey,
  escapeId,
  parseBuildpackToml,
  type Stack,
  type Target,
} from "./descriptor.ts";

export interface LoadedBuildpack {
  descriptor: BuildpackDescriptor;
  /** Host directory holding `buildpack.toml` and `bin/`. */
  dir: string;
  /** Where it came from (a path, URI or image), for messages. */
  source: string;
}

export const BUILDPACK_LAYERS_LABEL = "io.buildpacks.buildpack.layers";
export const BUILDPACKAGE_METADATA_LABEL = "io.buildpacks.buildpackage.metadata";

/** One entry of `io.buildpacks.buildpack.layers` (pack's `dist.ModuleLayerInfo`). */
export interface ModuleLayerInfo {
  api: string;
  stacks?: Stack[];
  targets?: Target[];
  order?: { group: { id: string; version?: string; optional?: boolean }[] }[];
  layerDiffID: string;
  homepage?: string;
  name?: string;
}

export type ModuleLayers = Record<string, Record<string, ModuleLayerInfo>>;

export function bpSubject(d: BuildpackDescriptor): string {
  return `buildpack ${JSON.stringify(bpKey(d.buildpack.id, d.buildpack.version))}`;
}

/** Read `<dir>/buildpack.toml`, confined to `dir` (a builder's or a download's: not berth's own tree). */
export async function readBuildpackDir(dir: string, source = dir): Promise<LoadedBuildpack> {
  const file = join(dir, "buildpack.toml");
  let text: string;
  try {
    const bytes = await readFileWithin(file, dir, { owner: `buildpack at ${source}`, name: "its directory" });
    if (bytes === undefined) throw new Error("no such file");
    text = bytes.toString("utf8");
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError(
      "CNB_BUILDPACK_INVALID",
      `buildpack at ${source}: ${file} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return { descriptor: parseBuildpackToml(text, file), dir, source };
}

/** Every buildpack in a `/cnb/buildpacks`-shaped folder (`<escaped id>/<version>/buildpack.toml`). */
export async function scanBuildpacksDir(root: string, source: string): Promise<LoadedBuildpack[]> {
  const out: LoadedBuildpack[] = [];
  const ids = await readdir(root).catch(() => [] as string[]);
  for (const id of ids.sort()) {
    const versions = await readdir(join(root, id)).catch(() => [] as string[]);
    for (const v of versions.sort()) {
      const dir = join(root, id, v);
      if (!(await stat(join(dir, "buildpack.toml")).catch(() => undefined))) continue;
      out.push(await readBuildpackDir(dir, `${source} (${id}/${v})`));
    }
  }
  return out;
}

/** Extract a buildpack archive (`.tgz`, `.tar.gz`, `.tar`) and read it; the buildpack may sit in one top folder. */
export async function readBuildpackArchive(path: string, tmp: string): Promise<LoadedBuildpack> {
  const dest = await ownedTempDir(tmp, "bp-");
  try {
    await applyLayer(createReadStream(path), dest);
  } catch (err) {
    throw wrapError(`extracting buildpack archive ${path}`, err);
  }
  if (await stat(join(dest, "buildpack.toml")).catch(() => undefined)) return readBuildpackDir(dest, path);
  const entries = await readdir(dest);
  if (entries.includes("oci-layout") && entries.includes("index.json")) {
    throw new BerthError("CNB_BUILDPACK_INVALID", `buildpack archive ${path} is an OCI layout`, {
      details: { ociLayout: dest },
    });
  }
  if (
    entries.length === 1 &&
    (await stat(join(dest, entries[0]!, "buildpack.toml")).catch(() => undefined))
  ) {
    return readBuildpackDir(join(dest, entries[0]!), path);
  }
  throw new BerthError(
    "CNB_BUILDPACK_INVALID",
    `buildpack archive ${path} holds no buildpack.toml at its top`,
  );
}

/**
 * The buildpacks of an image that carries `io.buildpacks.buildpack.layers` (a buildpackage or a builder).
 * Only the layers those buildpacks live in are extracted, into a new folder under `tmp`.
 */
export async function readBuildpacksFromImage(
  image: Image,
  source: string,
  tmp: string,
): Promise<LoadedBuildpack[]> {
  const layers = labelJson<ModuleLayers>(image, BUILDPACK_LAYERS_LABEL, `image ${source}`);
  if (!layers) {
    throw new BerthError(
      "CNB_BUILDPACK_INVALID",
      `image ${source} is neither a buildpackage nor a builder: it has no ${BUILDPACK_LAYERS_LABEL} label`,
    );
  }
  const root = await ownedTempDir(tmp, "bpimage-");
  const indexes: number[] = [];
  for (const versions of Object.values(layers)) {
    for (const info of Object.values(versions)) indexes.push(layerIndexOfDiffId(image, info.layerDiffID));
  }
  await applyImageLayers(image, indexes, root);
  const out: LoadedBuildpack[] = [];
  for (const [id, versions] of Object.entries(layers)) {
    for (const version of Object.keys(versions)) {
      const dir = join(root, "cnb", "buildpacks", escapeId(id), version);
      out.push(await readBuildpackDir(dir, `${source} (${bpKey(id, version)})`));
    }
  }
  // A buildpackage's entrypoint (its metadata label's id and version, as pack reads it) comes first: the
  // buildpack a `--buildpack` or `uri` of it stands for; its order names the others.
  const main = mainBuildpackOf(image, out);
  return main ? [main, ...out.filter((b) => b !== main)] : out;
}

export interface LoadOptions {
  /** Folder that relative paths are resolved against (the config file's folder). */
  relativeTo: string;
  ctx: TransportContext;
  /** Scratch space for extracted buildpacks; the caller removes it. */
  tmp: string;
  /** From a multi-platform buildpack image, the platform to use (default: this machine's). */
  platform?: Platform | undefined;
}

function localPath(uri: string, relativeTo: string): string | undefined {
  if (uri.startsWith("file://")) return decodeURIComponent(uri.slice("file://".length));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return undefined;
  if (
    uri.startsWith("docker:") ||
    uri.startsWith("oci:") ||
    uri.startsWith("oci-archive:") ||
    uri.startsWith("docker-archive:")
  ) {
    return undefined;
  }
  return isAbsolute(uri) ? uri : resolve(relativeTo, uri);
}

/**
 * A buildpack reference as pack takes it in `builder.toml` (`uri`) and `--buildpack`: a directory, an
 * archive, a `.cnb` buildpackage file, or an image (`docker://REF`, any berth transport, or a bare name
 * in the local store). Returns the buildpack and, for packages, every buildpack packaged with it.
 */
export async function loadBuildpacks(uri: string, o: LoadOptions): Promise<LoadedBuildpack[]> {
  const path = localPath(uri, o.relativeTo);
  if (path !== undefined) {
    const st = await stat(path).catch(() => undefined);
    if (st?.isDirectory()) return [await readBuildpackDir(path, uri)];
    if (st?.isFile()) {
      if (path.endsWith(".cnb")) return loadBuildpackImage(`oci-archive:${path}`, o);
      try {
        return [await readBuildpackArchive(path, o.tmp)];
      } catch (err) {
        // A buildpackage file under another name: pack looks inside (an OCI layout tar), so does berth.
        const layout = err instanceof BerthError ? err.details.ociLayout : undefined;
        if (typeof layout === "string") return loadBuildpackImage(`oci:${layout}`, o);
        throw err;
      }
    }
    if (!/^[a-z0-9]/.test(uri) || uri.startsWith(".") || uri.includes("://")) {
      throw new BerthError("CNB_BUILDPACK_NOT_FOUND", `buildpack ${uri}: ${path} does not exist`);
    }
  }
  if (/^https?:\/\//.test(uri)) {
    throw new BerthError(
      "CNB_BUILDPACK_NOT_FOUND",
      `buildpack ${uri}: downloading buildpacks over HTTP is not supported`,
      {
        hint: "download the .tgz and give its path, or use a buildpackage image",
      },
    );
  }
  return loadBuildpackImage(uri, o);
}

export async function loadBuildpackImage(ref: string, o: LoadOptions): Promise<LoadedBuildpack[]> {
  // pack's package locators: `docker://REF`, `docker:/REF` and `docker:REF` all name REF in a registry.
  const docker = /^docker:\/{0,2}(.*)$/.exec(ref);
  const arg = docker ? registryArgument(docker[1]!) : parseImageArgument(ref);
  const opened = await openImage(arg, o.ctx, o.platform);
  try {
    return await readBuildpacksFromImage(opened.image, ref, o.tmp);
  } finally {
    await opened.close();
  }
}

/** The buildpackage metadata label's id names the package's main buildpack. */
function mainBuildpackOf(image: Image, loaded: LoadedBuildpack[]): LoadedBuildpack | undefined {
  const md = labelJson<{ id?: string; version?: string }>(image, BUILDPACKAGE_METADATA_LABEL, "buildpackage");
  if (!md?.id) return undefined;
  return loaded.find(
    (b) =>
      b.descriptor.buildpack.id === md.id && (!md.version || b.descriptor.buildpack.version === md.version),
  );
}
