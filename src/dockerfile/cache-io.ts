/**
 * The caches a build reads and writes besides the local one (BuildKit's format): `--cache-from`'s records,
 * their layers fetched only when their bytes are needed; `--cache-to` exported after the image is written; the
 * inline cache in the image's config. cache-transfer.ts (the registry client, compressors, the tar reader) is
 * loaded only by a build that imports or exports one.
 */
import { wrapError } from "../errors.ts";
import type { Image } from "../oci/image.ts";
import { mutate } from "../oci/mutate.ts";
import type { Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import type { StepCache, StepRecord } from "./cache.ts";
import { type ExportStep, encodeInline, INLINE_CACHE_FIELD } from "./cache-format.ts";
import type { CacheFrom, CacheTo } from "./cache-spec.ts";
import type { ImportedCache, LazyLayer } from "./cache-transfer.ts";
import { type StepEvent, workProgress } from "./progress.ts";

/** The steps a `--cache-to` exports: every one the build used (max), the target stage's chain (min). */
export interface CacheSteps {
  max: ExportStep[];
  min: ExportStep[];
}

/** The `--cache-from` caches of a build, and the layers of their records, by digest. */
export class ImportedCaches {
  readonly #cache: StepCache;
  #imports: ImportedCache[] = [];
  /** Layers of imported records, by digest: fetched only when their bytes are needed (cache-transfer.ts). */
  readonly lazy = new Map<string, LazyLayer>();

  /** `cache`: the local step cache, where a record taken from an import is kept. */
  constructor(cache: StepCache) {
    this.#cache = cache;
  }

  /** Whether any cache was imported. */
  get any(): boolean {
    return this.#imports.length > 0;
  }

  /**
   * Open each --cache-from and read its records. One that cannot be read is a warning, as BuildKit's: the build
   * goes on without it.
   */
  async load(
    from: readonly CacheFrom[],
    ctx: TransportContext,
    platform: Platform,
    log: (line: string) => void,
    onStep?: (event: StepEvent) => void,
  ): Promise<void> {
    for (const f of from) {
      // BuildKit's vertex; a cache that cannot be used is a warning on it, as the build goes on without it
      const work = workProgress(onStep, `importing cache manifest from ${f.text}`, "");
      const warn = (line: string) => {
        log(`WARN: ${line}`);
        work.warn(line);
      };
      try {
        const { importCache } = await import("./cache-transfer.ts");
        const c = await importCache(f, ctx, platform);
        this.#imports.push(c);
        if (c.steps.size) log(`importing ${c.kind} from ${f.text}: ${c.steps.size} steps`);
        else {
          warn(
            `--cache-from ${f.text}: ${c.kind} has no step berth wrote${c.buildkitRecords ? ` (its ${c.buildkitRecords} records are BuildKit's, keyed by LLB digests berth does not compute)` : ""}; nothing to reuse`,
          );
        }
      } catch (err) {
        warn(
          `--cache-from ${f.text}: cannot import the cache (${(err as Error).message}); building without it`,
        );
      }
      work.end();
    }
  }

  /** The record an imported cache has under `lookup`, looked at only (the key pass). */
  peek(lookup: string): StepRecord | undefined {
    return this.#imports.find((c) => c.steps.has(lookup))?.steps.get(lookup);
  }

  /**
   * A record from an imported cache, kept in the local cache; its layer is not fetched here but when its bytes
   * are needed (`lazy`), and the local record is used once it is (`StepCache.get` wants the blob).
   */
  async take(lookup: string): Promise<StepRecord | undefined> {
    const c = this.#imports.find((x) => x.steps.has(lookup));
    const rec = c?.steps.get(lookup);
    if (!c || !rec) return undefined;
    const l = rec.layer;
    const { lazyLayer } = await import("./cache-transfer.ts");
    if (l && !this.lazy.has(l.digest)) {
      // every cache naming the layer may serve it: the one the record is from first
      const holders = [c, ...this.#imports.filter((x) => x !== c && x.layers.has(l.digest))];
      this.lazy.set(
        l.digest,
        lazyLayer(holders, l, this.#cache.blobPath(l.digest), () => this.#cache.tmpDir()),
      );
    }
    await this.#cache.put(lookup, rec);
    return rec;
  }

  async close(): Promise<void> {
    for (const c of this.#imports) await c.close().catch(() => undefined);
  }
}

/**
 * BuildKit's inline cache: the image's steps (`chain`) as records in its config (always mode=min, as BuildKit),
 * those whose layers the image has; with how many there are.
 */
export function withInlineCache(
  image: Image,
  chain: readonly ExportStep[],
  platform: Platform,
): { image: Image; steps: number } {
  const layers = image.manifest.layers.map((l) => l.digest);
  const steps = chain.filter((e) => !e.record.layer || layers.includes(e.record.layer.digest));
  const value = encodeInline(steps, layers);
  return { image: mutate(image, { fields: { [INLINE_CACHE_FIELD]: value } }, platform), steps: steps.length };
}

/**
 * `--cache-to type=registry|local`: after the image is written, as BuildKit; a failure fails the build unless
 * ignore-error=true. A multi-platform build exports once, every platform's steps in one cache.
 */
export async function exportCaches(
  cacheTo: readonly CacheTo[],
  used: CacheSteps,
  cache: StepCache,
  ctx: TransportContext,
  tmp: string,
  log: ((line: string) => void) | undefined,
  lazy?: ReadonlyMap<string, LazyLayer>,
  onStep?: (event: StepEvent) => void,
): Promise<void> {
  for (const to of cacheTo) {
    if (to.type === "inline") continue;
    const steps = used[to.mode];
    const where = to.type === "registry" ? to.ref : to.dest;
    const work = workProgress(onStep, `exporting cache to ${where}`, to.text);
    try {
      const { exportCache } = await import("./cache-transfer.ts");
      const r = await exportCache(to, steps, (d) => cache.blobPath(d), ctx, tmp, lazy);
      log?.(
        `exporting cache to ${where} (mode=${to.mode}): ${new Set(steps.map((e) => e.lookup)).size} steps, ${r.layers} layers, ${r.root.digest}`,
      );
      work.end();
    } catch (err) {
      if (to.ignoreError) {
        const line = `--cache-to ${to.text}: cannot export the cache (${(err as Error).message}); ignore-error=true`;
        log?.(`WARN: ${line}`);
        work.warn(line);
        work.end();
        continue;
      }
      const wrapped = wrapError(`exporting the cache to ${where} (--cache-to ${to.text})`, err);
      work.end(wrapped);
      throw wrapped;
    }
  }
}
