/**
 * The lifecycle's image labels, one type and one parser each: `io.buildpacks.lifecycle.metadata` (the layers an
 * app image holds, for rebuilds and rebase), `io.buildpacks.build.metadata` (buildpacks, launcher, processes),
 * `io.buildpacks.project.metadata`, and the cache image's `io.buildpacks.lifecycle.cache.metadata`.
 */
import { BerthError } from "../../errors.ts";
import { parseJson } from "../../util/json.ts";
import { isTable, type Table } from "../toml.ts";

export const LABEL = {
  lifecycle: "io.buildpacks.lifecycle.metadata",
  build: "io.buildpacks.build.metadata",
  project: "io.buildpacks.project.metadata",
  rebasable: "io.buildpacks.rebasable",
  cache: "io.buildpacks.lifecycle.cache.metadata",
  stackId: "io.buildpacks.stack.id",
  baseId: "io.buildpacks.base.id",
  runImage: "io.buildpacks.run-image",
} as const;

/** One layer's record in the lifecycle metadata label and the cache metadata. */
export interface LayerRecord {
  sha: string;
  /** The layer's `[metadata]`; null when its `.toml` has none (lc:buildpack.LayerMetadata's nil `Data`). */
  data?: Table | null;
  build?: boolean;
  launch?: boolean;
  cache?: boolean;
}

export interface BuildpackLayersRecord {
  key: string;
  version: string;
  layers: Record<string, LayerRecord>;
  store?: { metadata: Table };
}

export interface RunImageRecord {
  topLayer: string;
  reference: string;
  image?: string;
  mirrors?: string[];
}

/** `io.buildpacks.lifecycle.metadata`. */
export interface LayersMetadata {
  app?: { sha: string }[];
  sbom?: { sha: string };
  config?: { sha: string };
  launcher?: { sha: string };
  "process-types"?: { sha: string };
  buildpacks?: BuildpackLayersRecord[];
  runImage?: RunImageRecord;
  stack?: { runImage: { image?: string; mirrors?: string[] } };
}

/** `io.buildpacks.lifecycle.cache.metadata`. */
export interface CacheMetadata {
  sbom?: { sha: string };
  buildpacks: BuildpackLayersRecord[];
}

/** A process as `io.buildpacks.build.metadata` holds it (lc launch.Process JSON). */
export interface ProcessLabel {
  type: string;
  command: string[];
  /** Go's nil slice: `null` for a process without args. */
  args: string[] | null;
  direct: boolean;
  buildpackID: string;
  "working-dir"?: string;
}

/** `io.buildpacks.build.metadata`. */
export interface BuildMetadataLabel {
  bom?: null;
  buildpacks: { id: string; version: string; homepage?: string }[];
  extensions?: { id: string; version: string }[];
  launcher: { version: string; source: { git: { repository: string; commit: string } } };
  processes: ProcessLabel[];
  "buildpack-default-process-type"?: string;
}

export function parseJsonLabel<T>(text: string | undefined, label: string, image: string): T | undefined {
  if (text === undefined || text === "") return undefined;
  const v = parseJson(text, `${image}: label ${label}`, "CONFIG_INVALID");
  if (!isTable(v)) throw new BerthError("CONFIG_INVALID", `${image}: label ${label} is not a JSON object`);
  return v as T;
}
