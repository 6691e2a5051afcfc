/**
 * `--cache-to` and `--cache-from` values in BuildKit's (buildx's) CSV form: `type=registry,ref=REF[,mode=min|max]
 * [,compression=…][,oci-mediatypes=true|false][,image-manifest=true|false][,ignore-error=true|false]`,
 * `type=local,dest=DIR` / `type=local,src=DIR[,tag=…|digest=…]`, `type=inline`, and buildx's shorthand: a bare
 * reference is `type=registry,ref=REF`. An unknown type, attribute or value is an error naming it.
 */
import { BerthError } from "../errors.ts";
import { validateDigest } from "../oci/digest.ts";
import type { Compression } from "../oci/mediatype.ts";
import { parseReference } from "../oci/reference.ts";

export type CacheMode = "min" | "max";

export interface CacheExportOptions {
  mode: CacheMode;
  ociMediaTypes: boolean;
  imageManifest: boolean;
  ignoreError: boolean;
  /** The layers' compression in the cache (default: as built); BuildKit's `uncompressed` is `none`. */
  compression?: Compression | undefined;
  compressionLevel?: number | undefined;
  /** Recompress layers already in `compression` too (at `compressionLevel`). */
  forceCompression: boolean;
}

export type CacheTo =
  | ({ type: "registry"; ref: string; text: string } & CacheExportOptions)
  | ({ type: "local"; dest: string; tag: string; text: string } & CacheExportOptions)
  | { type: "inline"; text: string };

export type CacheFrom =
  | { type: "registry"; ref: string; text: string }
  | { type: "local"; src: string; tag: string; digest?: string | undefined; text: string };

const EXPORT_ATTRS = [
  "mode",
  "oci-mediatypes",
  "image-manifest",
  "compression",
  "compression-level",
  "force-compression",
  "ignore-error",
];

/** A bad value of `flag`, named in one sentence. */
export function usage(flag: string, value: string, why: string, hint?: string): BerthError {
  return new BerthError("USAGE", `${flag} ${JSON.stringify(value)}: ${why}`, hint ? { hint } : {});
}

/** Split `a=b,c=d` (a value may be quoted with "…" to hold commas, as in buildx's CSV). */
export function attributes(flag: string, value: string): Map<string, string> {
  const out = new Map<string, string>();
  const fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === "," && !quoted) {
      fields.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw usage(flag, value, "a quote is not closed");
  fields.push(cur);
  for (const f of fields) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw usage(flag, value, `${JSON.stringify(f)} is not key=value`);
    const key = f.slice(0, eq).trim().toLowerCase();
    if (out.has(key)) throw usage(flag, value, `${key}= is given twice`);
    out.set(key, f.slice(eq + 1).trim());
  }
  return out;
}

/** A `true`/`false` attribute (default `dflt`). */
export function bool(
  flag: string,
  value: string,
  key: string,
  v: string | undefined,
  dflt: boolean,
): boolean {
  if (v === undefined) return dflt;
  if (v === "true") return true;
  if (v === "false") return false;
  throw usage(flag, value, `${key}=${JSON.stringify(v)} must be true or false`);
}

function refOf(flag: string, value: string, ref: string | undefined): string {
  if (!ref)
    throw usage(flag, value, "type=registry needs ref=", "--cache-to type=registry,ref=REGISTRY/REPO:TAG");
  try {
    parseReference(ref);
  } catch (err) {
    throw usage(
      flag,
      value,
      `ref=${JSON.stringify(ref)} is not an image reference (${(err as Error).message})`,
    );
  }
  return ref;
}

function refuseUnknown(flag: string, value: string, a: Map<string, string>, known: string[]): void {
  for (const k of a.keys()) {
    if (!known.includes(k)) {
      throw usage(flag, value, `unknown attribute ${k}=`, `this cache type takes ${known.join("=, ")}=`);
    }
  }
}

function typeOf(flag: string, value: string, a: Map<string, string>): string {
  const type = a.get("type");
  if (type === undefined) throw usage(flag, value, "no type=", "type=registry, type=local or type=inline");
  if (["gha", "s3", "azblob"].includes(type)) {
    throw usage(flag, value, `type=${type} is not supported by berth`, "use type=registry or type=local");
  }
  return type;
}

