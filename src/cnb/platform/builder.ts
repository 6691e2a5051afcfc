/**
 * Builders as pack makes and reads them (pack internal/builder/builder.go): the build image plus a layer of
 * default directories, one layer per buildpack at `/cnb/buildpacks/<id with / as _>/<version>/` (root-owned,
 * 0755 dirs and executables, 0644 other files, mtime 1980-01-01T00:00:01Z), `/cnb/order.toml`,
 * `/cnb/stack.toml`, `/cnb/run.toml`, `/cnb/build-config/env/` and `/platform/env/`, with the labels
 * `io.buildpacks.builder.metadata`, `io.buildpacks.buildpack.layers`, `io.buildpacks.buildpack.order` in
 * pack's JSON shapes. The lifecycle builder.toml names (or pack's default) is added as pack adds it
 * (`./lifecycle.ts`); `noLifecycle` makes a builder only berth runs, whose label claims no lifecycle.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import { editImage } from "../../image/index.ts";
import { writeEntries } from "../../layer/build.ts";
import { type EntryHeader, planLayer, type TarWriter, writeLayer } from "../../layer/index.ts";
import type { CopyResult } from "../../oci/copy.ts";
import type { Image } from "../../oci/image.ts";
import type { AddedLayer } from "../../oci/mutate.ts";
import type { Platform } from "../../oci/platform.ts";
import { type TransportContext, tmpDirOf } from "../../transport/context.ts";
import type { ImageArgument } from "../../transport/parse.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { BERTH_VERSION } from "../api.ts";
import {
  type BuildpackDescriptor,
  bpKey,
  escapeId,
  type ModuleRef,
  type Order,
  type Stack,
  type Target,
} from "../buildpack/descriptor.ts";
import {
  BUILDPACK_LAYERS_LABEL,
  type LoadedBuildpack,
  loadBuildpackImage,
  loadBuildpacks,
  type ModuleLayerInfo,
  type ModuleLayers,
  scanBuildpacksDir,
} from "../buildpack/load.ts";
import { BuildpackStore } from "../buildpack/store.ts";
import { encodeOrder, parseOrder } from "../files/order.ts";
import { encodeRun, parseRun, type RunImage, runImagesOf } from "../files/run.ts";
import { encodeStack, parseStack } from "../files/stack.ts";
import { applyImageLayers, labelJson, labelsOf, openImageFor, resolveImage } from "../image.ts";
import type { PhaseLogger } from "../log.ts";
import { type BuilderConfig, buildConfigEnvFiles, configDir, runImageOf } from "./builder-config.ts";
import {
  addExtensionLayers,
  type BuilderExtensions,
  EXTENSION_LAYERS_LABEL,
  extensionInfos,
  extensionLayerIndexes,
  extractedExtensions,
  loadBuilderExtensions,
} from "./builder-extensions.ts";
import {
  type FetchedLifecycle,
  fetchLifecycle,
  type LifecycleLabel,
  lifecycleLabel,
  lifecycleLayer,
  NO_LIFECYCLE_LABEL,
} from "./lifecycle.ts";
import {
  hasSystem,
  NO_SYSTEM,
  parseSystemToml,
  resolveSystem,
  SYSTEM_LABEL,
  type SystemBuildpacks,
  systemLabel,
  systemToml,
} from "./system.ts";

export const BUILDER_METADATA_LABEL = "io.buildpacks.builder.metadata";
export const ORDER_LABEL = "io.buildpacks.buildpack.order";
export const ORDER_EXTENSIONS_LABEL = "io.buildpacks.buildpack.order-extensions";
export const MIXINS_LABEL = "io.buildpacks.stack.mixins";
export const STACK_ID_LABEL = "io.buildpacks.stack.id";

/** pack's archive.NormalizedDateTime: 1980-01-01T00:00:01Z. */
export const NORMALIZED_MTIME = Date.UTC(1980, 0, 1, 0, 0, 1) / 1000;

/** pack's `dist.ModuleInfo` (JSON, omitempty fields). */
export interface ModuleInfo {
  id: string;
  name?: string;
  version?: string;
  description?: string;
  homepage?: string;
  keywords?: string[];
  "exec-env"?: string[];
  licenses?: { type: string; uri: string }[];
  "clear-env"?: boolean;
}

