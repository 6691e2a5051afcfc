/**
 * `<layers>/<buildpack>/<layer>.toml` (Buildpack API): `[types] build, launch, cache` and `[metadata]`. Written by
 * `bin/build` (read confined, util/confined.ts) and by restore (only `[metadata]`, in the lifecycle's bytes).
 */
import type { ConfinedTree } from "../../util/confined.ts";
import { encodeGoToml } from "../gotoml.ts";
import { Fields, type Origin, parseToml, type Table, tomlError } from "../toml.ts";

export interface LayerTypes {
  build: boolean;
  launch: boolean;
  cache: boolean;
}

export interface LayerMetadataFile extends LayerTypes {
  /** Undefined when the file has no `[metadata]` table (an empty table is `{}`). */
  metadata?: Table;
}

export interface LayerToml extends LayerMetadataFile {
  name: string;
}

/** Layer names a buildpack may not use (they are its own files). */
export const RESERVED_LAYER_NAMES = ["build", "launch", "store"];

export function parseLayerToml(text: string, file: string, subject: string): LayerMetadataFile {
  const origin: Origin = { file, subject, code: "CNB_BUILD_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  for (const k of ["build", "launch", "cache"]) {
    if (doc.has(k)) {
      throw tomlError(
        origin,
        `the launch, cache and build flags must be in the [types] table, but "${k}" is at the top level`,
      );
    }
  }
  const types = doc.sub("types");
  const out: LayerMetadataFile = {
    build: types?.bool("build") ?? false,
    launch: types?.bool("launch") ?? false,
    cache: types?.bool("cache") ?? false,
  };
  const md = doc.anyTable("metadata");
  if (md) out.metadata = md;
  return out;
}

/**
 * Every `<layer>.toml` of a buildpack's layers directory (`tree`, at host path `dir`), by name; `subject` names
 * the buildpack in errors.
 */
export async function readLayerTomls(tree: ConfinedTree, dir: string, subject: string): Promise<LayerToml[]> {
  const names = ((await tree.readdir("")) ?? [])
    .filter((e) => !e.isDirectory() && e.name.endsWith(".toml"))
    .map((e) => e.name.slice(0, -".toml".length))
    .filter((n) => !RESERVED_LAYER_NAMES.includes(n))
    .sort();
  const out: LayerToml[] = [];
  for (const name of names) {
    const text = (await tree.readText(`${name}.toml`)) ?? "";
    out.push({ name, ...parseLayerToml(text, `${dir}/${name}.toml`, subject) });
  }
  return out;
}

/** A restored `<layer>.toml` as lc:buildpack/layermetadata.go writes it: only `[metadata]`, empty without one. */
export function encodeLayerMetadata(data: Table | null | undefined): string {
  const none = data === undefined || data === null || Object.keys(data).length === 0;
  return none ? "" : encodeGoToml({ metadata: data });
}
