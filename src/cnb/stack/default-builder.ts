/**
 * The default builder: what `berth build APP -t IMAGE` uses with no `--builder`. Its definition lives in the
 * repository (`builders/default/builder.toml` and its buildpacks); on first use berth makes the stack and the
 * builder in the local store, with progress, and reuses them after. The builder carries a label with a
 * digest of its definition, so a changed definition makes a new builder (the stack stays cached).
 * `$BERTH_HOME/default-builder` names another builder instead (`berth builder default NAME`).
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import { type Image, loadRoot, selectImage } from "../../oci/image.ts";
import { Store } from "../../oci/store.ts";
import type { TransportContext } from "../../transport/context.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { writeFileAtomic } from "../../util/fs.ts";
import type { PhaseLogger } from "../log.ts";
import { createBuilder } from "../platform/builder.ts";
import { readBuilderConfig, runImageOf } from "../platform/builder-config.ts";
import { createStack } from "./create.ts";
import type { ExtraCa } from "./layer.ts";

/** The name berth gives the builder made from builders/default. */
export const DEFAULT_BUILDER = "berth/default-builder:bookworm";
export const DEFAULT_BUILDER_SOURCE_LABEL = "io.berth.builder.source";

function settingFile(home: string): string {
  return join(home, "default-builder");
}

/** The builder `berth build` uses with no --builder: the setting, else DEFAULT_BUILDER. */
export async function defaultBuilderName(home: string): Promise<{ name: string; configured: boolean }> {
  const text = await readFile(settingFile(home), "utf8").catch(() => "");
  const name = text.trim();
  return name ? { name, configured: true } : { name: DEFAULT_BUILDER, configured: false };
}

/** Set the default builder (`undefined`: back to berth's own). */
export async function setDefaultBuilder(home: string, name: string | undefined): Promise<void> {
  if (name !== undefined) parseImageArgument(name);
  await writeFileAtomic(settingFile(home), name === undefined ? "" : `${name}\n`);
}

/** A digest of every file of the builder definition's folder, so that a changed buildpack makes a new builder. */
export async function definitionDigest(builderToml: string): Promise<string> {
  const root = dirname(builderToml);
  const h = createHash("sha256");
  const walk = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const n of names) {
      const p = join(dir, n);
      const st = await stat(p);
      if (st.isDirectory()) await walk(p);
      else if (st.isFile()) {
        h.update(`${relative(root, p)}\0${st.mode & 0o111 ? "x" : "-"}\0`);
        h.update(await readFile(p));
        h.update("\0");
      }
    }
  };
  await walk(root);
  return `sha256:${h.digest("hex")}`;
}

async function storedImage(ctx: TransportContext, ref: string): Promise<Image | undefined> {
  try {
    const store = await Store.open(ctx.home);
    const root = await store.resolve(ref);
    return await selectImage(await loadRoot(store.layout, root));
  } catch (err) {
    if (isBerthError(err, "IMAGE_NOT_FOUND")) return undefined;
    throw err;
  }
}

export interface EnsureDefaultBuilderOptions {
  ctx: TransportContext;
  /** builders/default/builder.toml. */
  builderToml: string;
  isRoot: boolean;
  searchPath?: string | undefined;
  /** CAs the stack's images trust besides the distribution's. */
  extraCas?: readonly ExtraCa[];
  logger: PhaseLogger;
}

export interface EnsuredBuilder {
  name: string;
  /** Whether the stack and/or builder were made now. */
  createdStack: boolean;
  createdBuilder: boolean;
}

/**
 * The default builder, made if missing or out of date: first the stack its builder.toml names (build and
 * run images, from debootstrap or the stack cache), then the builder. A configured builder other than
 * berth's own is returned as it is.
 */
export async function ensureDefaultBuilder(o: EnsureDefaultBuilderOptions): Promise<EnsuredBuilder> {
  const { name, configured } = await defaultBuilderName(o.ctx.home);
  if (configured && name !== DEFAULT_BUILDER) return { name, createdStack: false, createdBuilder: false };
  const digest = await definitionDigest(o.builderToml).catch((err) => {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `the default builder's definition ${o.builderToml} cannot be read`,
      {
        cause: err,
      },
    );
  });
  const config = await readBuilderConfig(o.builderToml);
  const runImage = runImageOf(config)?.image;
  if (!runImage) {
    throw new BerthError("CNB_CONFIG_INVALID", `${o.builderToml} names no run image`);
  }
  // A second run image is the tiny one, which the builder's tiny-run extension switches apps to.
  const tinyRunImage = config.runImages[1]?.image;
  let createdStack = false;
  const haveBuild = (await storedImage(o.ctx, config.buildImage)) !== undefined;
  const haveRun = (await storedImage(o.ctx, runImage)) !== undefined;
  const haveTiny = !tinyRunImage || (await storedImage(o.ctx, tinyRunImage)) !== undefined;
  if (!haveBuild || !haveRun || !haveTiny) {
    o.logger.info(
      `===> CREATING THE DEFAULT STACK (first use: ${[config.buildImage, runImage, tinyRunImage].filter(Boolean).join(", ")})`,
    );
    const started = Date.now();
    await createStack({
      buildImage: parseImageArgument(config.buildImage),
      runImage: parseImageArgument(runImage),
      ...(tinyRunImage ? { tinyRunImage: parseImageArgument(tinyRunImage) } : {}),
      ctx: o.ctx,
      isRoot: o.isRoot,
      searchPath: o.searchPath || undefined,
      ...(o.extraCas?.length ? { extraCas: o.extraCas } : {}),
      onProgress: (l) => o.logger.info(l),
      onDetail: (l) => o.logger.debug(l),
    }).catch((err) => {
      throw wrapError("creating the default builder's stack", err);
    });
    o.logger.info(`Stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    createdStack = true;
  }
  // The builder is current when made from this definition on this build image.
  const source = `${digest} ${(await storedImage(o.ctx, config.buildImage))?.digest ?? ""}`;
  const builder = await storedImage(o.ctx, name);
  if (builder?.config?.config?.Labels?.[DEFAULT_BUILDER_SOURCE_LABEL] === source) {
    return { name, createdStack, createdBuilder: false };
  }
  o.logger.info(`===> CREATING THE DEFAULT BUILDER ${name}`);
  await createBuilder(config, parseImageArgument(config.buildImage), parseImageArgument(name), {
    ctx: o.ctx,
    logger: o.logger,
    labels: { [DEFAULT_BUILDER_SOURCE_LABEL]: source },
    // berth runs its default builder itself; it carries no lifecycle (and needs no network to make).
    noLifecycle: true,
  }).catch((err) => {
    throw wrapError(`creating the default builder from ${o.builderToml}`, err);
  });
  return { name, createdStack, createdBuilder: true };
}
