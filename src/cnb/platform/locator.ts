/**
 * `--buildpack` as pack reads it (pack pkg/buildpack/locator_type.go, pkg/client/build.go
 * `processBuildpacks`): each argument is one of
 * - `from=builder`: the builder's whole order, each of its groups prefixed by the buildpacks named before and
 *   followed by those named after;
 * - `urn:cnb:builder:ID[@VERSION]` (or the older `from=builder:ID[@VERSION]`): a buildpack of the builder;
 * - `docker://REF` (also `docker:/REF`, `docker:REF`): a buildpackage image;
 * - `urn:cnb:registry:…`: the buildpack registry, which berth does not reach;
 * - a bare word, tried in pack's order: a path that exists (relative to the current directory: a
 *   directory, a `.tgz`/`.tar` buildpack, a `.cnb` buildpackage), then `ID[@VERSION]` of a builder buildpack
 *   (ids may hold `/`), then an image reference (berth: the store, or any transport).
 * A buildpackage contributes its entrypoint (the buildpack its `io.buildpacks.buildpackage.metadata` label
 * names) to the group; its order expands at detection. The result replaces the builder's order.
 */
import { cp, rm, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import type { Platform } from "../../oci/platform.ts";
import type { TransportContext } from "../../transport/context.ts";
import { bpKey, escapeId, type ModuleRef, type Order } from "../buildpack/descriptor.ts";
import { type LoadedBuildpack, loadBuildpackImage, loadBuildpacks } from "../buildpack/load.ts";
import type { BuildpackStore } from "../buildpack/store.ts";
import { readPackageConfig } from "../files/package.ts";

const FROM_BUILDER = "from=builder";
const BUILDER_URN = "urn:cnb:builder:";
const REGISTRY_URN = "urn:cnb:registry:";

export interface LocateOptions {
  /** The builder's order (for `from=builder`). */
  builderOrder: Order;
  /** The builder's buildpacks; buildpacks from elsewhere are added to it. */
  store: BuildpackStore;
  /** The builder's `/cnb/buildpacks` on the host: buildpacks from elsewhere are copied in. */
  buildpacksDir: string;
  /** Relative paths are resolved against this folder (the CLI's current directory, as pack does). */
  cwd: string;
  ctx: TransportContext;
  /** From a multi-platform buildpack image, the platform to use (pack's: --platform, else the builder's). */
  platform?: Platform | undefined;
  /** Scratch space; the caller removes it. */
  tmp: string;
  warn: (line: string) => void;
}

/** `ID[@VERSION]`, the prefixes pack ignores removed. */
export function parseIdLocator(locator: string): { id: string; version?: string } {
  let naked = locator;
  for (const p of [`${FROM_BUILDER}:`, BUILDER_URN, REGISTRY_URN]) {
    if (naked.startsWith(p)) naked = naked.slice(p.length);
  }
  const parts = naked.split("@");
  return parts.length === 2 && parts[1] ? { id: parts[0]!, version: parts[1] } : { id: parts[0]! };
}

function inBuilder(store: BuildpackStore, id: string, version: string | undefined): ModuleRef | undefined {
  const versions = store.versionsOf(id);
  if (version !== undefined) return versions.includes(version) ? { id, version } : undefined;
  if (versions.length === 0) return undefined;
  // Several versions and none named: lookup's error says which.
  const bp = store.lookup(id);
  return { id, version: bp.descriptor.buildpack.version };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** Add a buildpack from elsewhere to the builder's store and folder. */
async function install(bp: LoadedBuildpack, o: LocateOptions): Promise<void> {
  const { id, version } = bp.descriptor.buildpack;
  for (const w of bp.descriptor.warnings ?? []) o.warn(w);
  const dest = join(o.buildpacksDir, escapeId(id), version);
  await rm(dest, { recursive: true, force: true });
  // Links kept as written (pack tars the folder): a relative link must not become a host path.
  await cp(bp.dir, dest, { recursive: true, verbatimSymlinks: true });
  o.store.add({ ...bp, dir: dest });
}

async function fetchBuildpack(uri: string, o: LocateOptions): Promise<ModuleRef> {
  let loaded: LoadedBuildpack[];
  try {
    loaded = await loadBuildpacks(uri, { relativeTo: o.cwd, ctx: o.ctx, tmp: o.tmp, platform: o.platform });
  } catch (err) {
    if (err instanceof BerthError) {
      throw new BerthError(err.code, `--buildpack ${uri}: ${err.message}`, {
        cause: err,
        hint: err.hint || undefined,
      });
    }
    throw err;
  }
  // A buildpack folder with a package.toml brings its dependencies too (pack `fetchBuildpackDependencies`).
  const local = uri.startsWith("/") ? uri : undefined;
  const packageToml = local ? join(local, "package.toml") : undefined;
  if (
    packageToml &&
    (await stat(local!)
      .then((s) => s.isDirectory())
      .catch(() => false)) &&
    (await exists(packageToml))
  ) {
    const cfg = await readPackageConfig(packageToml);
    for (const dep of cfg.dependencies) {
      const where = dep.image ?? dep.uri!;
      const load = { relativeTo: cfg.dir, ctx: o.ctx, tmp: o.tmp, platform: o.platform };
      try {
        loaded.push(
          ...(dep.image ? await loadBuildpackImage(dep.image, load) : await loadBuildpacks(dep.uri!, load)),
        );
      } catch (err) {
        throw wrapError(`--buildpack ${uri}: ${packageToml}: dependency ${where}`, err);
      }
    }
  }
  for (const bp of loaded) await install(bp, o);
  const main = loaded[0]!.descriptor.buildpack;
  return { id: main.id, version: main.version };
}

/**
 * One buildpack reference as pack locates it (a `--buildpack` argument, a project.toml `uri`): a builder
 * buildpack, or one fetched and installed into the builder. Relative paths are against `o.cwd`.
 */
export async function locateBuildpack(arg: string, o: LocateOptions): Promise<ModuleRef> {
  if (arg.startsWith(BUILDER_URN) || arg.startsWith(`${FROM_BUILDER}:`)) {
    const { id, version } = parseIdLocator(arg);
    const ref = inBuilder(o.store, id, version);
    if (!ref) {
      throw new BerthError(
        "CNB_BUILDPACK_NOT_FOUND",
        `--buildpack ${arg}: the builder has no buildpack ${bpKey(id, version)}`,
        {
          hint: `the builder holds ${
            o.store
              .all()
              .map((b) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version))
              .join(", ") || "no buildpacks"
          }`,
        },
      );
    }
    return ref;
  }
  if (arg.startsWith(REGISTRY_URN)) {
    throw new BerthError(
      "CNB_BUILDPACK_NOT_FOUND",
      `--buildpack ${arg}: berth does not reach the buildpack registry`,
      {
        hint: "give the buildpackage image (docker://REF) the registry entry names",
      },
    );
  }
  if (arg.startsWith("docker:")) return fetchBuildpack(arg, o);
  // pack: anything with a scheme (`x:/…`) is a URI (file://, http://, or a berth transport such as oci:).
  if (/^[^:]+:\//.test(arg) || /^(oci|oci-archive|docker-archive):/.test(arg)) return fetchBuildpack(arg, o);
  // A bare word: a path first (relative to the current directory), then a builder buildpack, then an image.
  const path = isAbsolute(arg) ? arg : resolve(o.cwd, arg);
  if (await exists(path)) return fetchBuildpack(path, o);
  const { id, version } = parseIdLocator(arg);
  const ref = inBuilder(o.store, id, version);
  if (ref) return ref;
  if (arg.startsWith(".") || arg.startsWith("/")) {
    throw new BerthError("CNB_BUILDPACK_NOT_FOUND", `--buildpack ${arg}: ${path} does not exist`);
  }
  try {
    return await fetchBuildpack(arg, o);
  } catch (err) {
    if (err instanceof BerthError && /^[a-z0-9.-]+\/[a-z0-9.-]+(@.*)?$/.test(arg)) {
      throw new BerthError(
        "CNB_BUILDPACK_NOT_FOUND",
        `--buildpack ${arg}: the builder has no buildpack ${bpKey(id, version)}, and no image ${arg} was found`,
        {
          cause: err,
          hint: `the builder holds ${
            o.store
              .all()
              .map((b) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version))
              .join(", ") || "no buildpacks"
          }; berth does not reach the buildpack registry`,
        },
      );
    }
    throw err;
  }
}

/** The order `--buildpack` arguments make, as pack makes it; installs buildpacks from elsewhere into the builder. */
export async function orderFromBuildpackArgs(args: readonly string[], o: LocateOptions): Promise<Order> {
  let order: Order = [{ group: [] }];
  let fromBuilder = false;
  for (const arg of args) {
    if (arg === FROM_BUILDER) {
      if (fromBuilder) {
        throw new BerthError(
          "USAGE",
          "--buildpack from=builder: buildpacks from builder can only be defined once",
        );
      }
      fromBuilder = true;
      const before = order[0]!.group;
      order = o.builderOrder.map((g) => ({ group: [...before, ...g.group] }));
      continue;
    }
    const ref = await locateBuildpack(arg, o);
    order = order.map((g) => ({ group: [...g.group, ref] }));
  }
  return order;
}
