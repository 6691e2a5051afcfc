/**
 * `<layers>/config/metadata.toml` (lc:platform/files BuildMetadata): written by the build phase, read by the
 * exporter and by the launcher in the image. The layers directory is the buildpacks', so it is read confined.
 */
import { join } from "node:path";
import { ConfinedTree } from "../../util/confined.ts";
import { Fields, type Origin, parseToml, readTomlIn, type Table, toToml } from "../toml.ts";
import { type GroupEntry, groupEntryOf, groupEntryTable } from "./group.ts";
import type { Label, Process, Slice } from "./launch.ts";

export interface BuildMetadata {
  buildpacks: GroupEntry[];
  /** The image extensions of the group (lc writes them after the buildpacks). */
  extensions?: GroupEntry[];
  /** By type. */
  processes: Process[];
  labels: Label[];
  slices: Slice[];
  /** The buildpack-provided default process type, when one is left. */
  buildpackDefaultProcessType?: string;
}

export function encodeMetadata(md: BuildMetadata): string {
  const doc: Table = {
    buildpacks: md.buildpacks.map(groupEntryTable),
    ...(md.extensions?.length ? { extensions: md.extensions.map(groupEntryTable) } : {}),
    labels: md.labels.map((l) => ({ key: l.key, value: l.value })),
    processes: md.processes.map((p) => ({
      type: p.type,
      command: p.command,
      // As the lifecycle (BurntSushi/toml leaves out a nil slice): no `args` key for a process without args.
      ...(p.args.length ? { args: p.args } : {}),
      direct: p.direct,
      "buildpack-id": p.buildpackId,
      ...(p.workingDir ? { "working-dir": p.workingDir } : {}),
      ...(p.execEnv?.length ? { "exec-env": p.execEnv } : {}),
    })),
    slices: md.slices.map((s) => ({ paths: s.paths })),
  };
  if (md.buildpackDefaultProcessType) doc["buildpack-default-process-type"] = md.buildpackDefaultProcessType;
  return toToml(doc);
}

function processOf(p: Fields): Process {
  const command = p.table.command;
  const proc: Process = {
    type: p.requiredStr("type"),
    // A string command is the lifecycle's shape below Platform API 0.10.
    command: typeof command === "string" ? [command] : (p.strs("command") ?? []),
    args: p.strs("args") ?? [],
    direct: p.bool("direct") ?? true,
    default: p.bool("default") ?? false,
    buildpackId: p.str("buildpack-id") ?? "",
  };
  const wd = p.str("working-dir");
  if (wd) proc.workingDir = wd;
  const execEnv = p.strs("exec-env");
  if (execEnv) proc.execEnv = execEnv;
  return proc;
}

function metadataOf(doc: Fields): BuildMetadata {
  const md: BuildMetadata = {
    buildpacks: doc.list("buildpacks").map(groupEntryOf),
    processes: doc
      .list("processes")
      .map(processOf)
      .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
    labels: doc.list("labels").map((l) => ({ key: l.requiredStr("key"), value: l.str("value") ?? "" })),
    slices: doc.list("slices").map((s) => ({ paths: s.strs("paths") ?? [] })),
  };
  const extensions = doc.list("extensions").map(groupEntryOf);
  if (extensions.length) md.extensions = extensions;
  const def = doc.str("buildpack-default-process-type");
  if (def) md.buildpackDefaultProcessType = def;
  return md;
}

export function parseMetadata(text: string, file: string): BuildMetadata {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  return metadataOf(new Fields(parseToml(text, origin), origin));
}

/** `<layersDir>/config/metadata.toml`, confined to the layers directory; empty when there is none. */
export async function readMetadata(layersDir: string): Promise<BuildMetadata> {
  const tree = new ConfinedTree(layersDir, { owner: "the layers directory", name: "the layers directory" });
  const origin: Origin = { file: join(layersDir, "config", "metadata.toml"), code: "CNB_CONFIG_INVALID" };
  return metadataOf(new Fields((await readTomlIn(tree, "config/metadata.toml", origin, true)) ?? {}, origin));
}