/** pack's `builder.Metadata`. */
export interface BuilderMetadata {
  description: string;
  buildpacks: ModuleInfo[] | null;
  extensions: ModuleInfo[] | null;
  stack: { runImage: { image: string; mirrors: string[] | null } };
  lifecycle: LifecycleLabel;
  createdBy: { name: string; version: string };
  images: { image: string; mirrors: string[] | null }[] | null;
}

export function moduleInfo(d: BuildpackDescriptor): ModuleInfo {
  const b = d.buildpack;
  const m: ModuleInfo = { id: b.id };
  if (b.name) m.name = b.name;
  m.version = b.version;
  if (b.description) m.description = b.description;
  if (b.homepage) m.homepage = b.homepage;
  if (b.keywords?.length) m.keywords = b.keywords;
  if (b.execEnv?.length) m["exec-env"] = b.execEnv;
  if (b.licenses?.length) m.licenses = b.licenses.map((l) => ({ type: l.type ?? "", uri: l.uri ?? "" }));
  if (b.clearEnv) m["clear-env"] = true;
  return m;
}

/** pack's JSON for targets: `os` and `arch` always, the rest when set. */
function targetJson(t: Target): Record<string, unknown> {
  return {
    os: t.os ?? "",
    arch: t.arch ?? "",
    ...(t.variant ? { variant: t.variant } : {}),
    ...(t.distros?.length
      ? {
          distros: t.distros.map((d) => ({
            ...(d.name ? { name: d.name } : {}),
            ...(d.version ? { version: d.version } : {}),
          })),
        }
      : {}),
  };
}

function orderJson(order: Order): { group: Record<string, unknown>[] }[] {
  return order.map((g) => ({
    group: g.group.map((r) => ({
      id: r.id,
      ...(r.version ? { version: r.version } : {}),
      ...(r.optional ? { optional: true } : {}),
    })),
  }));
}

export function moduleLayerInfo(d: BuildpackDescriptor, diffId: string): ModuleLayerInfo {
  const info: Record<string, unknown> = { api: d.api };
  if (d.stacks.length)
    info.stacks = d.stacks.map((s: Stack) => ({
      id: s.id,
      ...(s.mixins?.length ? { mixins: s.mixins } : {}),
    }));
  if (d.targets.length) info.targets = d.targets.map(targetJson);
  if (d.order.length) info.order = orderJson(d.order);
  info.layerDiffID = diffId;
  if (d.buildpack.homepage) info.homepage = d.buildpack.homepage;
  if (d.buildpack.name) info.name = d.buildpack.name;
  return info as unknown as ModuleLayerInfo;
}

/** pack's file mode rule for buildpack files (pkg/buildpack/buildpack.go calcFileMode). */
function packFileMode(h: EntryHeader, relPath: string): number {
  if (h.type === "dir") return 0o755;
  if (["bin/build", "bin/detect", "bin/generate"].includes(relPath)) return 0o755;
  if (h.mode & 0o111) return 0o755;
  return 0o644;
}

interface LayerFile {
  path: string;
  content: string;
  mode?: number;
}

async function fileLayer(
  dest: string,
  entries: { dirs?: { path: string; uid: number; gid: number }[]; files?: LayerFile[] },
): Promise<Omit<AddedLayer, "history">> {
  const d = await writeLayer(dest, { compression: "gzip" }, async (w: TarWriter) => {
    for (const dir of entries.dirs ?? []) {
      await w.add({
        path: dir.path,
        type: "dir",
        mode: 0o755,
        uid: dir.uid,
        gid: dir.gid,
        size: 0,
        mtime: NORMALIZED_MTIME,
      });
    }
    for (const f of entries.files ?? []) {
      const body = Buffer.from(f.content);
      await w.add(
        {
          path: f.path,
          type: "file",
          mode: f.mode ?? 0o644,
          uid: 0,
          gid: 0,
          size: body.length,
          mtime: NORMALIZED_MTIME,
        },
        body,
      );
    }
  });
  return { path: dest, mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: d.diffId };
}

