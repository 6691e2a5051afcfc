import { arch as hostArch } from "node:os";
import { BerthError } from "../errors.ts";

export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  features?: string[];
}

function platformError(field: string, why: string): BerthError {
  return new BerthError("MANIFEST_INVALID", `${field} ${why}`);
}

export function validatePlatform(value: unknown, field: string): Platform {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw platformError(field, "must be an object");
  }
  const p = value as Record<string, unknown>;
  if (typeof p.architecture !== "string") throw platformError(`${field}.architecture`, "must be a string");
  if (typeof p.os !== "string") throw platformError(`${field}.os`, "must be a string");
  if (p.variant !== undefined && typeof p.variant !== "string")
    throw platformError(`${field}.variant`, "must be a string");
  if (p["os.version"] !== undefined && typeof p["os.version"] !== "string") {
    throw platformError(`${field}["os.version"]`, "must be a string");
  }
  for (const key of ["os.features", "features"]) {
    const v = p[key];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== "string"))) {
      throw platformError(`${field}["${key}"]`, "must be an array of strings");
    }
  }
  return value as Platform;
}

/** Parse `os/arch[/variant]` as docker, skopeo and crane take it. */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((s) => !/^[a-z0-9._-]+$/i.test(s))) {
    throw new BerthError(
      "PLATFORM_INVALID",
      `platform ${JSON.stringify(text)} is not of the form os/arch[/variant]`,
      {
        hint: "for example linux/amd64 or linux/arm64/v8",
      },
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

const GOARCH: Record<string, string> = {
  x64: "amd64",
  ia32: "386",
  arm64: "arm64",
  arm: "arm",
  s390x: "s390x",
  ppc64: "ppc64le",
  riscv64: "riscv64",
  loong64: "loong64",
};

/** The platform this machine runs, in Go's names as the image-spec uses them. */
export function hostPlatform(): Platform {
  const architecture = GOARCH[hostArch()] ?? hostArch();
  return normalizePlatform({ os: "linux", architecture });
}

/** containerd's normalisation: arm64 implies variant v8; aarch64 and x86_64 aliases. */
export function normalizePlatform(p: Platform): Platform {
  let { architecture, variant } = p;
  if (architecture === "aarch64") architecture = "arm64";
  if (architecture === "x86_64" || architecture === "x86-64") architecture = "amd64";
  if (architecture === "arm64" && variant === "v8") variant = undefined;
  const out: Platform = { ...p, architecture };
  if (variant === undefined) delete out.variant;
  else out.variant = variant;
  return out;
}

/** Whether an index entry's platform satisfies the wanted one (variant only compared when wanted). */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false;
  const h = normalizePlatform(have);
  const w = normalizePlatform(want);
  if (h.os !== w.os || h.architecture !== w.architecture) return false;
  if (w.variant !== undefined && (h.variant ?? (h.architecture === "arm" ? "v7" : undefined)) !== w.variant)
    return false;
  if (w["os.version"] !== undefined && h["os.version"] !== w["os.version"]) return false;
  return true;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return "unknown";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** A comma-separated list of platforms (docker buildx's `--platform linux/amd64,linux/arm64`), each once. */
export function parsePlatformList(text: string): Platform[] {
  const out: Platform[] = [];
  for (const part of text.split(",")) {
    const p = parsePlatform(part.trim());
    if (out.some((q) => formatPlatform(q) === formatPlatform(p))) {
      throw new BerthError(
        "PLATFORM_INVALID",
        `platform list ${JSON.stringify(text)} names ${formatPlatform(p)} twice`,
      );
    }
    out.push(p);
  }
  return out;
}