function exportOptions(flag: string, value: string, a: Map<string, string>): CacheExportOptions {
  const mode = a.get("mode") ?? "min";
  if (mode !== "min" && mode !== "max")
    throw usage(flag, value, `mode=${JSON.stringify(mode)} must be min or max`);
  const named = a.get("compression");
  let compression: Compression | undefined;
  if (named !== undefined) {
    if (named === "gzip" || named === "zstd") compression = named;
    else if (named === "uncompressed") compression = "none";
    else if (named === "estargz") {
      throw usage(flag, value, "compression=estargz is not supported by berth", "gzip, zstd or uncompressed");
    } else
      throw usage(flag, value, `compression=${JSON.stringify(named)} must be gzip, zstd or uncompressed`);
  }
  const levelText = a.get("compression-level");
  let compressionLevel: number | undefined;
  if (levelText !== undefined) {
    compressionLevel = Number(levelText);
    const max = compression === "zstd" ? 22 : 9;
    if (!/^\d+$/.test(levelText) || compressionLevel < 1 || compressionLevel > max) {
      throw usage(
        flag,
        value,
        `compression-level=${JSON.stringify(levelText)} must be a whole number 1-${max}`,
      );
    }
    if (compression === undefined || compression === "none") {
      throw usage(flag, value, "compression-level= needs compression=gzip or compression=zstd");
    }
  }
  const forceCompression = bool(flag, value, "force-compression", a.get("force-compression"), false);
  if (forceCompression && compression === undefined) {
    throw usage(flag, value, "force-compression=true needs compression=");
  }
  const ociMediaTypes = bool(flag, value, "oci-mediatypes", a.get("oci-mediatypes"), true);
  const imageManifest = bool(flag, value, "image-manifest", a.get("image-manifest"), false);
  if (imageManifest && !ociMediaTypes) {
    throw usage(flag, value, "image-manifest=true needs oci-mediatypes=true (as BuildKit)");
  }
  if (compression === "zstd" && !ociMediaTypes) {
    throw usage(
      flag,
      value,
      "compression=zstd needs oci-mediatypes=true (Docker's media types have no zstd layer)",
    );
  }
  return {
    mode,
    ociMediaTypes,
    imageManifest,
    ignoreError: bool(flag, value, "ignore-error", a.get("ignore-error"), false),
    compression,
    compressionLevel,
    forceCompression,
  };
}

export function parseCacheTo(value: string): CacheTo {
  const flag = "--cache-to";
  if (!value.includes("="))
    return {
      type: "registry",
      ref: refOf(flag, value, value),
      text: value,
      ...exportOptions(flag, value, new Map()),
    };
  const a = attributes(flag, value);
  const type = typeOf(flag, value, a);
  switch (type) {
    case "registry":
      refuseUnknown(flag, value, a, ["type", "ref", ...EXPORT_ATTRS]);
      return { type, ref: refOf(flag, value, a.get("ref")), text: value, ...exportOptions(flag, value, a) };
    case "local": {
      refuseUnknown(flag, value, a, ["type", "dest", "tag", ...EXPORT_ATTRS]);
      const dest = a.get("dest");
      if (!dest) throw usage(flag, value, "type=local needs dest=", "--cache-to type=local,dest=DIR");
      return { type, dest, tag: a.get("tag") || "latest", text: value, ...exportOptions(flag, value, a) };
    }
    case "inline":
      refuseUnknown(flag, value, a, ["type"]);
      return { type, text: value };
    default:
      throw usage(
        flag,
        value,
        `unknown type=${JSON.stringify(type)}`,
        "type=registry, type=local or type=inline",
      );
  }
}

export function parseCacheFrom(value: string): CacheFrom {
  const flag = "--cache-from";
  if (!value.includes("=")) return { type: "registry", ref: refOf(flag, value, value), text: value };
  const a = attributes(flag, value);
  const type = typeOf(flag, value, a);
  switch (type) {
    case "registry":
      refuseUnknown(flag, value, a, ["type", "ref"]);
      return { type, ref: refOf(flag, value, a.get("ref")), text: value };
    case "local": {
      refuseUnknown(flag, value, a, ["type", "src", "tag", "digest"]);
      const src = a.get("src");
      if (!src) throw usage(flag, value, "type=local needs src=", "--cache-from type=local,src=DIR");
      const digest = a.get("digest");
      if (digest !== undefined) {
        try {
          validateDigest(digest, "digest=");
        } catch (err) {
          throw usage(flag, value, (err as Error).message);
        }
      }
      return { type, src, tag: a.get("tag") || "latest", digest: digest || undefined, text: value };
    }
    case "inline":
      throw usage(
        flag,
        value,
        "type=inline is written with --cache-to; an image's inline cache is read with type=registry",
        "--cache-from type=registry,ref=IMAGE",
      );
    default:
      throw usage(flag, value, `unknown type=${JSON.stringify(type)}`, "type=registry or type=local");
  }
}