/** The layer of one buildpack, as pack's `toDistTar` writes it. */
export async function buildpackLayer(
  bp: LoadedBuildpack,
  dest: string,
  root = bp.descriptor.kind === "extension" ? "cnb/extensions" : "cnb/buildpacks",
): Promise<Omit<AddedLayer, "history">> {
  const { id, version } = bp.descriptor.buildpack;
  const base = `${root}/${escapeId(id)}/${version}`;
  const planned = await planLayer([{ source: bp.dir, dest: `/${base}` }], {
    mtime: NORMALIZED_MTIME,
    uid: 0,
    gid: 0,
  });
  const entries = planned
    .filter((e) => e.header.path.startsWith(`${root}/${escapeId(id)}`))
    .map((e) => {
      const rel = e.header.path === base ? "" : e.header.path.slice(base.length + 1);
      return {
        ...e,
        header: { ...e.header, mode: packFileMode(e.header, rel), uid: 0, gid: 0, mtime: NORMALIZED_MTIME },
      };
    });
  const d = await writeLayer(dest, { compression: "gzip" }, (w) => writeEntries(w, entries));
  return { path: dest, mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: d.diffId };
}

/** CNB_USER_ID and CNB_GROUP_ID from a build image's Env (required, as pack requires them). */
export function cnbUserOf(image: Image, what: string): { uid: number; gid: number } {
  const env = image.config?.config?.Env ?? [];
  const get = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1);
  const uid = get("CNB_USER_ID");
  const gid = get("CNB_GROUP_ID");
  if (uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `${what} must set CNB_USER_ID and CNB_GROUP_ID to numbers in its Env (it has ${uid === undefined ? "no CNB_USER_ID" : `CNB_USER_ID=${uid}`}, ${gid === undefined ? "no CNB_GROUP_ID" : `CNB_GROUP_ID=${gid}`})`,
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Fill in versions of order references from the buildpacks present (pack's processOrder/resolveRef). */
export function resolveOrder(order: Order, store: BuildpackStore): Order {
  return order.map((g) => ({
    group: g.group.map((ref) => {
      const bp = store.lookup(ref.id, ref.version);
      return { ...ref, version: bp.descriptor.buildpack.version };
    }),
  }));
}

/** Every buildpack an order needs is present, composites' orders included. */
export function validateOrder(order: Order, store: BuildpackStore, seen = new Set<string>()): void {
  for (const g of order) {
    for (const ref of g.group) {
      const bp = store.lookup(ref.id, ref.version);
      const key = bpKey(bp.descriptor.buildpack.id, bp.descriptor.buildpack.version);
      if (seen.has(key)) continue;
      seen.add(key);
      try {
        validateOrder(bp.descriptor.order, store, seen);
      } catch (err) {
        throw wrapError(`composite buildpack ${JSON.stringify(key)}`, err);
      }
    }
  }
}

export interface CreateBuilderOptions {
  ctx: TransportContext;
  logger: PhaseLogger;
  platform?: Platform;
  /** Extra labels (`--label`). */
  labels?: Record<string, string>;
  /** A builder only berth runs: no /cnb/lifecycle, and a label that claims none (`--no-lifecycle`). */
  noLifecycle?: boolean;
}

export interface CreateBuilderResult extends CopyResult {
  metadata: BuilderMetadata;
  /** The lifecycle put in the builder (undefined with `noLifecycle`). */
  lifecycle: FetchedLifecycle["descriptor"] | undefined;
  buildpacks: LoadedBuildpack[];
  order: Order;
}

/** `berth builder create`: read the buildpacks a builder.toml names and write the builder to `target`. */
export async function createBuilder(
  config: BuilderConfig,
  buildImage: ImageArgument,
  target: ImageArgument,
  o: CreateBuilderOptions,
): Promise<CreateBuilderResult> {
  for (const w of config.warnings) o.logger.warn(w);
  const tmp = await ownedTempDir(tmpDirOf(o.ctx), "builder-");
  try {
    const exts = await loadBuilderExtensions(config, tmp, o.logger);
    const loaded = await loadConfigBuildpacks(config, o, tmp);
    const store = new BuildpackStore(loaded);
    checkIdCase(store.all());
    let order: Order;
    try {
      validateOrder(config.order, store);
      order = resolveOrder(config.order, store);
    } catch (err) {
      throw wrapError(`builder config ${config.file}: order`, err);
    }
    const parts: BuilderParts = {
      config,
      buildImage: buildImage.text,
      loaded,
      store,
      order,
      exts,
      system: resolveSystem(config.system, store, `builder config ${config.file}`),
      lifecycle: await builderLifecycle(config, o, tmp),
    };
    let metadata: BuilderMetadata | undefined;
    const result = await editImage(buildImage, target, o.ctx, o.platform, async (base, layerTmp) => {
      if (!base) throw new BerthError("USAGE", "a builder needs a build image, not scratch");
      await checkRunImages(config, o, {
        platform: o.platform ?? base.platform(),
        preferRegistry: target.transport === "docker",
      });
      const built = await builderLayers(base, parts, layerTmp, o.logger);
      metadata = built.metadata;
      const labels = { ...built.labels, ...(o.labels ?? {}) };
      return {
        layers: built.layers,
        config: (c) => ({ ...c, WorkingDir: "/layers", Labels: { ...(c.Labels ?? {}), ...labels } }),
        created: base.config?.created ?? "1970-01-01T00:00:00Z",
      };
    });
    return {
      ...result,
      metadata: metadata!,
      lifecycle: parts.lifecycle?.descriptor,
      buildpacks: store.all(),
      order,
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * pack's `validateRunImageConfig`: each run image of builder.toml and each mirror, opened for the builder's
 * platform (the store first, then its registry; the registry first when the builder goes to one). One not found,
 * not reachable or refused for want of credentials is only a warning, as pack's "not accessible" for a missing
 * one (pack fails on the other two; berth makes builders offline and without the run image's credentials, which
 * only the build needs: the builder holds no byte of it); one for
 * another platform, or whose `io.buildpacks.stack.id` is not builder.toml's `[stack] id`, is an error naming it.
 */
/** What makes a run image "not accessible" to `checkRunImages` (a warning, not an error). */
const NOT_ACCESSIBLE = ["REGISTRY_UNREACHABLE", "REGISTRY_UNAUTHORIZED", "REGISTRY_DENIED"] as const;

async function checkRunImages(
  config: BuilderConfig,
  o: CreateBuilderOptions,
  open: { platform: Platform | undefined; preferRegistry: boolean },
): Promise<void> {
  for (const name of config.runImages.flatMap((r) => [r.image, ...(r.mirrors ?? [])])) {
    const opened = await resolveImage(name, o.ctx, { ...open, registryFallback: true }).catch((err) => {
      if (NOT_ACCESSIBLE.some((code) => isBerthError(err, code))) return undefined;
      throw wrapError(`builder config ${config.file}: run image ${name}`, err);
    });
    if (!opened) {
      o.logger.warn(`run image ${name} is not accessible`);
      continue;
    }
    const stackId = labelsOf(opened.image)[STACK_ID_LABEL];
    await opened.close();
    if (config.stack.id !== undefined && stackId !== config.stack.id) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `builder config ${config.file}: [stack] id ${JSON.stringify(config.stack.id)} does not match run image ${name}, whose ${STACK_ID_LABEL} is ${stackId === undefined ? "not set" : JSON.stringify(stackId)}`,
        { hint: "name a run image of that stack, or change [stack] id" },
      );
    }
  }
}

/** What goes into a builder besides its build image, read and resolved before the image is written. */
interface BuilderParts {
  config: BuilderConfig;
  /** The build image as named, for messages. */
  buildImage: string;
  /** Every buildpack builder.toml brought, in its order (duplicates included). */
  loaded: LoadedBuildpack[];
  store: BuildpackStore;
  /** builder.toml's order with versions filled in. */
  order: Order;
  exts: BuilderExtensions;
  system: SystemBuildpacks;
  lifecycle: FetchedLifecycle | undefined;
}

/** builder.toml's `[[buildpacks]]`, each checked to hold the id and version it names. */
async function loadConfigBuildpacks(
  config: BuilderConfig,
  o: CreateBuilderOptions,
  tmp: string,
): Promise<LoadedBuildpack[]> {
  const loaded: LoadedBuildpack[] = [];
  for (const [i, m] of config.buildpacks.entries()) {
    const where = `builder config ${config.file}: buildpacks[${i}] (${m.uri ?? m.image})`;
    let got: LoadedBuildpack[];
    try {
      const load = { relativeTo: configDir(config), ctx: o.ctx, tmp, platform: o.platform };
      got = m.image ? await loadBuildpackImage(m.image, load) : await loadBuildpacks(m.uri!, load);
    } catch (err) {
      throw wrapError(where, err);
    }
    const key = (b: LoadedBuildpack) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version);
    const matches = (b: LoadedBuildpack) =>
      b.descriptor.buildpack.id === m.id && (!m.version || b.descriptor.buildpack.version === m.version);
    if (m.id && !got.some(matches)) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `${where}: holds no buildpack ${bpKey(m.id, m.version)} (found ${got.map(key).join(", ")})`,
      );
    }
    for (const b of got) for (const w of b.descriptor.warnings ?? []) o.logger.warn(w);
    loaded.push(...got);
  }
  return loaded;
}

