/** `group.toml` (`<layers>/group.toml`, lc:platform/files group): the buildpacks detection chose, in order. */
import { Fields, type Origin, parseToml, toToml } from "../toml.ts";

/** A buildpack of the chosen group: the one group-entry type (group.toml, metadata.toml, the labels). */
export interface GroupEntry {
  id: string;
  version: string;
  /** The buildpack's Buildpack API (detect always sets it; a hand-written file may leave it out). */
  api: string;
  homepage?: string;
}

export interface Group {
  group: GroupEntry[];
  /** `[[group-extensions]]`: the image extensions that passed detection (Platform API 0.10+). */
  groupExtensions?: GroupEntry[];
}

/** One `[[group]]`/`[[buildpacks]]` table as the lifecycle writes it. */
export function groupEntryTable(e: GroupEntry): Record<string, string> {
  return {
    id: e.id,
    version: e.version,
    ...(e.api ? { api: e.api } : {}),
    ...(e.homepage ? { homepage: e.homepage } : {}),
  };
}

export function groupEntryOf(f: Fields): GroupEntry {
  const e: GroupEntry = { id: f.requiredStr("id"), version: f.str("version") ?? "", api: f.str("api") ?? "" };
  const homepage = f.str("homepage");
  if (homepage) e.homepage = homepage;
  return e;
}

export function encodeGroup(group: Group): string {
  return toToml({
    group: group.group.map(groupEntryTable),
    ...(group.groupExtensions?.length
      ? { "group-extensions": group.groupExtensions.map(groupEntryTable) }
      : {}),
  });
}

export function parseGroup(text: string, file: string): Group {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const f = new Fields(parseToml(text, origin), origin);
  const extensions = f.list("group-extensions").map(groupEntryOf);
  return {
    group: f.list("group").map(groupEntryOf),
    ...(extensions.length ? { groupExtensions: extensions } : {}),
  };
}
