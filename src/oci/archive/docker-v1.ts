import { createHash } from "node:crypto";
import { parseJson } from "../../util/json.ts";
import { isObject } from "../descriptor.ts";
import type { Digest } from "../digest.ts";

/** The legacy per-layer folder of a docker-archive: `<id>/VERSION`, `<id>/json`, `<id>/layer.tar`. */
export interface V1Layer {
  id: string;
  json: Buffer;
}

const EMPTY_CONTAINER_CONFIG = {
  Hostname: "",
  Domainname: "",
  User: "",
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: "",
  Volumes: null,
  WorkingDir: "",
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

/** JSON with object keys sorted at every level, as Go marshals maps: stable bytes for stable ids. */
export function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * The v1 ids and json files of an image's layers, as `docker save` makes them: each id is the sha256 of the
 * layer's v1 config with its ChainID and parent id, so ids are deterministic and shared by images that share
 * a layer chain; the top layer's json is the image config without `rootfs` and `history`.
 */
export function v1Layers(rawConfig: Buffer, chainIds: readonly Digest[]): V1Layer[] {
  const out: V1Layer[] = [];
  const config = parseJson(rawConfig, "image config", "CONFIG_INVALID") as Record<string, unknown>;
  const top: Record<string, unknown> = { ...config };
  delete top.rootfs;
  delete top.history;
  chainIds.forEach((chainId, i) => {
    const parent = out[i - 1]?.id;
    const base: Record<string, unknown> =
      i === chainIds.length - 1
        ? top
        : { created: "1970-01-01T00:00:00Z", container_config: EMPTY_CONTAINER_CONFIG };
    const id = sha256hex(
      sortedJson({
        ...base,
        id: undefined,
        layer_id: chainId,
        parent: parent ? `sha256:${parent}` : undefined,
      }),
    );
    const json = Buffer.from(sortedJson({ ...base, id, parent }), "utf8");
    out.push({ id, json });
  });
  return out;
}