/** Two buildpack ids that differ only in case would share a folder on a case-insensitive disk. */
function checkIdCase(buildpacks: readonly LoadedBuildpack[]): void {
  const ids = new Map<string, string>();
  for (const b of buildpacks) {
    const id = b.descriptor.buildpack.id;
    const prev = ids.get(id.toLowerCase());
    if (prev && prev !== id) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `buildpack ids ${JSON.stringify(prev)} and ${JSON.stringify(id)} differ only in case`,
      );
    }
    ids.set(id.toLowerCase(), id);
  }
}

/** The lifecycle builder.toml names (or pack's default); none with `noLifecycle`. */
async function builderLifecycle(
  config: BuilderConfig,
  o: CreateBuilderOptions,
  tmp: string,
): Promise<FetchedLifecycle | undefined> {
  if (o.noLifecycle && config.lifecycle) {
    throw new BerthError(
      "USAGE",
      `--no-lifecycle makes a builder without a lifecycle, but builder config ${config.file} names one in [lifecycle]`,
    );
  }
  if (o.noLifecycle) return undefined;
  return fetchLifecycle(config.lifecycle, {
    ctx: o.ctx,
    relativeTo: configDir(config),
    tmp,
    logger: o.logger,
    platform: o.platform,
  }).catch((err) => {
    throw wrapError(`builder config ${config.file}: lifecycle`, err);
  });
}

