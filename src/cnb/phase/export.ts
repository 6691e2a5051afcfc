/**
 * The export phase (Platform API §exporter; lc:phase/exporter.go): the app image is the run image's layers,
 * then one layer per launch layer (buildpacks in group order, layers by name), the launch SBOM layer, the app
 * layers (slices, then the rest), the launcher, the launch config and the process-type links, with the
 * lifecycle's labels and launch configuration; and the cache gets the cache layers.
 *
 * No wasted work: each layer's host files are fingerprinted (stat only); a known fingerprint gives the diffID
 * without tarring. A diffID the previous image already has is reused as that image's blob; one the layer
 * index knows is reused as the blob an earlier export wrote; only the rest is tarred and compressed, in one
 * pass that also writes the uncompressed cache tar when the cache needs it.
 *
 * Every layer tar is written as the lifecycle's layer writer writes it (absolute entry names, no trailing `/`
 * on directories; USTAR headers, no user or group names), so that the same files give the same diffID.
 */
import { createReadStream } from "node:fs";
import { lstat, mkdir, mkdtemp, symlink } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import { comparePaths, dirName } from "../../layer/entry.ts";
import { type LayerSource, type PlannedEntry, planLayer } from "../../layer/walk.ts";
import { type BlobSource, verified } from "../../oci/blob.ts";
import type { History, ImageConfig } from "../../oci/config.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import type { Digest } from "../../oci/digest.ts";
import type { Image } from "../../oci/image.ts";
import { isDocker } from "../../oci/mediatype.ts";
import { setEnv } from "../../oci/mutate.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { apiAtLeast } from "../api.ts";
import { escapeId } from "../buildpack/descriptor.ts";
import type { Cache, CacheLayerFiles } from "../cache/cache.ts";
import { type FingerprintSource, type LayerIndex, statFingerprint } from "../cache/fingerprint.ts";
import type { GroupEntry } from "../files/group.ts";
import {
  type BuildMetadataLabel,
  type BuildpackLayersRecord,
  type CacheMetadata,
  LABEL,
  type LayerRecord,
  type LayersMetadata,
  type ProcessLabel,
} from "../files/labels.ts";
import type { Process } from "../files/launch.ts";
import { readLayerTomls } from "../files/layer.ts";
import { readMetadata } from "../files/metadata.ts";
import { readStore } from "../files/store.ts";
import type { Table } from "../toml.ts";
import { type AssembledImage, type AssembledLayer, assembleImage } from "./assemble.ts";
import { type Produced, produceLayer } from "./produce.ts";

/** 1980-01-01T00:00:01Z: the lifecycle's time for layer entries and, unless asked otherwise, the image. */
export const LIFECYCLE_EPOCH = 315532801;
export const DEFAULT_CREATED = "1980-01-01T00:00:01Z";

/** The run image the app goes on. */
export interface RunImageInput {
  image: Image;
  /** What to pull it by, pinned: `registry/repo@sha256:…` (or the store name with digest). */
  reference: string;
  /** The name as configured (run.toml `image`, or `--run-image`). */
  name: string;
  mirrors?: string[];
}

/** The image being replaced (default: the image being built), for layer reuse. */
export interface PreviousImage {
  image: Image;
  metadata: LayersMetadata;
}

/** The launcher placed at /cnb/lifecycle/launcher. */
export interface LauncherInput {
  /** "lifecycle": the builder's CNB launcher; "berth": berth's own. Both read `<layers>/config/metadata.toml`. */
  kind: "lifecycle" | "berth";
  /** A host file holding the binary. */
  path: string;
  version: string;
  source?: { repository: string; commit: string };
}

