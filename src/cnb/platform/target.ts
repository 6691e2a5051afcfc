/**
 * Target data (Platform API ≥0.12): os, arch, variant and distro of the base image, from its config and the
 * `io.buildpacks.base.distro.*` labels, else `/etc/os-release`; `CNB_TARGET_*` for buildpacks; matching a
 * buildpack's `[[targets]]` (empty values are wildcards on either side, lc platform/target_data.go).
 */
import type { Image } from "../../oci/image.ts";
import type { Target } from "../buildpack/descriptor.ts";

export interface TargetData {
  os: string;
  arch: string;
  variant?: string;
  distro?: { name: string; version: string };
  /** `io.buildpacks.base.id`. */
  id?: string;
}

const DISTRO_NAME_LABEL = "io.buildpacks.base.distro.name";
const DISTRO_VERSION_LABEL = "io.buildpacks.base.distro.version";
const BASE_ID_LABEL = "io.buildpacks.base.id";

export function targetOfImage(image: Image): TargetData {
  const cfg = image.config;
  const labels = cfg?.config?.Labels ?? {};
  const t: TargetData = { os: cfg?.os ?? "linux", arch: cfg?.architecture ?? "" };
  if (cfg?.variant) t.variant = cfg.variant;
  if (labels[DISTRO_NAME_LABEL] !== undefined || labels[DISTRO_VERSION_LABEL] !== undefined) {
    t.distro = { name: labels[DISTRO_NAME_LABEL] ?? "", version: labels[DISTRO_VERSION_LABEL] ?? "" };
  }
  if (labels[BASE_ID_LABEL]) t.id = labels[BASE_ID_LABEL];
  return t;
}

/** `ID` and `VERSION_ID` of an os-release file. */
export function parseOsRelease(text: string): { name: string; version: string } | undefined {
  const get = (k: string) => {
    const m = new RegExp(`^${k}=(.*)$`, "m").exec(text);
    return m ? m[1]!.trim().replace(/^["']|["']$/g, "") : "";
  };
  const name = get("ID");
  const version = get("VERSION_ID");
  return name || version ? { name, version } : undefined;
}

/** Fill in the distro from `/etc/os-release` when the labels did not give it. */
export async function completeTarget(
  t: TargetData,
  readRootFile: (p: string) => Promise<string | undefined>,
): Promise<TargetData> {
  if (t.distro) return t;
  const text = await readRootFile("/etc/os-release");
  const distro = text ? parseOsRelease(text) : undefined;
  return distro ? { ...t, distro } : t;
}

const matches = (a: string | undefined, b: string | undefined) => !a || !b || a === b;

export function targetSatisfied(base: TargetData, t: Target): boolean {
  if (!matches(base.os, t.os) || !matches(base.arch, t.arch) || !matches(base.variant, t.variant))
    return false;
  if (!t.distros?.length) return true;
  if (!base.distro) return false;
  return t.distros.some(
    (d) => matches(base.distro!.name, d.name) && matches(base.distro!.version, d.version),
  );
}

export function targetEnv(t: TargetData): string[] {
  const env = [`CNB_TARGET_OS=${t.os}`, `CNB_TARGET_ARCH=${t.arch}`];
  if (t.variant) env.push(`CNB_TARGET_ARCH_VARIANT=${t.variant}`);
  if (t.distro?.name) env.push(`CNB_TARGET_DISTRO_NAME=${t.distro.name}`);
  if (t.distro?.version) env.push(`CNB_TARGET_DISTRO_VERSION=${t.distro.version}`);
  return env;
}