type AddLayer = (l: Omit<AddedLayer, "history">, createdBy: string) => void;

/** The layers a builder adds to its build image, in pack's order, with its labels and metadata. */
async function builderLayers(
  base: Image,
  p: BuilderParts,
  layerTmp: string,
  logger: PhaseLogger,
): Promise<{ layers: AddedLayer[]; labels: Record<string, string>; metadata: BuilderMetadata }> {
  const what = `build image ${p.buildImage}`;
  const layers: AddedLayer[] = [];
  const add: AddLayer = (l, createdBy) => layers.push({ ...l, history: { created_by: createdBy } });
  await addDirectoryLayers(add, layerTmp, cnbUserOf(base, what), p.lifecycle);
  const bpLayers = await addBuildpackLayers(
    add,
    layerTmp,
    labelJson<ModuleLayers>(base, BUILDPACK_LAYERS_LABEL, what) ?? {},
    p.store.all(),
    logger,
  );
  const extLayers = await addExtensionLayers(base, p.exts, layerTmp, add, logger);
  await addCnbFiles(add, layerTmp, p);
  const metadata = builderMetadata(labelJson<BuilderMetadata>(base, BUILDER_METADATA_LABEL, what), p);
  const labels: Record<string, string> = {
    [BUILDPACK_LAYERS_LABEL]: JSON.stringify(bpLayers),
    [ORDER_LABEL]: JSON.stringify(orderJson(p.config.order)),
    [ORDER_EXTENSIONS_LABEL]: p.exts.orderExtensions.length
      ? JSON.stringify(orderJson(p.config.orderExtensions))
      : "null",
    ...(extLayers ? { [EXTENSION_LAYERS_LABEL]: JSON.stringify(extLayers) } : {}),
    [BUILDER_METADATA_LABEL]: JSON.stringify(metadata),
    [MIXINS_LABEL]: labelsOf(base)[MIXINS_LABEL] ?? "null",
    ...(hasSystem(p.system) ? { [SYSTEM_LABEL]: systemLabel(p.system) } : {}),
  };
  return { layers, labels, metadata };
}

