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
 *
 * With `reuse`, the layers directory is the previous build's (kept per image): a cache layer whose directory
 * is still there with the stat fingerprint last recorded for the cache's diffID is kept as it is (nothing
 * extracted); every other layer directory, and the directories of buildpacks not in the group, are removed
 * first, so what the buildpacks see is exactly what the reuse table restores.
 */
import { chown, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
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
  /** `layersDir` holds the previous build's layers (see `pruneLayersDir`): keep the unchanged cache layers. */
  reuse?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  /** Layers whose metadata was restored. */
  metadata: number;
  /** Layers whose contents came from the cache (extracted). */
  restored: number;
  /** Layers whose contents were already in place, unchanged since the cache got them (`reuse`). */
  kept: number;
}

/** Top-level entries of a layers directory that are the platform's or berth's, never a buildpack's. */
const PLATFORM_DIRS = new Set(["sbom", "config"]);

/**
 * Ready a kept layers directory for the next build (before analyze writes into it): remove every top-level
 * file and platform directory, and in each buildpack directory every file (`<layer>.toml`, `launch.toml`,
 * `build.toml`, `store.toml`, SBOMs), leaving only the layer directories for the restorer to keep or remove.
 */
export async function pruneLayersDir(layersDir: string): Promise<void> {
  await mkdir(layersDir, { recursive: true });
  for (const e of await readdir(layersDir, { withFileTypes: true })) {
    const path = join(layersDir, e.name);
    if (!e.isDirectory() || e.name.startsWith(".") || PLATFORM_DIRS.has(e.name)) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    for (const f of await readdir(path, { withFileTypes: true })) {
      if (!f.isDirectory()) await rm(join(path, f.name), { force: true });
    }
  }
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
    const out: RestoreResult = { metadata: 0, restored: 0, kept: 0 };
    const layersPath = (i.layersPath ?? "/layers").replace(/^\/+|\/+$/g, "");
    const salt = `${i.uid}:${i.gid}:${LIFECYCLE_EPOCH}`;
    if (i.reuse) {
      // Buildpacks no longer in the group: nothing of theirs is restored.
      const dirs = new Set(i.group.map((bp) => escapeId(bp.id)));
      for (const e of await readdir(i.layersDir, { withFileTypes: true })) {
        if (e.isDirectory() && !dirs.has(e.name) && !e.name.startsWith(".") && !PLATFORM_DIRS.has(e.name)) {
          await rm(join(i.layersDir, e.name), { recursive: true, force: true });
        }
      }
    }
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
      // Directories left by the previous build: kept below only when the cache holds them unchanged.
      const leftover = new Set<string>();
      if (i.reuse) {
        for (const e of await readdir(dir, { withFileTypes: true })) {
          if (e.isDirectory()) leftover.add(e.name);
          else await rm(join(dir, e.name), { recursive: true, force: true });
        }
      }
      const keep = new Set<string>();
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
        if (leftover.has(name)) {
          const path = join(dir, name);
          const fp = await statFingerprint(
            [{ source: path, dest: `/${layersPath}/${escapeId(bp.id)}/${name}` }],
            salt,
          );
          if ((await i.index.lookup(fp)) === cached.sha) {
            log(`Restoring data for "${key}" from cache (unchanged, kept in place)`);
            keep.add(name);
            out.kept++;
            continue;
          }
        }
        log(`Restoring data for "${key}" from cache`);
        try {
          await this.#untar(cached.sha, layersPath, escapeId(bp.id), name);
        } catch (err) {
          throw wrapError(`restoring data for "${key}" from cache`, err);
        }
        keep.add(name);
        out.restored++;
      }
      for (const name of leftover) {
        if (!keep.has(name)) await rm(join(dir, name), { recursive: true, force: true });
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
