import { BerthError } from "../../errors.ts";
import { parseJson } from "../../util/json.ts";
import { isObject } from "../descriptor.ts";

/** One entry of a docker-archive's `manifest.json`. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
  Parent?: string;
  LayerSources?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** Parse `manifest.json`, naming the field at fault. */
export function parseDockerManifest(bytes: Buffer, archive: string): DockerManifestEntry[] {
  const bad = (field: string, why: string) =>
    new BerthError("ARCHIVE_INVALID", `archive ${archive}: manifest.json${field} ${why}`, {
      details: { archive, entry: "manifest.json" },
    });
  const doc = parseJson(bytes, `archive ${archive}: manifest.json`, "ARCHIVE_INVALID");
  if (!Array.isArray(doc)) throw bad("", "must be a JSON array");
  return doc.map((e, i) => {
    if (!isObject(e)) throw bad(`[${i}]`, "must be an object");
    if (typeof e.Config !== "string" || e.Config === "") throw bad(`[${i}].Config`, "must be a file name");
    const tags = e.RepoTags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
      throw bad(`[${i}].RepoTags`, "must be an array of strings");
    }
    const layers = e.Layers ?? [];
    if (!Array.isArray(layers) || layers.some((l) => typeof l !== "string" || l === "")) {
      throw bad(`[${i}].Layers`, "must be an array of file names");
    }
    return { ...e, Config: e.Config, RepoTags: tags as string[], Layers: layers as string[] };
  });
}
