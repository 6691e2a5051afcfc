/**
 * The restore phase (Platform API §restorer; lc:phase/restorer.go, lc:internal/layer/metadata_restorer.go,
 * sbom_restorer.go) by the spec's layer-reuse table:
 *
 * | build | cache | launch | metadata restored              | contents restored |
 * |-------|-------|--------|--------------------------------|-------------------|
 * | *     | true  | *      | yes (app image if launch, else cache) | from the cache, when its SHA matches |
 * | true  | false | *      | no                             | no                |
 * | false | false | true   | yes (from the previous image)  | no                |
 *
 * Restored `<layer>.toml` files hold only `[metadata]` (the buildpack re-adds `[types]` to keep a layer);
 * `store.toml` comes from the previous image's `io.buildpacks.lifecycle.metadata` (`buildpacks[].store`),
 * also with `skipLayers` (`--clear-cache`, the lifecycle's `-skip-restore`), which restores nothing else: no
 * layer metadata, no SBOM, no layer contents. Layer SBOMs come back as the lifecycle brings them: the
 * previous image's launch SBOM layer and the cache's SBOM layer are extracted to `<layers>/sbom/{launch,
 * cache}`, every `<kind>/<bp>/<layer>/sbom.<ext>` of a group buildpack whose directory the restore made is
 * copied to `<layers>/<bp>/<layer>.sbom.<ext>` (cache first, then launch), and `<layers>/sbom` is removed.
 *
 * A cache layer is hashed while it is extracted (into a temp folder): one whose bytes do not match its
 * diffID is dropped with the lifecycle's warning (`Skipping restore for layer …`), never restored.
 *
 * A restored directory's fingerprint is recorded with the cache tar's diffID, so that export knows it
 * unchanged without tarring it again.
 *
 * With `reuse`, the layers directory is the previous build's (kept per image): a cache layer whose directory
 * is still there with the stat fingerprint last recorded for the cache's diffID is kept as it is (nothing
 * extracted); every other layer directory, and the directories of buildpacks not in the group, are removed
 * first, so what the buildpacks see is exactly what the reuse table restores.
 */
import { createHash } from "node:crypto";
import { chown, copyFile, lchown, lstat, mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Readable } from "node:stream";
import { BerthError, wrapError } from "../../errors.ts";
import { applyLayer } from "../../layer/index.ts";
import type { Digest } from "../../oci/digest.ts";
import type { Image } from "../../oci/image.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { apiAtLeast, PLATFORM_API } from "../api.ts";
import { escapeId } from "../buildpack/descriptor.ts";
import type { Cache } from "../cache/cache.ts";
import { type LayerIndex, statFingerprint } from "../cache/fingerprint.ts";
import type { GroupEntry } from "../files/group.ts";
import type { BuildpackLayersRecord, LayerRecord, LayersMetadata } from "../files/labels.ts";
import { encodeLayerMetadata } from "../files/layer.ts";
import { encodeStore } from "../files/store.ts";
import { LIFECYCLE_EPOCH } from "./export/layer.ts";

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
  /**
   * The previous image (its launch SBOM layer, `sbom.sha` of its metadata, is restored unless `skipLayers`).
   */
  previousImage?: Image;
  /** `--clear-cache` (the lifecycle's `-skip-restore`): only `store.toml` files are restored. */
  skipLayers?: boolean;
  /** The platform API (which layers' metadata comes from the cache; default berth's). */
  platformApi?: string;
  /** Chown restored files to uid:gid (as root). */
  chown: boolean;
  /** `layersDir` holds the previous build's layers (see `pruneLayersDir`): keep the unchanged cache layers. */
  reuse?: boolean;
  log?: (line: string) => void;
  warn?: (line: string) => void;
  signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  /** Layers whose metadata was restored. */
  metadata: number;
  /** Layers whose contents came from the cache (extracted). */
  restored: number;
  /** Layers whose contents were already in place, unchanged since the cache got them (`reuse`). */
  kept: number;
  /** Layers skipped because their cache bytes did not match the recorded diffID. */
  skipped: number;
  /** `<layer>.sbom.<ext>` files restored. */
  sboms: number;
}

