import { BerthError } from "../errors.ts";
import { type Digest, validateDigest, verifyBytes } from "./digest.ts";
import { type Platform, validatePlatform } from "./platform.ts";

/** An OCI content descriptor. Unknown fields are kept when a descriptor is read from JSON. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Platform;
  [extra: string]: unknown;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function invalid(
  code: "MANIFEST_INVALID" | "CONFIG_INVALID" | "LAYOUT_INVALID",
  field: string,
  why: string,
) {
  return new BerthError(code, `${field} ${why}`);
}

export function validateStringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw invalid("MANIFEST_INVALID", field, "must be an object of strings");
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string")
      throw invalid("MANIFEST_INVALID", `${field}[${JSON.stringify(k)}]`, "must be a string");
  }
  return value as Record<string, string>;
}

/** Validate a descriptor read from JSON; `field` names it in errors ("manifest.layers[2]"). */
export function validateDescriptor(value: unknown, field: string): Descriptor {
  if (!isObject(value)) throw invalid("MANIFEST_INVALID", field, "must be an object");
  const { mediaType, digest, size, urls, data, artifactType, platform } = value;
  if (typeof mediaType !== "string" || mediaType === "") {
    throw invalid("MANIFEST_INVALID", `${field}.mediaType`, "must be a non-empty string");
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/.test(mediaType)) {
    throw invalid(
      "MANIFEST_INVALID",
      `${field}.mediaType`,
      `${JSON.stringify(mediaType)} is not a media type`,
    );
  }
  try {
    validateDigest(digest, `${field}.digest`);
  } catch (err) {
    throw new BerthError("MANIFEST_INVALID", (err as Error).message, { cause: err, details: { digest } });
  }
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalid("MANIFEST_INVALID", `${field}.size`, "must be a non-negative integer");
  }
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== "string"))) {
    throw invalid("MANIFEST_INVALID", `${field}.urls`, "must be an array of strings");
  }
  validateStringMap(value.annotations, `${field}.annotations`);
  if (artifactType !== undefined && typeof artifactType !== "string") {
    throw invalid("MANIFEST_INVALID", `${field}.artifactType`, "must be a string");
  }
  if (data !== undefined) {
    if (typeof data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
      throw invalid("MANIFEST_INVALID", `${field}.data`, "must be base64");
    }
    try {
      verifyBytes(Buffer.from(data, "base64"), digest as string, size, `${field}.data`);
    } catch (err) {
      throw new BerthError("MANIFEST_INVALID", (err as Error).message, { cause: err });
    }
  }
  if (platform !== undefined) validatePlatform(platform, `${field}.platform`);
  return value as Descriptor;
}
