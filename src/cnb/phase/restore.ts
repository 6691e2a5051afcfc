/**
 * The restore phase (Platform API §restorer; lc:phase/restorer.go) by the spec's layer-reuse table:
 *
 * | build | cache | launch | metadata restored              | contents restored |
 * |-------|-------|--------|--------------------------------|-------------------|
 * | *     | true  | *      | yes (app image if launch, else cache) | from the cache, when its SHA matches |
 * | true  | false | *      | no                             | no                |
 * | false | false | true   | yes (from the previous image)  | no                |
 *
 * Restored `<layer>.toml` files hold only `[metadata]` (the buildpack re-adds `[types]` to keep a layer);
 * `store.toml` comes from the previous image. A restored directory's fingerprint is recorded with the cache
 * tar's diffID, so that export knows it unchanged without tarring it again.
 */
import { chown, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { wrapError } from "../../errors.ts";
import { applyLayer } from "../../layer/index.ts";
import type { Cache } from "../cache/cache.ts";
import { type LayerIndex, statFingerprint } from "../cache/fingerprint.ts";
import { type Table, toToml } from "../toml.ts";
import { LIFECYCLE_EPOCH } from "./export.ts";
import { escapeId, type GroupEntry, type LayerRecord, type LayersMetadata } from "./metadata.ts";

export interface RestoreInputs {
  layersDir: string;
  group: readonly GroupEntry[];
  previous: LayersMetadata | undefined;
  cache: Cache | undefined;
  index: LayerIndex;
  uid: number;
  gid: number;
  /** Image path of the layers directory (cache tars hold `<layersPath>/<bp>/<layer>/…`). */
  layersPath?: string;
  /** Chown restored files to uid:gid (as root). */
  chown: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  /** Layers whose metadata was restored. */
  metadata: number;
  /** Layers whose contents came from the cache. */
  restored: number;
}

export class Restorer {
  readonly i: RestoreInputs;

  constructor(i: RestoreInputs) {
    this.i = i;
  }

  async restore(): Promise<RestoreResult> {
    const i = this.i;
    const log = i.log ?? (() => {});
    const cacheMeta = i.cache ? await i.cache.metadata() : { buildpacks: [] };
    const out: RestoreResult = { metadata: 0, restored: 0 };
    const layersPath = (i.layersPath ?? "/layers").replace(/^\/+|\/+$/g, "");
    for (const bp of i.group) {
      const dir = join(i.layersDir, escapeId(bp.id));
      const fromImage = i.previous?.buildpacks?.find((b) => b.key === bp.id);
      const fromCache = cacheMeta.buildpacks.find((b) => b.key === bp.id);
      await this.#mkdir(dir);
      if (fromImage?.store?.metadata) {
        await this.#write(join(dir, "store.toml"), toToml({ metadata: fromImage.store.metadata }));
      }
      const names = new Set([
        ...Object.keys(fromImage?.layers ?? {}),
        ...Object.keys(fromCache?.layers ?? {}),
      ]);
      for (const name of [...names].sort()) {
        const key = `${bp.id}:${name}`;
        const img = fromImage?.layers?.[name];
        const cached = fromCache?.layers?.[name];
        let record: LayerRecord | undefined;
        let where = "";
        if (img?.launch && img.cache && cached) {
          record = img;
          where = "app image";
        } else if (img?.launch && !img.build && !img.cache) {
          record = img;
          where = "app image";
        } else if (cached?.cache) {
          record = cached;
          where = "cache";
        }
        if (!record) continue;
        log(`Restoring metadata for "${key}" from ${where}`);
        await this.#write(join(dir, `${name}.toml`), toToml({ metadata: (record.data ?? {}) as Table }));
        out.metadata++;
        if (!record.cache || !cached?.sha || record.sha !== cached.sha || !i.cache) continue;
        if (!(await i.cache.hasLayer(cached.sha))) continue;
        log(`Restoring data for "${key}" from cache`);
        try {
          await this.#untar(cached.sha, layersPath, escapeId(bp.id), name);
        } catch (err) {
          throw wrapError(`restoring data for "${key}" from cache`, err);
        }
        out.restored++;
      }
    }
    return out;
  }

  async #untar(diffId: string, layersPath: string, bpDir: string, name: string): Promise<void> {
    const i = this.i;
    const tmp = await mkdtemp(join(i.layersDir, ".restore-"));
    try {
      const stream = await i.cache!.openLayer(diffId);
      await applyLayer(stream, tmp, i.signal ? { signal: i.signal } : {});
      const from = join(tmp, ...layersPath.split("/").filter(Boolean), bpDir, name);
      const to = join(i.layersDir, bpDir, name);
      await rm(to, { recursive: true, force: true });
      await rename(from, to);
      const fp = await statFingerprint(
        [{ source: to, dest: `/${layersPath}/${bpDir}/${name}` }],
        `${i.uid}:${i.gid}:${LIFECYCLE_EPOCH}`,
      );
      await i.index.remember(fp, diffId);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async #mkdir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (this.i.chown) await chown(dir, this.i.uid, this.i.gid);
  }

  async #write(path: string, text: string): Promise<void> {
    await writeFile(path, text);
    if (this.i.chown) await chown(path, this.i.uid, this.i.gid);
  }
}