/** Top-level entries of a layers directory that are the platform's or berth's, never a buildpack's. */
const PLATFORM_DIRS = new Set(["sbom", "config", "generated"]);

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
  /** Whether the tar `#extract` last read names its entries absolutely (the format export writes now). */
  #absoluteNames = false;

  constructor(i: RestoreInputs) {
    this.i = i;
  }

  async restore(): Promise<RestoreResult> {
    const i = this.i;
    const log = i.log ?? (() => {});
    const cacheMeta = i.cache && !i.skipLayers ? await i.cache.metadata() : { buildpacks: [] };
    const out: RestoreResult = { metadata: 0, restored: 0, kept: 0, skipped: 0, sboms: 0 };
    const layersPath = (i.layersPath ?? "/layers").replace(/^\/+|\/+$/g, "");
    if (i.reuse) {
      // Buildpacks no longer in the group: nothing of theirs is restored.
      const dirs = new Set(i.group.map((bp) => escapeId(bp.id)));
      for (const e of await readdir(i.layersDir, { withFileTypes: true })) {
        if (e.isDirectory() && !dirs.has(e.name) && !e.name.startsWith(".") && !PLATFORM_DIRS.has(e.name)) {
          await rm(join(i.layersDir, e.name), { recursive: true, force: true });
        }
      }
    }
    // The previous image's launch SBOM layer (the lifecycle's analyzer does this; skipped with skipLayers).
    const prevSbom = i.previous?.sbom?.sha;
    if (!i.skipLayers && prevSbom && i.previousImage) {
      const k = i.previousImage.config?.rootfs.diff_ids.indexOf(prevSbom) ?? -1;
      const layer = k < 0 ? undefined : i.previousImage.layers()[k];
      if (layer) {
        log("Restoring data for SBOM from previous image");
        await this.#extract(() => layer.uncompressed(), prevSbom, "sbom/launch", "launch.sbom", layersPath);
      }
    }
    if (i.skipLayers) log("Skipping buildpack layer analysis");
    // Buildpack directories the restore wrote something into (SBOMs are restored only into those).
    const restoredInto = new Set<string>();
    for (const bp of i.group) {
      const fromCache = cacheMeta.buildpacks.find((b) => b.key === bp.id);
      if (await this.#buildpack(bp, fromCache, layersPath, out)) restoredInto.add(escapeId(bp.id));
    }
    // The cache's SBOM layer, then every layer SBOM into its buildpack's directory.
    if (!i.skipLayers) {
      const cacheSbom = cacheMeta.sbom?.sha;
      if (cacheSbom && i.cache && (await i.cache.hasLayer(cacheSbom as Digest))) {
        log("Restoring data for SBOM from cache");
        await this.#extract(
          () => i.cache!.openLayer(cacheSbom as Digest),
          cacheSbom,
          "sbom/cache",
          "cache.sbom",
          layersPath,
        );
      }
      out.sboms = await this.#sbomsToLayers(restoredInto);
    }
    await rm(join(i.layersDir, "sbom"), { recursive: true, force: true });
    return out;
  }

  /** One buildpack's store.toml and layers; whether anything was written into its directory. */
  async #buildpack(
    bp: GroupEntry,
    fromCache: BuildpackLayersRecord | undefined,
    layersPath: string,
    out: RestoreResult,
  ): Promise<boolean> {
    const i = this.i;
    const dir = join(i.layersDir, escapeId(bp.id));
    const fromImage = i.previous?.buildpacks?.find((b) => b.key === bp.id);
    let wrote = false;
    await this.#mkdir(dir);
    if (fromImage?.store?.metadata) {
      await this.#write(join(dir, "store.toml"), encodeStore(fromImage.store.metadata));
      wrote = true;
    }
    const names = i.skipLayers
      ? new Set<string>()
      : new Set([...Object.keys(fromImage?.layers ?? {}), ...Object.keys(fromCache?.layers ?? {})]);
    // Directories left by the previous build: kept below only when the cache holds them unchanged.
    const leftover = new Set<string>();
    if (i.reuse) {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory()) leftover.add(e.name);
        else if (e.name !== "store.toml") await rm(join(dir, e.name), { recursive: true, force: true });
      }
    }
    const keep = new Set<string>();
    for (const name of [...names].sort()) {
      const img = fromImage?.layers?.[name];
      const cached = fromCache?.layers?.[name];
      const r = await this.#layer(bp, name, img, cached, leftover.has(name), layersPath, out);
      if (r !== "none") wrote = true;
      if (r === "kept" || r === "restored") keep.add(name);
    }
    for (const name of leftover) {
      if (!keep.has(name)) await rm(join(dir, name), { recursive: true, force: true });
    }
    return wrote;
  }

  /**
   * One layer by the reuse table: its metadata, then (a cache layer) its contents from the cache, or kept in
   * place when its directory is still there unchanged. "none" when nothing of it is restored.
   */
  async #layer(
    bp: GroupEntry,
    name: string,
    img: LayerRecord | undefined,
    cached: LayerRecord | undefined,
    leftover: boolean,
    layersPath: string,
    out: RestoreResult,
  ): Promise<"none" | "metadata" | "kept" | "restored"> {
    const i = this.i;
    const log = i.log ?? (() => {});
    const key = `${bp.id}:${name}`;
    const dir = join(i.layersDir, escapeId(bp.id));
    // lc:internal/layer/metadata_restorer.go: launch layers from the app image unless build=true
    // cache=false, or cache=true and not in the cache; then cache=true layers from the cache, unless
    // launch=true and (in the app image, or platform API < 0.14).
    let record: LayerRecord | undefined;
    let where = "";
    if (img?.launch && !(img.build && !img.cache) && (!img.cache || cached?.cache)) {
      record = img;
      where = "app image";
    } else if (
      cached?.cache &&
      !(cached.launch && (img !== undefined || !apiAtLeast(i.platformApi ?? PLATFORM_API, "0.14")))
    ) {
      record = cached;
      where = "cache";
    }
    if (!record) return "none";
    log(`Restoring metadata for "${key}" from ${where}`);
    // `"data": null` when the layer had no [metadata] (berth before 2026-12 recorded `{}`).
    await this.#write(join(dir, `${name}.toml`), encodeLayerMetadata(record.data));
    out.metadata++;
    if (!cached?.cache || !i.cache) return "metadata";
    if (record.sha !== cached.sha) {
      // lc:phase/restorer.go: a cache=true layer whose metadata came with another diffID goes entirely.
      log(`Removing "${key}", wrong sha`);
      await rm(join(dir, `${name}.toml`), { force: true });
      out.metadata--;
      return "metadata";
    }
    if (!(await i.cache.hasLayer(cached.sha as Digest))) {
      i.warn?.(`Skipping restore for layer ${key}: failed to find cache layer with SHA '${cached.sha}'`);
      out.skipped++;
      return "metadata";
    }
    const path = join(dir, name);
    const fingerprint = () =>
      statFingerprint([{ source: path, dest: `/${layersPath}/${escapeId(bp.id)}/${name}` }], this.#salt());
    if (leftover && (await i.index.lookup(await fingerprint())) === cached.sha) {
      log(`Restoring data for "${key}" from cache (unchanged, kept in place)`);
      out.kept++;
      return "kept";
    }
    log(`Restoring data for "${key}" from cache`);
    const ok = await this.#extract(
      () => i.cache!.openLayer(cached.sha as Digest),
      cached.sha,
      `${escapeId(bp.id)}/${name}`,
      key,
      layersPath,
    );
    if (!ok) {
      out.skipped++;
      return "metadata";
    }
    // Only a tar in the format export writes now (absolute names, as the lifecycle's) may stand for the
    // restored files: a cache tar of older berth (relative names) is written again by the next export.
    if (this.#absoluteNames) await i.index.remember(await fingerprint(), cached.sha as Digest);
    out.restored++;
    return "restored";
  }

  /** What the owner and time of restored entries add to a fingerprint (as export's plan does). */
  #salt(): string {
    return `${this.i.uid}:${this.i.gid}:${LIFECYCLE_EPOCH}`;
  }

  /**
   * Copy `<layers>/sbom/{cache,launch}/<bp>/<layer>/sbom.<ext>` to `<layers>/<bp>/<layer>.sbom.<ext>` for the
   * group's buildpacks whose directory the restore made (launch after cache, so it wins), as
   * lc:internal/layer/sbom_restorer.go does. Only regular files are copied.
   */
  async #sbomsToLayers(restoredInto: ReadonlySet<string>): Promise<number> {
    const i = this.i;
    let n = 0;
    for (const kind of ["cache", "launch"]) {
      const root = join(i.layersDir, "sbom", kind);
      for (const bpDir of await dirNames(root)) {
        if (!restoredInto.has(bpDir)) continue;
        for (const layer of await dirNames(join(root, bpDir))) {
          const from = join(root, bpDir, layer);
          for (const f of await readdir(from).catch(() => [] as string[])) {
            if (!/^sbom.+json$/.test(f)) continue;
            const st = await lstat(join(from, f));
            if (!st.isFile()) continue;
            const dest = join(i.layersDir, bpDir, `${layer}.${f}`);
            await rm(dest, { force: true });
            await copyFile(join(from, f), dest);
            if (i.chown) await chown(dest, i.uid, i.gid);
            n++;
          }
        }
      }
    }
    return n;
  }

  /**
   * Extract a layer (a tar holding `<layersPath>/<rel>`) into a temp folder while hashing it, then move
   * `<rel>` into place. Bytes that do not match `diffId` (or a blob the source itself finds corrupt) leave
   * nothing behind: false, with the lifecycle's warning.
   */
  async #extract(
    open: () => Promise<Readable>,
    diffId: string,
    rel: string,
    what: string,
    layersPath: string,
  ): Promise<boolean> {
    const i = this.i;
    const tmp = await mkdtemp(join(i.layersDir, ".restore-"));
    try {
      const hash = createHash("sha256");
      let found: string;
      try {
        const stream = await open();
        // An error the source reports after the last byte (a compressed blob's digest, checked at its end)
        // must not crash berth: the bytes were all hashed here, and a wrong diffID is caught below.
        stream.on("error", () => {});
        let first = true;
        this.#absoluteNames = false;
        const hashed = (async function* (self: Restorer) {
          for await (const chunk of stream) {
            if (first && (chunk as Buffer).length > 0) {
              // The first entry's name (a layers-dir parent: never long enough for a PAX header).
              self.#absoluteNames = (chunk as Buffer)[0] === 0x2f;
              first = false;
            }
            hash.update(chunk as Buffer);
            yield chunk as Buffer;
          }
        })(this);
        // Not root: owners are left as they come (as the lifecycle chowns only as root); a layer the
        // lifecycle exported from a layers dir of another owner (kpack's fsGroup) would else fail with EPERM.
        await applyLayer(hashed, tmp, { rootless: !i.chown, ...(i.signal ? { signal: i.signal } : {}) });
        // Whatever follows the tar's end marker counts too.
        for await (const _ of hashed) void _;
        found = `sha256:${hash.digest("hex")}`;
      } catch (err) {
        if (err instanceof BerthError && err.code === "DIGEST_MISMATCH") {
          i.warn?.(`Skipping restore for layer ${what}: ${err.message}`);
          return false;
        }
        // A cache image whose manifest names a blob the registry no longer has (another build's cache
        // replaced it, a registry GC) is a cache miss for that layer, never a failed build.
        if (
          err instanceof BerthError &&
          (err.code === "REGISTRY_BLOB_UNKNOWN" || err.code === "BLOB_NOT_FOUND")
        ) {
          i.warn?.(
            `Skipping restore for layer ${what}: its blob is missing (${err.message}); treated as a cache miss`,
          );
          return false;
        }
        throw wrapError(`restoring data for "${what}"`, err);
      }
      if (found !== diffId) {
        i.warn?.(
          `Skipping restore for layer ${what}: expected layer contents to have SHA '${diffId}'; found '${found}'`,
        );
        return false;
      }
      // Only a real directory at `<layersPath>/<rel>`, reached through real directories (no link in the
      // extracted tree is followed).
      const parts = [...layersPath.split("/").filter(Boolean), ...rel.split("/")];
      const to = join(i.layersDir, ...rel.split("/"));
      await rm(to, { recursive: true, force: true });
      if (!(await realDirBelow(tmp, parts))) {
        i.warn?.(`Skipping restore for layer ${what}: it holds no directory /${parts.join("/")}`);
        return false;
      }
      await mkdir(join(to, ".."), { recursive: true });
      await rename(join(tmp, ...parts), to);
      return true;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * The layers dir, which detect's buildpacks could write to: directories and files are made in it without
   * following a symlink one of them left (util/confined.ts).
   */
  get #tree(): ConfinedTree {
    return new ConfinedTree(this.i.layersDir, {
      owner: "the layers directory",
      name: "the layers directory",
      seenAs: `/${(this.i.layersPath ?? "/layers").replace(/^\/+|\/+$/g, "")}`,
      hint: "a buildpack replaced a directory of the platform's with a symlink",
    });
  }

  async #mkdir(dir: string): Promise<void> {
    await mkdir(this.i.layersDir, { recursive: true });
    await this.#tree.mkdirs(relative(this.i.layersDir, dir), this.i.chown ? this.i : undefined);
  }

  async #write(path: string, text: string): Promise<void> {
    const file = await this.#tree.writeFile(relative(this.i.layersDir, path), text);
    if (this.i.chown) await lchown(file, this.i.uid, this.i.gid);
  }
}

/** Whether `root/parts…` is a directory with every step a directory, not a symbolic link. */
async function realDirBelow(root: string, parts: readonly string[]): Promise<boolean> {
  let path = root;
  for (const p of parts) {
    path = join(path, p);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory()) return false;
  }
  return true;
}

async function dirNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}
