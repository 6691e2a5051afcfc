/**
 * The step cache as one build uses it: a step's record looked up in the local cache, then in the imported ones
 * (cache-io.ts); a step the caches lack produced once for the builds sharing the state (platforms.ts), its layer
 * moved into the cache's blobs and its record written; a record's layer as the image takes it.
 */
import { mkdirSync, renameSync } from "node:fs";
import { posix } from "node:path";
import type { AddedLayer } from "../oci/mutate.ts";
import type { StepCache, StepRecord } from "./cache.ts";
import type { ImportedCaches } from "./cache-io.ts";
import type { LayerEntries } from "./stage-index.ts";
import type { StepCacheOptions, StepOutput } from "./step.ts";

/** A step's history entry as its options give it (`createdBy` set). */
export function historyOf(o: StepCacheOptions): { created_by: string; comment?: string } {
  return { created_by: o.createdBy!, ...(o.comment ? { comment: o.comment } : {}) };
}

export class StepRecords {
  readonly #cache: StepCache;
  readonly #imports: ImportedCaches;
  /** The steps being produced, by lookup (shared by the builds of a multi-platform build). */
  readonly #producing: Map<string, Promise<StepRecord>>;
  readonly #entries: LayerEntries;
  readonly #created: () => string;
  /**
   * Layers this process wrote into the cache's blobs, their digests computed as they were written: a local
   * destination links them in rather than reading and hashing them again (mutate's `written`).
   */
  readonly #wrote = new Set<string>();

  /** `entries`: where a produced layer's entries are noted; `created`: a produced record's creation time. */
  constructor(
    cache: StepCache,
    imports: ImportedCaches,
    shared: { producing: Map<string, Promise<StepRecord>>; layerEntries: LayerEntries },
    created: () => string,
  ) {
    this.#cache = cache;
    this.#imports = imports;
    this.#producing = shared.producing;
    this.#entries = shared.layerEntries;
    this.#created = created;
  }

  /** A step's record from the local cache, else an imported one's: taken into the local cache (`fetch`), or looked at. */
  async find(lookup: string, fetch: boolean): Promise<StepRecord | undefined> {
    const local = await this.#cache.get(lookup);
    if (local || !this.#imports.any) return local;
    return fetch ? this.#imports.take(lookup) : this.#imports.peek(lookup);
  }

  /** Keep `rec` under `lookup` too (a step found by the content it reads, `via`). */
  put(lookup: string, rec: StepRecord): Promise<void> {
    return this.#cache.put(lookup, rec);
  }

  /** Produce a step and record it under `lookup`, once for the builds sharing this state (platforms.ts). */
  produceOnce(
    lookup: string,
    history: StepCacheOptions,
    produce: () => Promise<StepOutput>,
  ): Promise<StepRecord> {
    let p = this.#producing.get(lookup);
    if (!p) {
      p = produce().then(async (out) => {
        const rec = this.#record(out, history);
        await this.#cache.put(lookup, rec);
        return rec;
      });
      this.#producing.set(lookup, p);
    }
    return p;
  }

  /** A produced step as a record, its layer moved into the cache's blobs. */
  #record(out: StepOutput, history: StepCacheOptions): StepRecord {
    const rec: StepRecord = { config: out.config, created: this.#created() };
    if (history.createdBy !== undefined) rec.history = historyOf(history);
    if (out.author !== undefined) rec.author = out.author;
    if (out.layer) {
      const { path, headers, ...layer } = out.layer;
      const blob = this.#cache.blobPath(layer.digest);
      // synchronous: two calls that cost less than their trips through libuv's pool
      mkdirSync(posix.dirname(blob), { recursive: true });
      renameSync(path, blob);
      if (headers) this.#entries.note(layer.digest, headers);
      this.#wrote.add(layer.digest);
      rec.layer = {
        digest: layer.digest,
        diffId: layer.diffId,
        size: layer.size,
        mediaType: layer.mediaType,
      };
    }
    return rec;
  }

  /** A record's layer as the image takes it (none for a config-only step): its blob, or the import serving it. */
  layers(rec: StepRecord): AddedLayer[] {
    if (!rec.layer) return [];
    const d = rec.layer.digest;
    const source = this.#imports.lazy.get(d);
    const path = this.#cache.blobPath(d);
    return [{ path, source, written: this.#wrote.has(d), ...rec.layer, history: rec.history ?? {} }];
  }
}
