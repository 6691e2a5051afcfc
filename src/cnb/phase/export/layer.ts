/**
 * Finding or making one layer of the app image or the cache, with no wasted work: a known stat fingerprint
 * gives the diffID without tarring; a diffID the previous image has is reused as its blob, one the layer index
 * knows as the blob an earlier export wrote; only the rest is tarred and compressed, in one pass that also
 * writes the uncompressed cache tar when the cache needs it.
 */
import { createReadStream } from "node:fs";
import { BerthError, wrapError } from "../../../errors.ts";
import type { PlannedEntry } from "../../../layer/walk.ts";
import type { AssembledLayer } from "../../../oci/assemble.ts";
import { type BlobSource, verified } from "../../../oci/blob.ts";
import type { Descriptor } from "../../../oci/descriptor.ts";
import type { Digest } from "../../../oci/digest.ts";
import type { CacheLayerFiles } from "../../cache/cache.ts";
import { type FingerprintSource, statFingerprint } from "../../cache/fingerprint.ts";
import type { ExportInputs } from "./context.ts";
import { type Produced, produceLayer } from "./produce.ts";

/** 1980-01-01T00:00:01Z: the lifecycle's time for layer entries and, unless asked otherwise, the image. */
export const LIFECYCLE_EPOCH = 315532801;
export const DEFAULT_CREATED = "1980-01-01T00:00:01Z";

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

/** A layer of the app image or the cache, before its diffID is known. */
export interface LayerJob {
  /** As pack names it: `bp/id:layer`, `buildpacksio/lifecycle:launcher`, `slice-1`… */
  name: string;
  fingerprint: { sources: FingerprintSource[]; salt: string } | { key: string };
  entries: () => Promise<PlannedEntry[]>;
  image: boolean;
  cache: boolean;
  /** Whether the content is likely unchanged (a previous record exists): hash before compressing. */
  likelyUnchanged: boolean;
}

export interface LayerOutcome {
  diffId: Digest;
  layer?: AssembledLayer;
  reused: boolean;
  cacheFiles?: CacheLayerFiles;
  cacheReused: boolean;
}

/** What a layer needs from the cache, and what the cache already has. */
interface CacheNeeds {
  has: boolean;
  tar: boolean;
  blob: AssembledLayer | undefined;
  wantsBlob: boolean;
}

export class LayerMaker {
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
  /** New blobs (diffID → descriptor), to remember once the image is saved. */
  readonly newBlobs: { diffId: Digest; descriptor: Descriptor }[] = [];
  readonly #i: ExportInputs;
  readonly #tmp: string;
  readonly #previousByDiff = new Map<Digest, { descriptor: Descriptor; source: BlobSource }>();

  constructor(i: ExportInputs, tmp: string) {
    this.#i = i;
    this.#tmp = tmp;
    const prev = i.previous?.image;
    if (prev?.config) {
      prev.manifest.layers.forEach((d, k) => {
        const diffId = prev.config!.rootfs.diff_ids[k];
        if (diffId) this.#previousByDiff.set(diffId, { descriptor: d, source: prev.source });
      });
    }
  }

  /** The previous image's layer with this diffID, as an image layer. */
  previousLayer(diffId: string): AssembledLayer | undefined {
    const prev = this.#previousByDiff.get(diffId as Digest);
    return prev && { descriptor: prev.descriptor, diffId: diffId as Digest, from: prev.source };
  }