export interface ExportInputs {
  /** Host directory of `<layers>`. */
  layersDir: string;
  /** Host directory of `<app>`. */
  appDir: string;
  group: readonly GroupEntry[];
  runImage: RunImageInput;
  /** The builder's run images (run.toml), recorded as the lifecycle's exporter records them (runImageForExport). */
  runImages?: readonly { image: string; mirrors?: string[] }[];
  previous?: PreviousImage;
  /** The cache to fill (undefined: no cache). */
  cache?: Cache;
  /** Fingerprint → diffID → blob maps. */
  index: LayerIndex;
  /** Where new blobs and cache tars are written until saved. */
  workDir: string;
  launcher: LauncherInput;
  /** Owner of the layers and app files (CNB_USER_ID / CNB_GROUP_ID of the build image). */
  uid: number;
  gid: number;
  /** RFC 3339; default 1980-01-01T00:00:01Z. */
  created?: string;
  /** Overrides the buildpacks' default process (`--default-process`). */
  defaultProcess?: string;
  /** `io.buildpacks.project.metadata`. */
  projectMetadata?: Table;
  platformApi: string;
  /** Other places that may hold a blob the layer index knows (the local store, the destination). */
  blobHolders?: readonly BlobHolder[];
  /** Image paths; defaults /layers and /workspace. */
  layersPath?: string;
  appPath?: string;
  log?: (line: string) => void;
  warn?: (line: string) => void;
  signal?: AbortSignal;
}

export interface BlobHolder {
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Serves the blob, or undefined when the holder is the destination itself (the copy then skips it). */
  source: BlobSource | undefined;
}

export interface ExportStats {
  /** Layers reused from the previous image. */
  reused: number;
  /** Layers new to the image (written now, or found as blobs an earlier export wrote). */
  added: number;
  /** Layers tarred and compressed now. */
  tarsWritten: number;
  /** Layers whose tar was only hashed (fingerprint unknown, content unchanged). */
  hashedOnly: number;
  /** Layers whose fingerprint gave the diffID without reading them. */
  fingerprintHits: number;
  /** Compressed bytes written. */
  bytesWritten: number;
  cacheReused: number;
  cacheAdded: number;
}

export interface ExportResult {
  image: AssembledImage;
  metadata: LayersMetadata;
  buildMetadata: BuildMetadataLabel;
  defaultProcess: string | undefined;
  /** What the cache should hold after this build (nothing when there is no cache). */
  cache: { metadata: CacheMetadata; layers: CacheLayerFiles[] } | undefined;
  /** New blobs (diffID → descriptor), to remember once the image is saved. */
  newBlobs: { diffId: Digest; descriptor: Descriptor }[];
  stats: ExportStats;
}

/** A layer of the app image or the cache, before its diffID is known. */
interface LayerJob {
  /** As pack names it: `bp/id:layer`, `buildpacksio/lifecycle:launcher`, `slice-1`… */
  name: string;
  fingerprint: { sources: FingerprintSource[]; salt: string } | { key: string };
  entries: () => Promise<PlannedEntry[]>;
  image: boolean;
  cache: boolean;
  /** Whether the content is likely unchanged (a previous record exists): hash before compressing. */
  likelyUnchanged: boolean;
  history: History;
}

interface LayerOutcome {
  diffId: Digest;
  layer?: AssembledLayer;
  reused: boolean;
  cacheFiles?: CacheLayerFiles;
  cacheReused: boolean;
}

/** The exporter: built from resolved inputs, `export()` returns the image and the cache contents. */
export class Exporter {
  readonly inputs: ExportInputs;
  readonly stats: ExportStats = {
    reused: 0,
    added: 0,
    tarsWritten: 0,
    hashedOnly: 0,
    fingerprintHits: 0,
    bytesWritten: 0,
    cacheReused: 0,
    cacheAdded: 0,
  };
  #previousByDiff = new Map<Digest, { descriptor: Descriptor; source: BlobSource }>();
  #cacheDiffIds = new Set<Digest>();
  #newBlobs: { diffId: Digest; descriptor: Descriptor }[] = [];

  constructor(inputs: ExportInputs) {
    this.inputs = inputs;
    const prev = inputs.previous?.image;
    if (prev?.config) {
      prev.manifest.layers.forEach((d, i) => {
        const diffId = prev.config!.rootfs.diff_ids[i];
        if (diffId) this.#previousByDiff.set(diffId, { descriptor: d, source: prev.source });
      });
    }
  }