/** pack's default directories (`/workspace` and `/layers` owned by the CNB user), then the lifecycle. */
async function addDirectoryLayers(
  add: AddLayer,
  layerTmp: string,
  user: { uid: number; gid: number },
  lifecycle: FetchedLifecycle | undefined,
): Promise<void> {
  const rootDirs = [
    "cnb",
    "cnb/buildpacks",
    "cnb/extensions",
    "platform",
    "platform/env",
    "cnb/build-config",
    "cnb/build-config/env",
  ];
  add(
    await fileLayer(join(layerTmp, "dirs.tar"), {
      dirs: [
        { path: "workspace", ...user },
        { path: "layers", ...user },
        ...rootDirs.map((p) => ({ path: p, uid: 0, gid: 0 })),
      ],
    }),
    "berth builder create: default directories",
  );
  if (!lifecycle) return;
  add(
    await lifecycleLayer(lifecycle, join(layerTmp, "lifecycle.tar"), NORMALIZED_MTIME),
    `berth builder create: lifecycle ${lifecycle.descriptor.version}`,
  );
}

/**
 * One layer per buildpack (sorted by id@version, as pack), leaving out one the build image already holds with
 * the same contents; returns `io.buildpacks.buildpack.layers` (the build image's, plus these).
 */
async function addBuildpackLayers(
  add: AddLayer,
  layerTmp: string,
  existing: ModuleLayers,
  buildpacks: readonly LoadedBuildpack[],
  logger: PhaseLogger,
): Promise<ModuleLayers> {
  const out: ModuleLayers = structuredClone(existing);
  const key = (b: LoadedBuildpack) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version);
  const sorted = [...buildpacks].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  for (const [i, bp] of sorted.entries()) {
    const { id, version } = bp.descriptor.buildpack;
    const l = await buildpackLayer(bp, join(layerTmp, `bp-${i}.tar`));
    if (existing[id]?.[version]?.layerDiffID === l.diffId) {
      logger.debug(`Buildpack ${key(bp)} already exists on builder with same contents, skipping...`);
      continue;
    }
    add(l, `berth builder create: buildpack ${key(bp)}`);
    out[id] ??= {};
    out[id]![version] = moduleLayerInfo(bp.descriptor, l.diffId);
    logger.debug(`Adding buildpack ${key(bp)} (diffID=${l.diffId})`);
  }
  return out;
}

/** The operator's files: order.toml, system.toml, stack.toml, run.toml, build-config env and /platform/env. */
async function addCnbFiles(add: AddLayer, layerTmp: string, p: BuilderParts): Promise<void> {
  const file = async (name: string, path: string, content: string) =>
    add(
      await fileLayer(join(layerTmp, `${name}.tar`), { files: [{ path, content }] }),
      `berth builder create: /${path}`,
    );
  await file("order", "cnb/order.toml", encodeOrder(p.order, p.exts.orderExtensions));
  if (hasSystem(p.system)) await file("system", "cnb/system.toml", systemToml(p.system));
  await file("stack", "cnb/stack.toml", encodeStack(runImageOf(p.config)));
  await file("run", "cnb/run.toml", encodeRun(p.config.runImages));
  const envFiles = buildConfigEnvFiles(p.config.buildEnv);
  if (envFiles.size) {
    add(
      await fileLayer(join(layerTmp, "build-config-env.tar"), {
        files: [...envFiles]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, content]) => ({ path: `cnb/build-config/env/${name}`, content })),
      }),
      "berth builder create: /cnb/build-config/env",
    );
  }
  add(await fileLayer(join(layerTmp, "env.tar"), {}), "berth builder create: /platform/env");
}

