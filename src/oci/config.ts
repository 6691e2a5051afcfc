import { BerthError } from "../errors.ts";
import { invalid, isObject } from "./descriptor.ts";
import { validateDigest } from "./digest.ts";
import { parseJson } from "./manifest.ts";

/** Docker's health check (durations in nanoseconds). */
export interface Healthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The execution parameters of an image config (`config` object). Unknown fields are kept. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Memory?: number;
  MemorySwap?: number;
  CpuShares?: number;
  Healthcheck?: Healthcheck;
  OnBuild?: string[] | null;
  Shell?: string[];
  [extra: string]: unknown;
}

export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
  [extra: string]: unknown;
}

/** An image config (OCI `application/vnd.oci.image.config.v1+json` or Docker's). Unknown fields are kept. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: History[];
  [extra: string]: unknown;
}

const c = (field: string, why: string) => invalid("CONFIG_INVALID", field, why);

function stringArray(v: unknown, field: string, nullable = false): void {
  if (v === undefined || (nullable && v === null)) return;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw c(field, "must be an array of strings");
}

function objectSet(v: unknown, field: string): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) throw c(field, "must be an object");
}

/** Parse and validate an image config, naming the field at fault. */
export function parseConfig(bytes: Uint8Array, what = "config"): ImageConfig {
  const doc = parseJson(bytes, what, "CONFIG_INVALID");
  if (!isObject(doc)) throw c(what, "must be a JSON object");
  for (const key of ["architecture", "os"] as const) {
    if (typeof doc[key] !== "string") throw c(`${what}.${key}`, "must be a string");
  }
  if (
    doc.created !== undefined &&
    (typeof doc.created !== "string" || Number.isNaN(Date.parse(doc.created)))
  ) {
    throw c(`${what}.created`, "must be an RFC 3339 date-time");
  }
  if (doc.author !== undefined && typeof doc.author !== "string")
    throw c(`${what}.author`, "must be a string");
  if (doc.variant !== undefined && typeof doc.variant !== "string")
    throw c(`${what}.variant`, "must be a string");
  const rootfs = doc.rootfs;
  if (!isObject(rootfs)) throw c(`${what}.rootfs`, "must be an object");
  if (rootfs.type !== "layers")
    throw c(`${what}.rootfs.type`, `must be "layers", not ${JSON.stringify(rootfs.type)}`);
  if (!Array.isArray(rootfs.diff_ids)) throw c(`${what}.rootfs.diff_ids`, "must be an array");
  rootfs.diff_ids.forEach((d, i) => {
    try {
      validateDigest(d, `${what}.rootfs.diff_ids[${i}]`);
    } catch (err) {
      throw new BerthError("CONFIG_INVALID", (err as Error).message, { cause: err });
    }
  });
  if (doc.history !== undefined) {
    if (!Array.isArray(doc.history)) throw c(`${what}.history`, "must be an array");
    doc.history.forEach((h, i) => {
      if (!isObject(h)) throw c(`${what}.history[${i}]`, "must be an object");
      if (h.empty_layer !== undefined && typeof h.empty_layer !== "boolean") {
        throw c(`${what}.history[${i}].empty_layer`, "must be a boolean");
      }
    });
  }
  const cfg = doc.config;
  if (cfg !== undefined && cfg !== null) {
    if (!isObject(cfg)) throw c(`${what}.config`, "must be an object");
    const f = `${what}.config`;
    if (cfg.User !== undefined && typeof cfg.User !== "string") throw c(`${f}.User`, "must be a string");
    stringArray(cfg.Env, `${f}.Env`, true);
    if (Array.isArray(cfg.Env)) {
      cfg.Env.forEach((e, i) => {
        if (!/^[^=]+=/.test(e as string))
          throw c(`${f}.Env[${i}]`, `${JSON.stringify(e)} is not of the form KEY=VALUE`);
      });
    }
    stringArray(cfg.Entrypoint, `${f}.Entrypoint`, true);
    stringArray(cfg.Cmd, `${f}.Cmd`, true);
    stringArray(cfg.OnBuild, `${f}.OnBuild`, true);
    stringArray(cfg.Shell, `${f}.Shell`, true);
    objectSet(cfg.ExposedPorts, `${f}.ExposedPorts`);
    objectSet(cfg.Volumes, `${f}.Volumes`);
    objectSet(cfg.Healthcheck, `${f}.Healthcheck`);
    if (cfg.Labels !== undefined && cfg.Labels !== null) {
      if (!isObject(cfg.Labels)) throw c(`${f}.Labels`, "must be an object");
      for (const [k, v] of Object.entries(cfg.Labels)) {
        if (typeof v !== "string") throw c(`${f}.Labels[${JSON.stringify(k)}]`, "must be a string");
      }
    }
    for (const key of ["WorkingDir", "StopSignal"]) {
      if (cfg[key] !== undefined && typeof cfg[key] !== "string") throw c(`${f}.${key}`, "must be a string");
    }
  }
  return doc as unknown as ImageConfig;
}
