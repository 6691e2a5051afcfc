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
import { BerthError, wrapError } from "../../errors.ts";
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
import { encodeRun, parseRun, type RunImage } from "../files/run.ts";
import { encodeStack } from "../files/stack.ts";
import { applyImageLayers, labelJson, labelsOf, openImage } from "../image.ts";
import type { PhaseLogger } from "../log.ts";
import { type BuilderConfig, buildConfigEnvFiles, configDir } from "./builder-config.ts";
import {
  addExtensionLayers,
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
      if (
        m.id &&
        !got.some(
          (b) =>
            b.descriptor.buildpack.id === m.id &&
            (!m.version || b.descriptor.buildpack.version === m.version),
        )
      ) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `${where}: holds no buildpack ${bpKey(m.id, m.version)} (found ${got.map((b) => bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version)).join(", ")})`,
        );
      }
      for (const b of got) for (const w of b.descriptor.warnings ?? []) o.logger.warn(w);
      loaded.push(...got);
    }
    const store = new BuildpackStore(loaded);
    const unique = store.all();
    const ids = new Map<string, string>();
    for (const b of unique) {
      const lower = b.descriptor.buildpack.id.toLowerCase();
      const prev = ids.get(lower);
      if (prev && prev !== b.descriptor.buildpack.id) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `buildpack ids ${JSON.stringify(prev)} and ${JSON.stringify(b.descriptor.buildpack.id)} differ only in case`,
        );
      }
      ids.set(lower, b.descriptor.buildpack.id);
    }
    let resolved: Order;
    try {
      validateOrder(config.order, store);
      resolved = resolveOrder(config.order, store);
    } catch (err) {
      throw wrapError(`builder config ${config.file}: order`, err);
    }
    const system = resolveSystem(config.system, store, `builder config ${config.file}`);
    if (o.noLifecycle && config.lifecycle) {
      throw new BerthError(
        "USAGE",
        `--no-lifecycle makes a builder without a lifecycle, but builder config ${config.file} names one in [lifecycle]`,
      );
    }
    const lifecycle = o.noLifecycle
      ? undefined
      : await fetchLifecycle(config.lifecycle, {
          ctx: o.ctx,
          relativeTo: configDir(config),
          tmp,
          logger: o.logger,
          platform: o.platform,
        }).catch((err) => {
          throw wrapError(`builder config ${config.file}: lifecycle`, err);
        });
    let metadata: BuilderMetadata | undefined;
    const result = await editImage(buildImage, target, o.ctx, o.platform, async (base, layerTmp) => {
      if (!base) throw new BerthError("USAGE", "a builder needs a build image, not scratch");
      const user = cnbUserOf(base, `build image ${buildImage.text}`);
      const existing =
        labelJson<ModuleLayers>(base, BUILDPACK_LAYERS_LABEL, `build image ${buildImage.text}`) ?? {};
      const layers: AddedLayer[] = [];
      const add = (l: Omit<AddedLayer, "history">, createdBy: string) =>
        layers.push({ ...l, history: { created_by: createdBy } });
      add(
        await fileLayer(join(layerTmp, "dirs.tar"), {
          dirs: [
            { path: "workspace", ...user },
            { path: "layers", ...user },
            ...[
              "cnb",
              "cnb/buildpacks",
              "cnb/extensions",
              "platform",
              "platform/env",
              "cnb/build-config",
              "cnb/build-config/env",
            ].map((p) => ({ path: p, uid: 0, gid: 0 })),
          ],
        }),
        "berth builder create: default directories",
      );
      if (lifecycle) {
        add(
          await lifecycleLayer(lifecycle, join(layerTmp, "lifecycle.tar"), NORMALIZED_MTIME),
          `berth builder create: lifecycle ${lifecycle.descriptor.version}`,
        );
      }
      const bpLayers: ModuleLayers = structuredClone(existing);
      const sorted = [...unique].sort((a, b) => {
        const ka = bpKey(a.descriptor.buildpack.id, a.descriptor.buildpack.version);
        const kb = bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version);
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
      for (const [i, bp] of sorted.entries()) {
        const d = bp.descriptor;
        const l = await buildpackLayer(bp, join(layerTmp, `bp-${i}.tar`));
        const prev = existing[d.buildpack.id]?.[d.buildpack.version];
        if (prev?.layerDiffID === l.diffId) {
          o.logger.debug(
            `Buildpack ${bpKey(d.buildpack.id, d.buildpack.version)} already exists on builder with same contents, skipping...`,
          );
          continue;
        }
        add(l, `berth builder create: buildpack ${bpKey(d.buildpack.id, d.buildpack.version)}`);
        bpLayers[d.buildpack.id] ??= {};
        bpLayers[d.buildpack.id]![d.buildpack.version] = moduleLayerInfo(d, l.diffId);
        o.logger.debug(`Adding buildpack ${bpKey(d.buildpack.id, d.buildpack.version)} (diffID=${l.diffId})`);
      }
      const extLayers = await addExtensionLayers(base, exts, layerTmp, add, o.logger);
      add(
        await fileLayer(join(layerTmp, "order.tar"), {
          files: [{ path: "cnb/order.toml", content: encodeOrder(resolved, exts.orderExtensions) }],
        }),
        "berth builder create: /cnb/order.toml",
      );
      if (hasSystem(system)) {
        add(
          await fileLayer(join(layerTmp, "system.tar"), {
            files: [{ path: "cnb/system.toml", content: systemToml(system) }],
          }),
          "berth builder create: /cnb/system.toml",
        );
      }
      const runImages = config.runImages;
      const stackRun = config.stack.runImage
        ? { image: config.stack.runImage, mirrors: config.stack.runImageMirrors ?? [] }
        : runImages[0];
      add(
        await fileLayer(join(layerTmp, "stack.tar"), {
          files: [{ path: "cnb/stack.toml", content: encodeStack(stackRun) }],
        }),
        "berth builder create: /cnb/stack.toml",
      );
      add(
        await fileLayer(join(layerTmp, "run.tar"), {
          files: [{ path: "cnb/run.toml", content: encodeRun(runImages) }],
        }),
        "berth builder create: /cnb/run.toml",
      );
      const envFiles = buildConfigEnvFiles(config.buildEnv);
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
      const prevMeta = labelJson<BuilderMetadata>(
        base,
        BUILDER_METADATA_LABEL,
        `build image ${buildImage.text}`,
      );
      const infos = [...(prevMeta?.buildpacks ?? [])];
      for (const b of loaded) {
        const mi = moduleInfo(b.descriptor);
        if (!infos.some((x) => x.id === mi.id && x.version === mi.version)) infos.push(mi);
      }
      metadata = {
        description: config.description,
        buildpacks: infos,
        extensions: extensionInfos(prevMeta, exts),
        stack: {
          runImage: {
            image: stackRun?.image ?? "",
            mirrors: stackRun?.mirrors?.length ? stackRun.mirrors : null,
          },
        },
        // A label never claims a lifecycle the builder does not carry (issue 14).
        lifecycle: lifecycle ? lifecycleLabel(lifecycle.descriptor) : NO_LIFECYCLE_LABEL,
        createdBy: { name: "berth", version: BERTH_VERSION },
        images: runImages.map((r) => ({ image: r.image, mirrors: r.mirrors?.length ? r.mirrors : null })),
      };
      const labels: Record<string, string> = {
        [BUILDPACK_LAYERS_LABEL]: JSON.stringify(bpLayers),
        [ORDER_LABEL]: JSON.stringify(orderJson(config.order)),
        [ORDER_EXTENSIONS_LABEL]: exts.orderExtensions.length
          ? JSON.stringify(orderJson(config.orderExtensions))
          : "null",
        ...(extLayers ? { [EXTENSION_LAYERS_LABEL]: JSON.stringify(extLayers) } : {}),
        [BUILDER_METADATA_LABEL]: JSON.stringify(metadata),
        [MIXINS_LABEL]: labelsOf(base)[MIXINS_LABEL] ?? "null",
        ...(hasSystem(system) ? { [SYSTEM_LABEL]: systemLabel(system) } : {}),
        ...(o.labels ?? {}),
      };
      return {
        layers,
        config: (c) => ({ ...c, WorkingDir: "/layers", Labels: { ...(c.Labels ?? {}), ...labels } }),
        created: base.config?.created ?? "1970-01-01T00:00:00Z",
      };
    });
    return {
      ...result,
      metadata: metadata!,
      lifecycle: lifecycle?.descriptor,
      buildpacks: unique,
      order: resolved,
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
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
 * `dir`, and read `/cnb/order.toml` (else the order label), `/cnb/run.toml` and the buildpacks.
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
  const runText = await root.readText("cnb/run.toml");
  const runImages =
    runText !== undefined
      ? parseRun(runText, `${info.name}:/cnb/run.toml`)
      : (info.metadata?.images ?? []).map((r) => ({ image: r.image, mirrors: r.mirrors ?? [] }));
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
  const opened = await openImage(arg, ctx, platform);
  try {
    const builder = await extractBuilder(readBuilderInfo(opened.image, opened.text), dir);
    return { ...builder, close: () => opened.close() };
  } catch (err) {
    await opened.close();
    throw err;
  }
}