  #log(line: string): void {
    this.inputs.log?.(line);
  }

  async export(): Promise<ExportResult> {
    const i = this.inputs;
    const layersPath = i.layersPath ?? "/layers";
    const appPath = i.appPath ?? "/workspace";
    const created = i.created ?? DEFAULT_CREATED;
    const cacheMeta = i.cache ? await i.cache.metadata() : undefined;
    if (cacheMeta) {
      for (const bp of cacheMeta.buildpacks) {
        for (const l of Object.values(bp.layers ?? {})) if (l.sha) this.#cacheDiffIds.add(l.sha);
      }
    }
    const prevMeta = i.previous?.metadata;
    const result = await readMetadata(i.layersDir).catch((err) => {
      throw wrapError("reading the build metadata", err);
    });
    const out: AssembledLayer[] = [];
    const history: History[] = [];
    const cacheFiles: CacheLayerFiles[] = [];
    const bpRecords: BuildpackLayersRecord[] = [];
    const cacheRecords: BuildpackLayersRecord[] = [];
    const tmp = await mkdtemp(join(i.workDir, "export-"));
    const plan = { uid: i.uid, gid: i.gid, mtime: LIFECYCLE_EPOCH };
    const planSalt = `${i.uid}:${i.gid}:${LIFECYCLE_EPOCH}`;

    // 1. The buildpacks' launch layers, in group order, each buildpack's by name.
    for (const bp of i.group) {
      const dirName = escapeId(bp.id);
      const bpDir = join(i.layersDir, dirName);
      const record: BuildpackLayersRecord = { key: bp.id, version: bp.version, layers: {} };
      const cacheRecord: BuildpackLayersRecord = { key: bp.id, version: bp.version, layers: {} };
      const owner = `buildpack ${JSON.stringify(`${bp.id}@${bp.version}`)}`;
      const tree = new ConfinedTree(bpDir, { owner, name: "its layers directory" });
      const store = await readStore(tree, bpDir, owner);
      if (store) record.store = { metadata: store };
      const prevBp = prevMeta?.buildpacks?.find((b) => b.key === bp.id);
      const tomls = await readLayerTomls(tree, bpDir, owner).catch((err) => {
        throw wrapError(`reading the layers of buildpack ${bp.id}`, err);
      });
      for (const t of tomls) {
        if (!t.launch && !t.cache) continue;
        const name = `${bp.id}:${t.name}`;
        const hostDir = join(bpDir, t.name);
        const dest = `${layersPath}/${dirName}/${t.name}`;
        const hasDir = await isDir(hostDir, owner);
        const rec: LayerRecord = {
          sha: "",
          data: t.metadata ?? null,
          build: t.build,
          launch: t.launch,
          cache: t.cache,
        };
        if (!hasDir) {
          if (!t.launch) continue;
          if (t.cache) {
            throw new BerthError(
              "CNB_EXPORT_FAILED",
              `exporting layer '${name}': it is a cache layer with no contents (the buildpack wrote ${t.name}.toml but no ${t.name}/ directory)`,
            );
          }
          const prevSha = prevBp?.layers?.[t.name]?.sha;
          const prevLayer = prevSha ? this.#previousByDiff.get(prevSha) : undefined;
          if (!prevSha || !prevLayer) {
            throw new BerthError(
              "CNB_EXPORT_FAILED",
              `exporting layer '${name}': there is no directory to export and the previous image has no such layer to reuse`,
            );
          }
          this.#log(`Reusing layer '${name}'`);
          this.stats.reused++;
          out.push({ descriptor: prevLayer.descriptor, diffId: prevSha, from: prevLayer.source });
          history.push({
            created,
            created_by: `Layer: '${t.name}', Created by buildpack: ${bp.id}@${bp.version}`,
          });
          rec.sha = prevSha;
          record.layers[t.name] = rec;
          continue;
        }
        const job: LayerJob = {
          name,
          fingerprint: { sources: [{ source: hostDir, dest }], salt: planSalt },
          entries: () => planLayer([{ source: hostDir, dest }], plan),
          image: t.launch,
          cache: t.cache && i.cache !== undefined,
          likelyUnchanged:
            prevBp?.layers?.[t.name] !== undefined ||
            cacheMeta?.buildpacks.find((b) => b.key === bp.id)?.layers?.[t.name] !== undefined,
          history: {
            created,
            created_by: `Layer: '${t.name}', Created by buildpack: ${bp.id}@${bp.version}`,
          },
        };
        const o = await this.#layer(job, tmp);
        rec.sha = o.diffId;
        if (o.layer) {
          out.push(o.layer);
          history.push(job.history);
          record.layers[t.name] = rec;
        }
        if (t.cache && i.cache) {
          cacheRecord.layers[t.name] = rec;
          if (o.cacheFiles) cacheFiles.push(o.cacheFiles);
        }
      }
      bpRecords.push(record);
      cacheRecords.push(cacheRecord);
    }

    const metadata: LayersMetadata = {};

    // 2. The launch SBOM layer.
    const sbomDir = join(i.layersDir, "sbom", "launch");
    if (await isDir(sbomDir)) {
      const dest = `${layersPath}/sbom/launch`;
      const o = await this.#layer(
        {
          name: "buildpacksio/lifecycle:launch.sbom",
          fingerprint: { sources: [{ source: sbomDir, dest }], salt: planSalt },
          entries: () => planLayer([{ source: sbomDir, dest }], plan),
          image: true,
          cache: false,
          likelyUnchanged: prevMeta?.sbom !== undefined,
          history: { created, created_by: "Software Bill-of-Materials" },
        },
        tmp,
      );
      out.push(o.layer!);
      history.push({ created, created_by: "Software Bill-of-Materials" });
      metadata.sbom = { sha: o.diffId };
    }

    // 2b. The cache SBOM layer (cache only; lc:phase/cache.go addSBOMCacheLayer).
    let cacheSbom: { sha: string } | undefined;
    const cacheSbomDir = join(i.layersDir, "sbom", "cache");
    if (i.cache && (await isDir(cacheSbomDir))) {
      const dest = `${layersPath}/sbom/cache`;
      const o = await this.#layer(
        {
          name: "buildpacksio/lifecycle:cache.sbom",
          fingerprint: { sources: [{ source: cacheSbomDir, dest }], salt: planSalt },
          entries: () => planLayer([{ source: cacheSbomDir, dest }], plan),
          image: false,
          cache: true,
          likelyUnchanged: cacheMeta?.sbom !== undefined,
          history: { created, created_by: "Layer: 'cache.sbom', Created by lifecycle" },
        },
        tmp,
      );
      if (o.cacheFiles) cacheFiles.push(o.cacheFiles);
      cacheSbom = { sha: o.diffId };
    }

    // 3. The app: one layer per slice, then the rest.
    metadata.app = await this.#appLayers(result.slices, appPath, plan, planSalt, created, out, history, tmp);

    // 4. The launcher, the launch config, the process types.
    const processes = result.processes;
    let defaultProcess = result.buildpackDefaultProcessType;
    if (i.defaultProcess !== undefined) {
      if (processes.some((p) => p.type === i.defaultProcess)) defaultProcess = i.defaultProcess;
      else {
        i.warn?.(
          `default process type '${i.defaultProcess}' not present in list [${processes.map((p) => p.type).join(" ")}]`,
        );
        defaultProcess = undefined;
      }
    } else if (defaultProcess && !processes.some((p) => p.type === defaultProcess)) {
      defaultProcess = undefined;
    }
    const launcher = await this.#layer(
      {
        name: "buildpacksio/lifecycle:launcher",
        fingerprint: {
          sources: [{ source: i.launcher.path, dest: "/cnb/lifecycle/launcher" }],
          salt: "root",
        },
        entries: () =>
          planLayer([{ source: i.launcher.path, dest: "/cnb/lifecycle/launcher" }], {
            mtime: LIFECYCLE_EPOCH,
          }),
        image: true,
        cache: false,
        likelyUnchanged: true,
        history: { created, created_by: "Buildpacks Application Launcher" },
      },
      tmp,
    );
    out.push(launcher.layer!);
    history.push({ created, created_by: "Buildpacks Application Launcher" });
    metadata.launcher = { sha: launcher.diffId };

    const configSources: LayerSource[] = [];
    const configDir = join(i.layersDir, "config");
    if (await isDir(configDir)) configSources.push({ source: configDir, dest: `${layersPath}/config` });
    const config = await this.#layer(
      {
        name: "buildpacksio/lifecycle:config",
        fingerprint: {
          sources: configSources.map((s) => ({ source: s.source, dest: s.dest ?? "/" })),
          salt: planSalt,
        },
        entries: () => planLayer(configSources, plan),
        image: true,
        cache: false,
        likelyUnchanged: true,
        history: { created, created_by: "Buildpacks Launcher Config" },
      },
      tmp,
    );
    out.push(config.layer!);
    history.push({ created, created_by: "Buildpacks Launcher Config" });
    metadata.config = { sha: config.diffId };

    if (processes.length > 0) {
      const ptDir = join(tmp, "process-types");
      await mkdir(ptDir, { recursive: true });
      for (const p of processes) await symlink("/cnb/lifecycle/launcher", join(ptDir, p.type));
      // "2": the tar format (absolute names since 2026-12); a key of the old format must not give its diffID.
      const key = `process-types 2:${processes.map((p) => p.type).join("\0")}`;
      const pt = await this.#layer(
        {
          name: "buildpacksio/lifecycle:process-types",
          fingerprint: { key },
          entries: () => planLayer([{ source: ptDir, dest: "/cnb/process" }], { mtime: LIFECYCLE_EPOCH }),
          image: true,
          cache: false,
          likelyUnchanged: true,
          history: { created, created_by: "Buildpacks Process Types" },
        },
        tmp,
      );
      out.push(pt.layer!);
      history.push({ created, created_by: "Buildpacks Process Types" });
      metadata["process-types"] = { sha: pt.diffId };
    }

    metadata.buildpacks = bpRecords;
    const run = i.runImage;
    const runDiffIds = run.image.config?.rootfs.diff_ids ?? [];
    const topLayer = runDiffIds[runDiffIds.length - 1] ?? "";
    const forExport = runImageForExport(run.name, i.runImages ?? [], i.platformApi);
    metadata.runImage = {
      topLayer,
      reference: run.reference,
      ...(apiAtLeast(i.platformApi, "0.12") ? forExport : {}),
    };
    metadata.stack = { runImage: forExport };

    // Field order and omissions as lc:platform/files.BuildMetadata marshals it: `bom` only below Platform API 0.9
    // (berth records no legacy BOM there: null), the buildpacks' default process type when one was set.
    const buildMetadata: BuildMetadataLabel = {
      ...(apiAtLeast(i.platformApi, "0.9") ? {} : { bom: null }),
      buildpacks: i.group.map((b) => ({
        id: b.id,
        version: b.version,
        ...(b.homepage ? { homepage: b.homepage } : {}),
      })),
      launcher: {
        version: i.launcher.version,
        source: {
          git: { repository: i.launcher.source?.repository ?? "", commit: i.launcher.source?.commit ?? "" },
        },
      },
      processes: processes.map(labelProcess),
      ...(result.buildpackDefaultProcessType
        ? { "buildpack-default-process-type": result.buildpackDefaultProcessType }
        : {}),
    };

    // 5. The image config.
    const base = run.image.imageConfig();
    const cfg: ImageConfig = structuredClone(base);
    cfg.created = created;
    cfg.history = [...(base.history ?? []), ...history];
    const c = { ...(cfg.config ?? {}) };
    const basePath = (c.Env ?? []).find((e) => e.startsWith("PATH="))?.slice(5);
    c.Env = setEnv(c.Env, [
      `CNB_LAYERS_DIR=${layersPath}`,
      `CNB_APP_DIR=${appPath}`,
      `CNB_PLATFORM_API=${i.platformApi}`,
      "CNB_DEPRECATION_MODE=quiet",
      `PATH=/cnb/process:/cnb/lifecycle${basePath ? `:${basePath}` : ""}`,
    ]);
    if (defaultProcess) this.#log(`Setting default process type '${defaultProcess}'`);
    else this.#log("no default process type");
    c.Entrypoint = [defaultProcess ? `/cnb/process/${defaultProcess}` : "/cnb/lifecycle/launcher"];
    c.Cmd = null;
    c.WorkingDir = appPath;
    const labels: Record<string, string> = { ...(c.Labels ?? {}) };
    for (const l of result.labels) labels[l.key] = l.value;
    const set = (k: string, v: string) => {
      this.#log(`Adding label '${k}'`);
      labels[k] = v;
    };
    set(LABEL.lifecycle, JSON.stringify(metadata));
    set(LABEL.build, JSON.stringify(buildMetadata));
    set(LABEL.project, JSON.stringify(i.projectMetadata ?? {}));
    c.Labels = labels;
    cfg.config = c;

    const image = assembleImage(
      cfg,
      [
        ...run.image
          .layers()
          .map((l, k) => ({ descriptor: l.descriptor, diffId: runDiffIds[k]!, from: run.image.source })),
        ...out,
      ],
      { docker: isDocker(run.image.mediaType) },
    );

    let cache: ExportResult["cache"];
    if (i.cache)
      cache = {
        metadata: {
          ...(cacheSbom ? { sbom: cacheSbom } : {}),
          buildpacks: cacheRecords.filter((b) => Object.keys(b.layers).length > 0),
        },
        layers: cacheFiles,
      };
    return {
      image,
      metadata,
      buildMetadata,
      defaultProcess,
      cache,
      newBlobs: this.#newBlobs,
      stats: this.stats,
    };
  }

  /** The app layers: slices (in order), then everything else; returns their diffIDs. */
  async #appLayers(
    slices: { paths: string[] }[],
    appPath: string,
    plan: { uid: number; gid: number; mtime: number },
    planSalt: string,
    created: string,
    out: AssembledLayer[],
    history: History[],
    tmp: string,
  ): Promise<{ sha: string }[]> {
    const i = this.inputs;
    const src: FingerprintSource[] = [{ source: i.appDir, dest: appPath }];
    const salt = `${planSalt}:${JSON.stringify(slices)}`;
    const fp = await statFingerprint(src, salt);
    let parts: PlannedEntry[][] | undefined;
    const partsOf = async () => {
      parts ??= sliceEntries(await planLayer([{ source: i.appDir, dest: appPath }], plan), appPath, slices);
      return parts;
    };
    const count = slices.length + 1;
    const shas: { sha: string }[] = [];
    const prevApp = new Set((i.previous?.metadata.app ?? []).map((a) => a.sha));
    let reused = 0;
    let quiet = true;
    for (let k = 0; k < count; k++) {
      const name = k < slices.length ? `slice-${k + 1}` : "app";
      // The lifecycle's words (layers/slices.go): slices and the rest are "Application Slice: N" (from 1), or
      // one "Application Layer" when there are no slices.
      const createdBy = count === 1 ? "Application Layer" : `Application Slice: ${k + 1}`;
      const o = await this.#layer(
        {
          name,
          fingerprint: { key: `${fp}:${k}` },
          entries: async () => (await partsOf())[k]!,
          image: true,
          cache: false,
          likelyUnchanged: prevApp.size > 0,
          history: { created, created_by: createdBy },
        },
        tmp,
        quiet,
      );
      if (o.reused) reused++;
      out.push(o.layer!);
      history.push({ created, created_by: createdBy });
      shas.push({ sha: o.diffId });
    }
    quiet = false;
    if (reused > 0) this.#log(`Reused ${reused}/${count} app layer(s)`);
    if (count - reused > 0) this.#log(`Added ${count - reused}/${count} app layer(s)`);
    return shas;
  }

  /** Find or make one layer: for the image (a blob) and/or the cache (a tar or a blob). */
  async #layer(job: LayerJob, tmp: string, quiet = false): Promise<LayerOutcome> {
    const i = this.inputs;
    const fpKey =
      "key" in job.fingerprint
        ? job.fingerprint.key
        : await statFingerprint(job.fingerprint.sources, job.fingerprint.salt);
    let diffId = await i.index.lookup(fpKey);
    let produced: Produced | undefined;
    let entries: PlannedEntry[] | undefined;
    const getEntries = async () => {
      entries ??= await job.entries();
      return entries;
    };
    try {
      if (diffId) this.stats.fingerprintHits++;
      else if (job.likelyUnchanged) {
        produced = await produceLayer(await getEntries(), {
          tar: false,
          blob: false,
          dir: tmp,
          names: "absolute",
          ...signalOf(i),
        });
        diffId = produced.diffId;
        produced = undefined;
        this.stats.hashedOnly++;
      }
      let imageLayer: AssembledLayer | undefined;
      let reused = false;
      if (job.image && diffId) imageLayer = await this.#existingBlob(diffId);
      if (imageLayer && this.#previousByDiff.has(diffId!)) reused = true;
      const cacheWantsTar = job.cache && i.cache?.wants === "tar";
      const cacheWantsBlob = job.cache && i.cache?.wants === "blob";
      const cacheHas = job.cache && diffId !== undefined && (await i.cache!.hasLayer(diffId));
      const needTar = cacheWantsTar && !cacheHas;
      let cacheBlob = cacheWantsBlob && !cacheHas ? imageLayer : undefined;
      if (cacheWantsBlob && !cacheHas && !cacheBlob && diffId) cacheBlob = await this.#existingBlob(diffId);
      const needBlob = (job.image && !imageLayer) || (cacheWantsBlob && !cacheHas && !cacheBlob);
      if (needTar || needBlob) {
        produced = await produceLayer(await getEntries(), {
          tar: needTar,
          blob: needBlob,
          dir: tmp,
          names: "absolute",
          ...signalOf(i),
        });
        this.stats.tarsWritten++;
        if (diffId && produced.diffId !== diffId) {
          throw new BerthError(
            "CNB_EXPORT_FAILED",
            `layer '${job.name}' changed while it was exported (${diffId} then ${produced.diffId})`,
          );
        }
        diffId = produced.diffId;
        if (produced.blob) {
          this.stats.bytesWritten += produced.blob.size;
          const existing = await this.#existingBlob(diffId);
          if (existing) {
            imageLayer ??= existing;
            // An image cache needs the blob too (it had none when the blob turned out to exist already).
            if (cacheWantsBlob) cacheBlob ??= existing;
            if (this.#previousByDiff.has(diffId)) reused = true;
          } else {
            const descriptor: Descriptor = {
              mediaType: produced.blob.mediaType,
              digest: produced.blob.digest,
              size: produced.blob.size,
            };
            const fresh: AssembledLayer = { descriptor, diffId, from: { file: produced.blob.path } };
            this.#newBlobs.push({ diffId, descriptor });
            imageLayer ??= fresh;
            if (cacheWantsBlob) cacheBlob ??= fresh;
          }
        }
      }
      if (!diffId) throw new BerthError("INTERNAL", `layer '${job.name}': no diffID`);
      await i.index.remember(fpKey, diffId);
      const outcome: LayerOutcome = { diffId, reused, cacheReused: false };
      if (job.image) {
        if (!imageLayer) throw new BerthError("INTERNAL", `layer '${job.name}': no blob`);
        outcome.layer = imageLayer;
        if (reused) this.stats.reused++;
        else this.stats.added++;
        if (!quiet) this.#log(`${reused ? "Reusing" : "Adding"} layer '${job.name}'`);
      }
      if (job.cache && i.cache) {
        outcome.cacheReused = cacheHas;
        const files: CacheLayerFiles = { diffId };
        if (produced?.tarPath) files.tarPath = produced.tarPath;
        if (cacheBlob) {
          files.blob = {
            descriptor: cacheBlob.descriptor,
            source: "file" in cacheBlob.from ? fileSource(cacheBlob.from.file) : cacheBlob.from,
          };
        }
        outcome.cacheFiles = files;
        if (cacheHas) this.stats.cacheReused++;
        else this.stats.cacheAdded++;
      }
      return outcome;
    } catch (err) {
      throw wrapError(`exporting layer '${job.name}'`, err);
    }
  }

  /** A blob with this diffID that is already somewhere: the previous image, or where an earlier export put it. */
  async #existingBlob(diffId: Digest): Promise<AssembledLayer | undefined> {
    const prev = this.#previousByDiff.get(diffId);
    if (prev) return { descriptor: prev.descriptor, diffId, from: prev.source };
    const known = await this.inputs.index.blob(diffId);
    if (!known) return undefined;
    const descriptor: Descriptor = { mediaType: known.mediaType, digest: known.digest, size: known.size };
    for (const h of this.inputs.blobHolders ?? []) {
      if (await h.hasBlob(descriptor)) {
        return { descriptor, diffId, from: h.source ?? unavailable(descriptor) };
      }
    }
    return undefined;
  }
}

