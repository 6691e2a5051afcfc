/**
 * The buildpacks' layers (lc:phase/exporter.go addBuildpackLayers): per buildpack in group order, each
 * `<layer>.toml` by name; launch layers go to the image (one with no directory is the previous image's, reused),
 * cache layers to the cache; then the launch and cache SBOM layers.
 */
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../../../errors.ts";
import { planLayer } from "../../../layer/walk.ts";
import { ConfinedTree } from "../../../util/confined.ts";
import { escapeId } from "../../buildpack/descriptor.ts";
import type { GroupEntry } from "../../files/group.ts";
import type { BuildpackLayersRecord, LayerRecord } from "../../files/labels.ts";
import { type LayerToml, readLayerTomls } from "../../files/layer.ts";
import { readStore } from "../../files/store.ts";
import { addLayer, type ExportContext } from "./context.ts";

export interface BuildpackLayers {
  /** `io.buildpacks.lifecycle.metadata` `buildpacks`. */
  records: BuildpackLayersRecord[];
  /** The cache metadata's `buildpacks`, with every buildpack (those without cache layers are left out later). */
  cacheRecords: BuildpackLayersRecord[];
}

export async function buildpackLayers(x: ExportContext): Promise<BuildpackLayers> {
  const out: BuildpackLayers = { records: [], cacheRecords: [] };
  for (const bp of x.i.group) {
    const { record, cacheRecord } = await oneBuildpack(x, bp);
    out.records.push(record);
    out.cacheRecords.push(cacheRecord);
  }
  return out;
}

async function oneBuildpack(x: ExportContext, bp: GroupEntry) {
  const bpDir = join(x.i.layersDir, escapeId(bp.id));
  const record: BuildpackLayersRecord = { key: bp.id, version: bp.version, layers: {} };
  const cacheRecord: BuildpackLayersRecord = { key: bp.id, version: bp.version, layers: {} };
  const owner = `buildpack ${JSON.stringify(`${bp.id}@${bp.version}`)}`;
  const tree = new ConfinedTree(bpDir, { owner, name: "its layers directory" });
  const store = await readStore(tree, bpDir, owner);
  if (store) record.store = { metadata: store };
  const tomls = await readLayerTomls(tree, bpDir, owner).catch((err) => {
    throw wrapError(`reading the layers of buildpack ${bp.id}`, err);
  });
  for (const t of tomls) {
    if (!t.launch && !t.cache) continue;
    const rec: LayerRecord = {
      sha: "",
      data: t.metadata ?? null,
      build: t.build,
      launch: t.launch,
      cache: t.cache,
    };
    const hostDir = join(bpDir, t.name);
    if (!(await isDir(hostDir, owner))) {
      if (!t.launch) continue;
      rec.sha = reuseLayer(x, bp, t);
      record.layers[t.name] = rec;
      continue;
    }
    const o = await x.maker.make({
      name: `${bp.id}:${t.name}`,
      fingerprint: { sources: [{ source: hostDir, dest: layerPath(x, bp, t) }], salt: x.planSalt },
      entries: () => planLayer([{ source: hostDir, dest: layerPath(x, bp, t) }], x.plan),
      image: t.launch,
      cache: t.cache && x.i.cache !== undefined,
      likelyUnchanged:
        x.i.previous?.metadata.buildpacks?.find((b) => b.key === bp.id)?.layers?.[t.name] !== undefined ||
        x.cacheMeta?.buildpacks.find((b) => b.key === bp.id)?.layers?.[t.name] !== undefined,
    });
    rec.sha = o.diffId;
    if (o.layer) {
      addLayer(x, o.layer, createdBy(bp, t));
      record.layers[t.name] = rec;
    }
    if (t.cache && x.i.cache) {
      cacheRecord.layers[t.name] = rec;
      if (o.cacheFiles) x.cacheFiles.push(o.cacheFiles);
    }
  }
  return { record, cacheRecord };
}

const layerPath = (x: ExportContext, bp: GroupEntry, t: LayerToml) =>
  `${x.layersPath}/${escapeId(bp.id)}/${t.name}`;
const createdBy = (bp: GroupEntry, t: LayerToml) =>
  `Layer: '${t.name}', Created by buildpack: ${bp.id}@${bp.version}`;

/** A launch layer with metadata but no directory: the previous image's layer, reused. Returns its diffID. */
function reuseLayer(x: ExportContext, bp: GroupEntry, t: LayerToml): string {
  const name = `${bp.id}:${t.name}`;
  if (t.cache) {
    throw new BerthError(
      "CNB_EXPORT_FAILED",
      `exporting layer '${name}': it is a cache layer with no contents (the buildpack wrote ${t.name}.toml but no ${t.name}/ directory)`,
    );
  }
  const prevSha = x.i.previous?.metadata.buildpacks?.find((b) => b.key === bp.id)?.layers?.[t.name]?.sha;
  const prevLayer = prevSha ? x.maker.previousLayer(prevSha) : undefined;
  if (!prevSha || !prevLayer) {
    throw new BerthError(
      "CNB_EXPORT_FAILED",
      `exporting layer '${name}': there is no directory to export and the previous image has no such layer to reuse`,
    );
  }
  x.i.log?.(`Reusing layer '${name}'`);
  x.maker.stats.reused++;
  addLayer(x, prevLayer, createdBy(bp, t));
  return prevSha;
}

/** The launch SBOM layer (image) and the cache SBOM layer (cache only; lc:phase/cache.go addSBOMCacheLayer). */
export async function sbomLayers(
  x: ExportContext,
): Promise<{ launch?: { sha: string }; cache?: { sha: string } }> {
  const out: { launch?: { sha: string }; cache?: { sha: string } } = {};
  const sbom = (kind: "launch" | "cache", likelyUnchanged: boolean) => {
    const source = join(x.i.layersDir, "sbom", kind);
    const dest = `${x.layersPath}/sbom/${kind}`;
    return x.maker.make({
      name: `buildpacksio/lifecycle:${kind}.sbom`,
      fingerprint: { sources: [{ source, dest }], salt: x.planSalt },
      entries: () => planLayer([{ source, dest }], x.plan),
      image: kind === "launch",
      cache: kind === "cache",
      likelyUnchanged,
    });
  };
  if (await isDir(join(x.i.layersDir, "sbom", "launch"))) {
    const o = await sbom("launch", x.i.previous?.metadata.sbom !== undefined);
    addLayer(x, o.layer, "Software Bill-of-Materials");
    out.launch = { sha: o.diffId };
  }
  if (x.i.cache && (await isDir(join(x.i.layersDir, "sbom", "cache")))) {
    const o = await sbom("cache", x.cacheMeta?.sbom !== undefined);
    if (o.cacheFiles) x.cacheFiles.push(o.cacheFiles);
    out.cache = { sha: o.diffId };
  }
  return out;
}

/**
 * Whether `p` is a directory to export. A symlink is never one: it is refused when `owner` (the buildpack
 * that left it) is given, as a layer directory must be the buildpack's own, and else taken as no directory.
 */
export async function isDir(p: string, owner?: string): Promise<boolean> {
  const st = await lstat(p).catch(() => undefined);
  if (st?.isSymbolicLink() && owner) {
    throw new BerthError(
      "UNSAFE_PATH",
      `${owner}: ${p} is a symlink, where a layer directory was expected; berth does not export through it`,
      { details: { owner, path: p } },
    );
  }
  return st?.isDirectory() ?? false;
}
