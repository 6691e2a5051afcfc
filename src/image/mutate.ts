import type { ContainerConfig } from "../oci/config.ts";
import type { CopyResult } from "../oci/copy.ts";
import { setEnv } from "../oci/mutate.ts";
import type { Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { editImage, epochToRfc3339 } from "./append.ts";

/** Changes to an image's execution parameters, with docker's and crane's meanings. */
export interface ConfigChanges {
  env?: string[];
  /** null clears it. */
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  workdir?: string | undefined;
  user?: string | undefined;
  labels?: Record<string, string>;
  /** `80`, `53/udp`. */
  expose?: string[];
  platform?: Platform;
  sourceDateEpoch?: number | undefined;
}

function applyChanges(c: ContainerConfig, ch: ConfigChanges): ContainerConfig {
  const out = { ...c };
  if (ch.env?.length) out.Env = setEnv(c.Env ?? [], ch.env);
  if (ch.entrypoint !== undefined) {
    out.Entrypoint = ch.entrypoint;
    // As docker: a new entrypoint resets an inherited Cmd unless one is given too.
    if (ch.cmd === undefined) out.Cmd = null;
  }
  if (ch.cmd !== undefined) out.Cmd = ch.cmd;
  if (ch.workdir !== undefined) out.WorkingDir = ch.workdir;
  if (ch.user !== undefined) out.User = ch.user;
  if (ch.labels && Object.keys(ch.labels).length) out.Labels = { ...(c.Labels ?? {}), ...ch.labels };
  if (ch.expose?.length) {
    out.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
    for (const p of ch.expose) out.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
  }
  return out;
}

/** crane mutate: a new image with the base's layers and a changed config. */
export function mutateImage(
  base: ImageArgument,
  target: ImageArgument,
  changes: ConfigChanges,
  ctx: TransportContext,
): Promise<CopyResult> {
  return editImage(base, target, ctx, undefined, async (image) => ({
    config: (c) => applyChanges(c, changes),
    platform: changes.platform,
    ...(changes.sourceDateEpoch === undefined
      ? { created: image?.config?.created ?? "1970-01-01T00:00:00Z" }
      : { created: epochToRfc3339(changes.sourceDateEpoch) }),
  }));
}