function signalOf(i: ExportInputs): { signal?: AbortSignal } {
  return i.signal ? { signal: i.signal } : {};
}

function unavailable(desc: Descriptor): BlobSource {
  return {
    openBlob: async () => {
      throw new BerthError("BLOB_NOT_FOUND", `blob ${desc.digest} was expected at the destination`);
    },
  };
}

function fileSource(path: string): BlobSource {
  return {
    openBlob: async (desc) => verified(createReadStream(path), desc, `layer ${desc.digest}`),
  };
}

/**
 * Whether `p` is a directory to export. A symlink is never one: it is refused when `owner` (the buildpack
 * that left it) is given, as a layer directory must be the buildpack's own, and else taken as no directory.
 */
async function isDir(p: string, owner?: string): Promise<boolean> {
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

/**
 * The run image the label records for rebase (lc:platform/run_image.go GetRunImageForExport): from Platform API
 * 0.12 the run.toml entry naming the run image used (by its image or a mirror), else run.toml's first; below 0.12
 * stack.toml's (the builder's first). `{}` when the builder lists none (so `--run-image` alone records no name).
 */
export function runImageForExport(
  used: string,
  runImages: readonly { image: string; mirrors?: string[] }[],
  platformApi: string,
): { image?: string; mirrors?: string[] } {
  const shape = (r: { image: string; mirrors?: string[] } | undefined) =>
    r
      ? { ...(r.image ? { image: r.image } : {}), ...(r.mirrors?.length ? { mirrors: [...r.mirrors] } : {}) }
      : {};
  if (!apiAtLeast(platformApi, "0.12")) return shape(runImages[0]);
  const bare = (n: string) => n.replace(/@sha256:[0-9a-f]+$/, "");
  const found = runImages.find((r) => [r.image, ...(r.mirrors ?? [])].some((n) => bare(n) === bare(used)));
  return shape(found ?? runImages[0]);
}

/** The process as `io.buildpacks.build.metadata` shows it (lc launch.Process JSON). */
function labelProcess(p: Process): ProcessLabel {
  return {
    type: p.type,
    command: p.command,
    // Go's nil slice: a process without args is `null` there.
    args: p.args.length ? p.args : null,
    direct: p.direct,
    buildpackID: p.buildpackId,
    ...(p.workingDir ? { "working-dir": p.workingDir } : {}),
  };
}

/** Go's filepath.Match, as a regular expression over a path relative to the app. */
export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let k = 0; k < pattern.length; k++) {
    const ch = pattern[k]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && k + 1 < pattern.length) re += escapeRe(pattern[++k]!);
    else if (ch === "[") {
      const end = pattern.indexOf("]", k + 2);
      if (end < 0) re += "\\[";
      else {
        let cls = pattern.slice(k + 1, end);
        if (cls.startsWith("^")) cls = `^${cls.slice(1)}`;
        re += `[${cls.replaceAll("\\", "\\\\")}]`;
        k = end;
      }
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(ch: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * Split the app's entries into slices and the rest: a slice holds every entry matching one of its patterns
 * (a matched directory brings everything below it) that no earlier slice took, plus the directories above
 * them; the rest holds all the other entries and every directory.
 */
export function sliceEntries(
  all: readonly PlannedEntry[],
  appPath: string,
  slices: readonly { paths: string[] }[],
): PlannedEntry[][] {
  const base = appPath.replace(/^\/+|\/+$/g, "");
  const rel = (p: string) =>
    p === base ? "" : p.startsWith(`${base}/`) ? p.slice(base.length + 1) : undefined;
  const taken = new Set<string>();
  const byPath = new Map(all.map((e) => [e.header.path, e]));
  const out: PlannedEntry[][] = [];
  for (const s of slices) {
    const res = s.paths.map((p) => globToRegExp(p.replace(/^\.\//, "").replace(/\/+$/, "")));
    const picked = new Set<string>();
    const matchedDirs: string[] = [];
    for (const e of all) {
      const r = rel(e.header.path);
      if (r === undefined || r === "" || taken.has(e.header.path)) continue;
      const inMatchedDir = matchedDirs.some((d) => r.startsWith(`${d}/`));
      if (inMatchedDir || res.some((re) => re.test(r))) {
        picked.add(e.header.path);
        if (e.header.type === "dir") matchedDirs.push(r);
      }
    }
    const withParents = new Set<string>();
    for (const p of picked) {
      if (byPath.get(p)?.header.type !== "dir") taken.add(p);
      withParents.add(p);
      for (let d = dirName(p); d !== ""; d = dirName(d)) withParents.add(d);
    }
    out.push(
      [...withParents]
        .map((p) => byPath.get(p))
        .filter((e): e is PlannedEntry => e !== undefined)
        .sort((a, b) => comparePaths(a.header.path, b.header.path)),
    );
  }
  out.push(all.filter((e) => e.header.type === "dir" || !taken.has(e.header.path)));
  return out;
}
