/**
 * The files and labels export, restore, analyze and rebase read and write, in the lifecycle's shapes:
 * `io.buildpacks.lifecycle.metadata`, `io.buildpacks.build.metadata`, `io.buildpacks.project.metadata`,
 * `<layers>/config/metadata.toml`, `<layer>.toml`, `store.toml`, `group.toml`.
 */
import { basename, dirname, join } from "node:path";
import { BerthError } from "../../errors.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { parseJson } from "../../util/json.ts";
import { Fields, isTable, readTomlIn, type Table } from "../toml.ts";

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

/** A buildpack of the chosen group (`group.toml` `[[group]]`). */
export interface GroupEntry {
  id: string;
  version: string;
  api: string;
  homepage?: string;
}

/** `<layers>/<escaped id>`: `/` becomes `_`. */
export function escapeId(id: string): string {
  return id.replaceAll("/", "_");
}

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

export interface ProcessRecord {
  type: string;
  command: string[];
  args: string[];
  direct: boolean;
  "buildpack-id"?: string;
  "working-dir"?: string;
  default?: boolean;
}

/** `io.buildpacks.build.metadata`. */
export interface BuildMetadataLabel {
  bom?: null;
  buildpacks: { id: string; version: string; homepage?: string }[];
  extensions?: { id: string; version: string }[];
  launcher: { version: string; source: { git: { repository: string; commit: string } } };
  processes: ProcessRecord[];
  "buildpack-default-process-type"?: string;
}

/** `<layers>/config/metadata.toml`, as the build phase writes it. */
export interface BuildResultFile {
  defaultProcessType: string | undefined;
  buildpacks: GroupEntry[];
  processes: ProcessRecord[];
  slices: { paths: string[] }[];
  labels: { key: string; value: string }[];
}

const what = (file: string) => ({ file, code: "CNB_CONFIG_INVALID" as const });

/**
 * The layers directory (or a buildpack's part of it) as export reads it: confined (util/confined.ts), since
 * buildpacks wrote there. `owner` names who wrote it in errors.
 */
function tree(dir: string, owner?: string): ConfinedTree {
  return new ConfinedTree(dir, {
    owner: owner ?? `the layers of ${basename(dir)}`,
    name: owner ? "its layers directory" : "the layers directory",
  });
}

/** readToml of `file`, confined to its directory. */
function readIn(file: string, optional: boolean, owner?: string) {
  return readTomlIn(tree(dirname(file), owner), basename(file), what(file), optional);
}

export function parseJsonLabel<T>(text: string | undefined, label: string, image: string): T | undefined {
  if (text === undefined || text === "") return undefined;
  const v = parseJson(text, `${image}: label ${label}`, "CONFIG_INVALID");
  if (!isTable(v)) throw new BerthError("CONFIG_INVALID", `${image}: label ${label} is not a JSON object`);
  return v as T;
}

export async function readBuildResult(layersDir: string): Promise<BuildResultFile> {
  const file = join(layersDir, "config", "metadata.toml");
  const t = await readTomlIn(tree(layersDir), "config/metadata.toml", what(file), true);
  const f = new Fields(t ?? {}, what(file));
  return {
    defaultProcessType: f.str("buildpack-default-process-type") || undefined,
    buildpacks: f.list("buildpacks").map((b) => groupEntry(b)),
    processes: f
      .list("processes")
      .map((p) => {
        const command = p.table.command;
        const cmd = typeof command === "string" ? [command] : (p.strs("command") ?? []);
        const rec: ProcessRecord = {
          type: p.requiredStr("type"),
          command: cmd,
          args: p.strs("args") ?? [],
          direct: p.bool("direct") ?? true,
        };
        const bp = p.str("buildpack-id");
        if (bp) rec["buildpack-id"] = bp;
        const wd = p.str("working-dir");
        if (wd) rec["working-dir"] = wd;
        if (p.bool("default")) rec.default = true;
        return rec;
      })
      .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
    slices: f.list("slices").map((s) => ({ paths: s.strs("paths") ?? [] })),
    labels: f.list("labels").map((l) => ({ key: l.requiredStr("key"), value: l.str("value") ?? "" })),
  };
}

function groupEntry(b: Fields): GroupEntry {
  const e: GroupEntry = { id: b.requiredStr("id"), version: b.str("version") ?? "", api: b.str("api") ?? "" };
  const h = b.str("homepage");
  if (h) e.homepage = h;
  return e;
}

/** `<layers>/group.toml` `[[group]]`. */
export async function readGroup(layersDir: string): Promise<GroupEntry[]> {
  const file = join(layersDir, "group.toml");
  const t = (await readIn(file, false))!;
  return new Fields(t, what(file)).list("group").map(groupEntry);
}

/** One `<layer>.toml` of a buildpack's layers dir. */
export interface LayerToml {
  name: string;
  build: boolean;
  launch: boolean;
  cache: boolean;
  /** Undefined when the file has no `[metadata]` table (an empty table is `{}`). */
  metadata: Table | undefined;
}

/** Layer names a buildpack may not use, and files in its dir that are not layers. */
const NOT_LAYERS = new Set(["launch", "build", "store"]);

/** The `<layer>.toml` files of a buildpack's layers dir, by name; `owner` names the buildpack in errors. */
export async function readLayerTomls(bpDir: string, owner?: string): Promise<LayerToml[]> {
  const names = ((await tree(bpDir, owner).readdir("")) ?? []).map((e) => e.name);
  const out: LayerToml[] = [];
  for (const n of names.sort()) {
    if (!n.endsWith(".toml")) continue;
    const name = n.slice(0, -5);
    if (NOT_LAYERS.has(name) || name.endsWith(".sbom")) continue;
    const file = join(bpDir, n);
    const f = new Fields((await readIn(file, false, owner))!, what(file));
    const types = f.sub("types");
    out.push({
      name,
      build: types?.bool("build") ?? false,
      launch: types?.bool("launch") ?? false,
      cache: types?.bool("cache") ?? false,
      metadata: f.anyTable("metadata"),
    });
  }
  return out;
}

export async function readStoreToml(bpDir: string, owner?: string): Promise<Table | undefined> {
  const file = join(bpDir, "store.toml");
  const t = await readIn(file, true, owner);
  if (!t) return undefined;
  return new Fields(t, what(file)).anyTable("metadata") ?? {};
}

/** `project-metadata.toml` → `io.buildpacks.project.metadata` (`{source: {type, version, metadata}}`). */
export async function readProjectMetadata(layersDir: string): Promise<Table> {
  const file = join(layersDir, "project-metadata.toml");
  const t = await readIn(file, true);
  return t ?? {};
}
