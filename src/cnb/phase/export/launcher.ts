/**
 * What makes the image launch (lc:phase/exporter.go addLauncherLayers): the launcher at
 * /cnb/lifecycle/launcher, the launch config (`<layers>/config`, holding metadata.toml) and the
 * `/cnb/process/<type>` links, with the default process chosen as the lifecycle chooses it.
 */
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { type LayerSource, planLayer } from "../../../layer/walk.ts";
import type { LayersMetadata } from "../../files/labels.ts";
import type { Process } from "../../files/launch.ts";
import type { BuildMetadata } from "../../files/metadata.ts";
import { isDir } from "./buildpacks.ts";
import { addLayer, type ExportContext } from "./context.ts";
import { LIFECYCLE_EPOCH } from "./layer.ts";

/** `--default-process` if the build has it (else a warning and none), else the buildpacks' if still defined. */
export function defaultProcessOf(x: ExportContext, md: BuildMetadata): string | undefined {
  const asked = x.i.defaultProcess;
  const has = (type: string | undefined) => md.processes.some((p) => p.type === type);
  if (asked === undefined)
    return has(md.buildpackDefaultProcessType) ? md.buildpackDefaultProcessType : undefined;
  if (has(asked)) return asked;
  x.i.warn?.(
    `default process type '${asked}' not present in list [${md.processes.map((p) => p.type).join(" ")}]`,
  );
  return undefined;
}

type LauncherShas = Pick<LayersMetadata, "launcher" | "config" | "process-types">;

export async function launcherLayers(x: ExportContext, processes: readonly Process[]): Promise<LauncherShas> {
  const out: LauncherShas = {};
  const launcherPath = x.i.launcher.path;
  const launcher = await x.maker.make({
    name: "buildpacksio/lifecycle:launcher",
    fingerprint: { sources: [{ source: launcherPath, dest: "/cnb/lifecycle/launcher" }], salt: "root" },
    entries: () =>
      planLayer([{ source: launcherPath, dest: "/cnb/lifecycle/launcher" }], { mtime: LIFECYCLE_EPOCH }),
    image: true,
    cache: false,
    likelyUnchanged: true,
  });
  addLayer(x, launcher.layer, "Buildpacks Application Launcher");
  out.launcher = { sha: launcher.diffId };

  const configSources: LayerSource[] = [];
  const configDir = join(x.i.layersDir, "config");
  if (await isDir(configDir)) configSources.push({ source: configDir, dest: `${x.layersPath}/config` });
  const config = await x.maker.make({
    name: "buildpacksio/lifecycle:config",
    fingerprint: {
      sources: configSources.map((s) => ({ source: s.source, dest: s.dest ?? "/" })),
      salt: x.planSalt,
    },
    entries: () => planLayer(configSources, x.plan),
    image: true,
    cache: false,
    likelyUnchanged: true,
  });
  addLayer(x, config.layer, "Buildpacks Launcher Config");
  out.config = { sha: config.diffId };

  if (processes.length > 0) {
    const ptDir = join(x.tmp, "process-types");
    await mkdir(ptDir, { recursive: true });
    for (const p of processes) await symlink("/cnb/lifecycle/launcher", join(ptDir, p.type));
    const pt = await x.maker.make({
      name: "buildpacksio/lifecycle:process-types",
      // "2": the tar format (absolute names since 2026-12); a key of the old format must not give its diffID.
      fingerprint: { key: `process-types 2:${processes.map((p) => p.type).join("\0")}` },
      entries: () => planLayer([{ source: ptDir, dest: "/cnb/process" }], { mtime: LIFECYCLE_EPOCH }),
      image: true,
      cache: false,
      likelyUnchanged: true,
    });
    addLayer(x, pt.layer, "Buildpacks Process Types");
    out["process-types"] = { sha: pt.diffId };
  }
  return out;
}
