/** Buildpack and Platform API versions: parsing, comparison, and what berth supports. */
import { BerthError } from "../errors.ts";

export interface ApiVersion {
  major: number;
  minor: number;
}

/** Buildpack APIs berth runs (0.7–0.12, as lifecycle v0.21 does). */
export const SUPPORTED_BUILDPACK_APIS = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"] as const;
/** Platform APIs berth implements. */
export const SUPPORTED_PLATFORM_APIS = ["0.13"] as const;
export const PLATFORM_API = "0.13";
/** berth's version, as `createdBy` in builder metadata. */
export const BERTH_VERSION = "0.1.0";

export function parseApi(text: string): ApiVersion | undefined {
  const m = /^(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: m[2] === undefined ? 0 : Number(m[2]) };
}

export function compareApi(a: string, b: string): number {
  const x = parseApi(a);
  const y = parseApi(b);
  if (!x || !y) throw new BerthError("INTERNAL", `comparing API versions ${a} and ${b}`);
  return x.major - y.major || x.minor - y.minor;
}

export function apiAtLeast(api: string, min: string): boolean {
  return compareApi(api, min) >= 0;
}

export function buildpackApiSupported(api: string): boolean {
  return SUPPORTED_BUILDPACK_APIS.some((s) => compareApi(s, api) === 0);
}