  /** Find or make one layer: for the image (a blob) and/or the cache (a tar or a blob). */
  async make(job: LayerJob, quiet = false): Promise<LayerOutcome> {
    const i = this.#i;
    const fpKey =
      "key" in job.fingerprint
        ? job.fingerprint.key
        : await statFingerprint(job.fingerprint.sources, job.fingerprint.salt);
    let entries: PlannedEntry[] | undefined;
    const getEntries = async () => {
      entries ??= await job.entries();
      return entries;
    };
    try {
      let diffId = await i.index.lookup(fpKey);
      if (diffId) this.stats.fingerprintHits++;
      else if (job.likelyUnchanged) {
        diffId = (await this.#produce(await getEntries(), false, false)).diffId;
        this.stats.hashedOnly++;
      }
      let imageLayer = job.image && diffId ? await this.existingBlob(diffId) : undefined;
      const cache = await this.#cacheNeeds(job, diffId, imageLayer);
      const needBlob = (job.image && !imageLayer) || (cache.wantsBlob && !cache.has && !cache.blob);
      let produced: Produced | undefined;
      if (cache.tar || needBlob) {
        produced = await this.#produce(await getEntries(), cache.tar, needBlob);
        this.stats.tarsWritten++;
        if (diffId && produced.diffId !== diffId) {
          throw new BerthError(
            "CNB_EXPORT_FAILED",
            `layer '${job.name}' changed while it was exported (${diffId} then ${produced.diffId})`,
          );
        }
        diffId = produced.diffId;
        if (produced.blob) {
          const blob = await this.#blobOf(produced.blob, diffId);
          imageLayer ??= blob;
          // An image cache needs the blob too (it had none when the blob turned out to exist already).
          if (cache.wantsBlob) cache.blob ??= blob;
        }
      }
      if (!diffId) throw new BerthError("INTERNAL", `layer '${job.name}': no diffID`);
      await i.index.remember(fpKey, diffId);
      return this.#outcome(job, diffId, imageLayer, cache, produced, quiet);
    } catch (err) {
      throw wrapError(`exporting layer '${job.name}'`, err);
    }
  }

  async #cacheNeeds(
    job: LayerJob,
    diffId: Digest | undefined,
    imageLayer?: AssembledLayer,
  ): Promise<CacheNeeds> {
    const cache = this.#i.cache;
    const wantsTar = job.cache && cache?.wants === "tar";
    const wantsBlob = job.cache && cache?.wants === "blob";
    const has = job.cache && diffId !== undefined && (await cache!.hasLayer(diffId));
    let blob = wantsBlob && !has ? imageLayer : undefined;
    if (wantsBlob && !has && !blob && diffId) blob = await this.existingBlob(diffId);
    return { has, tar: wantsTar && !has, blob, wantsBlob };
  }

  #produce(entries: PlannedEntry[], tar: boolean, blob: boolean): Promise<Produced> {
    const signal = this.#i.signal;
    return produceLayer(entries, {
      tar,
      blob,
      dir: this.#tmp,
      names: "absolute",
      signal,
    });
  }

  /** The layer for a blob just written: one that already exists where it would be found, else the new file. */
  async #blobOf(blob: NonNullable<Produced["blob"]>, diffId: Digest): Promise<AssembledLayer> {
    this.stats.bytesWritten += blob.size;
    const existing = await this.existingBlob(diffId);
    if (existing) return existing;
    const descriptor: Descriptor = { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
    this.newBlobs.push({ diffId, descriptor });
    return { descriptor, diffId, from: { file: blob.path } };
  }

  #outcome(
    job: LayerJob,
    diffId: Digest,
    imageLayer: AssembledLayer | undefined,
    cache: CacheNeeds,
    produced: Produced | undefined,
    quiet: boolean,
  ): LayerOutcome {
    const reused = imageLayer !== undefined && this.#previousByDiff.has(diffId);
    const outcome: LayerOutcome = { diffId, reused, cacheReused: false };
    if (job.image) {
      if (!imageLayer) throw new BerthError("INTERNAL", `layer '${job.name}': no blob`);
      outcome.layer = imageLayer;
      if (reused) this.stats.reused++;
      else this.stats.added++;
      if (!quiet) this.#i.log?.(`${reused ? "Reusing" : "Adding"} layer '${job.name}'`);
    }
    if (job.cache && this.#i.cache) {
      outcome.cacheReused = cache.has;
      const files: CacheLayerFiles = { diffId };
      if (produced?.tarPath) files.tarPath = produced.tarPath;
      if (cache.blob) {
        const from = cache.blob.from;
        files.blob = {
          descriptor: cache.blob.descriptor,
          source: "file" in from ? fileSource(from.file) : from,
        };
      }
      outcome.cacheFiles = files;
      if (cache.has) this.stats.cacheReused++;
      else this.stats.cacheAdded++;
    }
    return outcome;
  }

  /** A blob with this diffID that is already somewhere: the previous image, or where an earlier export put it. */
  async existingBlob(diffId: Digest): Promise<AssembledLayer | undefined> {
    const prev = this.previousLayer(diffId);
    if (prev) return prev;
    const known = await this.#i.index.blob(diffId);
    if (!known) return undefined;
    const descriptor: Descriptor = { mediaType: known.mediaType, digest: known.digest, size: known.size };
    for (const h of this.#i.blobHolders ?? []) {
      if (await h.hasBlob(descriptor)) {
        return { descriptor, diffId, from: h.source ?? unavailable(descriptor) };
      }
    }
    return undefined;
  }
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