/** `io.buildpacks.builder.metadata`: the build image's buildpacks and extensions, plus these. */
function builderMetadata(prev: BuilderMetadata | undefined, p: BuilderParts): BuilderMetadata {
  const infos = [...(prev?.buildpacks ?? [])];
  for (const b of p.loaded) {
    const mi = moduleInfo(b.descriptor);
    if (!infos.some((x) => x.id === mi.id && x.version === mi.version)) infos.push(mi);
  }
  const stackRun = runImageOf(p.config);
  return {
    description: p.config.description,
    buildpacks: infos,
    extensions: extensionInfos(prev, p.exts),
    stack: {
      runImage: {
        image: stackRun?.image ?? "",
        mirrors: stackRun?.mirrors?.length ? stackRun.mirrors : null,
      },
    },
    // A label never claims a lifecycle the builder does not carry (issue 14).
    lifecycle: p.lifecycle ? lifecycleLabel(p.lifecycle.descriptor) : NO_LIFECYCLE_LABEL,
    createdBy: { name: "berth", version: BERTH_VERSION },
    images: p.config.runImages.map((r) => ({
      image: r.image,
      mirrors: r.mirrors?.length ? r.mirrors : null,
    })),
  };
}

/** The run images `io.buildpacks.builder.metadata` names: `images` (run.toml's), else `stack.runImage` (stack.toml's). */
export function labelRunImages(metadata: BuilderMetadata | undefined): RunImage[] {
  const runImage = (r: { image: string; mirrors: string[] | null }) => ({
    image: r.image,
    mirrors: r.mirrors ?? [],
  });
  const stack = metadata?.stack?.runImage;
  return runImagesOf(metadata?.images?.map(runImage), stack && runImage(stack));
}

/**
 * The run images of a builder's files (`root` stands for `/`): `/cnb/run.toml`'s, else the legacy
 * `/cnb/stack.toml`'s; else `fallback` (the label's, for a builder with neither file). `where` prefixes the
 * file names in messages (`NAME:`).
 */
export async function readRunImages(
  root: ConfinedTree,
  where: string,
  fallback: RunImage[],
): Promise<RunImage[]> {
  const runText = await root.readText("cnb/run.toml");
  const stackText = await root.readText("cnb/stack.toml");
  const fromFiles = runImagesOf(
    runText === undefined ? undefined : parseRun(runText, `${where}/cnb/run.toml`),
    stackText === undefined ? undefined : parseStack(stackText, `${where}/cnb/stack.toml`),
  );
  return fromFiles.length ? fromFiles : fallback;
}

/** A builder's labels, read without extracting anything (for pack-made and berth-made builders alike). */
export interface BuilderInfo {
  image: Image;
  name: string;
  metadata: BuilderMetadata | undefined;
  layers: ModuleLayers;
  /** `io.buildpacks.buildpack.order`, as written (versions may be missing). */
  orderLabel: Order;
  /** `io.buildpacks.buildpack.order-extensions`, as written (empty when the builder has no extensions). */
  orderExtensionsLabel: Order;
  user: { uid: number; gid: number };
  stackId: string | undefined;
}

export function readBuilderInfo(image: Image, name: string): BuilderInfo {
  const layers = labelJson<ModuleLayers>(image, BUILDPACK_LAYERS_LABEL, `builder ${name}`);
  if (!layers) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `${name} is not a builder: it has no ${BUILDPACK_LAYERS_LABEL} label`,
      {
        hint: "make one with berth builder create, or use a builder made by pack",
      },
    );
  }
  const orderLabel = (labelJson<Order>(image, ORDER_LABEL, `builder ${name}`) ?? []).map((g) => ({
    group: (g.group ?? []).map((r: ModuleRef) => ({
      id: r.id,
      ...(r.version ? { version: r.version } : {}),
      ...(r.optional ? { optional: true } : {}),
    })),
  }));
  return {
    image,
    name,
    metadata: labelJson<BuilderMetadata>(image, BUILDER_METADATA_LABEL, `builder ${name}`),
    layers,
    orderLabel,
    orderExtensionsLabel: labelJson<Order>(image, ORDER_EXTENSIONS_LABEL, `builder ${name}`) ?? [],
    user: cnbUserOf(image, `builder ${name}`),
    stackId: labelsOf(image)[STACK_ID_LABEL],
  };
}

/** A builder's `/cnb`, extracted to the host: the buildpacks and the operator's files. */
export interface ExtractedBuilder {
  info: BuilderInfo;
  /** Host folder standing for `/cnb`. */
  cnbDir: string;
  buildpacksDir: string;
  buildConfigDir: string;
  store: BuildpackStore;
  order: Order;
  /** `/cnb/system.toml` (else the system label): buildpacks detect puts around every group. */
  system: SystemBuildpacks;
  runImages: RunImage[];
  /** `/cnb/extensions` (image extensions) and `[[order-extensions]]` of order.toml. */
  extensionsDir: string;
  extensions: BuildpackStore;
  orderExtensions: Order;
  /** The builder's lifecycle launcher as a file on this machine (the builder berth runs inside). */
  launcherPath?: string;
  /** Its version (`/cnb/lifecycle/lifecycle.toml`), for the image's build metadata label. */
  launcherVersion?: string;
}

/**
 * Extract the layers a builder added on top of its build image (from its first buildpack layer up) into
 * `dir`, and read `/cnb/order.toml` (else the order label), the run images (`readRunImages`) and the buildpacks.
 */
export async function extractBuilder(info: BuilderInfo, dir: string): Promise<ExtractedBuilder> {
  const diffIds = info.image.config?.rootfs.diff_ids ?? [];
  const bpIndexes: number[] = [];
  for (const versions of Object.values(info.layers)) {
    for (const v of Object.values(versions)) {
      const i = diffIds.indexOf(v.layerDiffID);
      if (i < 0)
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `builder ${info.name}: no layer has diffID ${v.layerDiffID} named in ${BUILDPACK_LAYERS_LABEL}`,
        );
      bpIndexes.push(i);
    }
  }
  bpIndexes.push(...extensionLayerIndexes(info));
  const first = bpIndexes.length ? Math.min(...bpIndexes) : diffIds.length;
  const indexes = [...bpIndexes];
  for (let i = first; i < diffIds.length; i++) indexes.push(i);
  await applyImageLayers(info.image, indexes, dir);
  const cnbDir = join(dir, "cnb");
  const buildpacksDir = join(cnbDir, "buildpacks");
  await mkdir(buildpacksDir, { recursive: true });
  await mkdir(join(cnbDir, "build-config", "env"), { recursive: true });
  const store = new BuildpackStore(await scanBuildpacksDir(buildpacksDir, `builder ${info.name}`));
  // The builder's files are read inside its extracted root: a symlink out of it is refused, not followed.
  const root = new ConfinedTree(dir, {
    owner: `builder ${info.name}`,
    name: "the builder image",
    seenAs: "/",
  });
  const orderText = await root.readText("cnb/order.toml");
  const orders = orderText !== undefined ? parseOrder(orderText, `${info.name}:/cnb/order.toml`) : undefined;
  const order = orders ? orders.order : resolveOrder(info.orderLabel, store);
  const exts = await extractedExtensions(info, cnbDir, orders?.orderExtensions);
  const systemText = await root.readText("cnb/system.toml");
  const systemFromLabel = labelJson<{
    pre?: { buildpacks?: ModuleRef[] };
    post?: { buildpacks?: ModuleRef[] };
  }>(info.image, SYSTEM_LABEL, `builder ${info.name}`);
  const system =
    systemText !== undefined
      ? parseSystemToml(systemText, `${info.name}:/cnb/system.toml`)
      : systemFromLabel
        ? { pre: systemFromLabel.pre?.buildpacks ?? [], post: systemFromLabel.post?.buildpacks ?? [] }
        : NO_SYSTEM;
  const runImages = await readRunImages(root, `${info.name}:`, labelRunImages(info.metadata));
  return {
    info,
    cnbDir,
    buildpacksDir,
    buildConfigDir: join(cnbDir, "build-config"),
    store,
    order,
    system,
    runImages,
    ...exts,
  };
}

/**
 * A builder whose image is still open: the sandbox reads the build image's layers from its source after
 * extraction, so the caller closes it when the run ends. A `docker://` builder needs no more than its context
 * (the context's registry client outlives every source); an archive's file is closed by `close`.
 */
export interface OpenedBuilder extends ExtractedBuilder {
  close(): Promise<void>;
}

/** Open a builder by image argument and extract it to `dir`. */
export async function openBuilder(
  arg: ImageArgument | string,
  ctx: TransportContext,
  dir: string,
  platform?: Platform,
): Promise<OpenedBuilder> {
  const opened = await openImageFor("builder", arg, ctx, platform);
  try {
    const builder = await extractBuilder(readBuilderInfo(opened.image, opened.text), dir);
    return { ...builder, close: () => opened.close() };
  } catch (err) {
    await opened.close();
    throw err;
  }
}
