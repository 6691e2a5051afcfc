/**
 * The app image's config and labels (lc:phase/exporter.go): the run image's config with the lifecycle's env,
 * entrypoint, working dir and history, the buildpacks' labels, and `io.buildpacks.lifecycle.metadata`,
 * `io.buildpacks.build.metadata`, `io.buildpacks.project.metadata`.
 */
import { assemble, contentLayers } from "../../../oci/assemble.ts";
import type { ImageConfig } from "../../../oci/config.ts";
import type { Image } from "../../../oci/image.ts";
import { isDocker } from "../../../oci/mediatype.ts";
import { setEnv } from "../../../oci/mutate.ts";
import { apiAtLeast } from "../../api.ts";
import {
  type BuildMetadataLabel,
  LABEL,
  type LayersMetadata,
  type ProcessLabel,
} from "../../files/labels.ts";
import type { Process } from "../../files/launch.ts";
import type { BuildMetadata } from "../../files/metadata.ts";
import type { ExportContext } from "./context.ts";

/** The run image's part of `io.buildpacks.lifecycle.metadata`: `runImage` and `stack`. */
export function runImageRecords(
  x: ExportContext,
  md: BuildMetadata,
): Pick<LayersMetadata, "runImage" | "stack"> {
  const run = x.i.runImage;
  const runDiffIds = run.image.config?.rootfs.diff_ids ?? [];
  const extended = (md.extensions?.length ?? 0) > 0;
  const forExport = runImageForExport(run.name, x.i.runImages ?? [], x.i.platformApi, extended);
  return {
    runImage: {
      topLayer: run.topLayer ?? runDiffIds[runDiffIds.length - 1] ?? "",
      reference: run.reference,
      ...(apiAtLeast(x.i.platformApi, "0.12") ? forExport : {}),
    },
    stack: { runImage: forExport },
  };
}

/**
 * `io.buildpacks.build.metadata`, field order and omissions as lc:platform/files.BuildMetadata marshals it:
 * `bom` only below Platform API 0.9 (berth records no legacy BOM there: null), the buildpacks' default process
 * type when one was set.
 */
export function buildMetadataLabel(x: ExportContext, md: BuildMetadata): BuildMetadataLabel {
  const { launcher } = x.i;
  return {
    ...(apiAtLeast(x.i.platformApi, "0.9") ? {} : { bom: null }),
    buildpacks: x.i.group.map((b) => ({
      id: b.id,
      version: b.version,
      ...(b.homepage ? { homepage: b.homepage } : {}),
    })),
    ...(md.extensions?.length
      ? {
          extensions: md.extensions.map((b) => ({
            id: b.id,
            version: b.version,
            ...(b.homepage ? { homepage: b.homepage } : {}),
          })),
        }
      : {}),
    launcher: {
      version: launcher.version,
      source: {
        git: { repository: launcher.source?.repository ?? "", commit: launcher.source?.commit ?? "" },
      },
    },
    processes: md.processes.map(labelProcess),
    ...(md.buildpackDefaultProcessType
      ? { "buildpack-default-process-type": md.buildpackDefaultProcessType }
      : {}),
  };
}

/** The image: the run image's layers, then the exported ones, under the run image's config made the app's. */
export function imageOf(
  x: ExportContext,
  md: BuildMetadata,
  labels: { metadata: LayersMetadata; build: BuildMetadataLabel },
  defaultProcess: string | undefined,
): Image {
  const run = x.i.runImage.image;
  const base = run.imageConfig();
  const cfg: ImageConfig = structuredClone(base);
  cfg.created = x.created;
  cfg.history = [...(base.history ?? []), ...x.history];
  const c = { ...(cfg.config ?? {}) };
  const basePath = (c.Env ?? []).find((e) => e.startsWith("PATH="))?.slice(5);
  c.Env = setEnv(c.Env, [
    `CNB_LAYERS_DIR=${x.layersPath}`,
    `CNB_APP_DIR=${x.appPath}`,
    `CNB_PLATFORM_API=${x.i.platformApi}`,
    "CNB_DEPRECATION_MODE=quiet",
    `PATH=/cnb/process:/cnb/lifecycle${basePath ? `:${basePath}` : ""}`,
  ]);
  x.i.log?.(defaultProcess ? `Setting default process type '${defaultProcess}'` : "no default process type");
  c.Entrypoint = [defaultProcess ? `/cnb/process/${defaultProcess}` : "/cnb/lifecycle/launcher"];
  c.Cmd = null;
  c.WorkingDir = x.appPath;
  const all: Record<string, string> = { ...(c.Labels ?? {}) };
  for (const l of md.labels) all[l.key] = l.value;
  const set = (k: string, v: string) => {
    x.i.log?.(`Adding label '${k}'`);
    all[k] = v;
  };
  set(LABEL.lifecycle, JSON.stringify(labels.metadata));
  set(LABEL.build, JSON.stringify(labels.build));
  set(LABEL.project, JSON.stringify(x.i.projectMetadata ?? {}));
  c.Labels = all;
  cfg.config = c;
  const runDiffIds = run.config?.rootfs.diff_ids ?? [];
  const runLayers = run
    .layers()
    .map((l, k) => ({ descriptor: l.descriptor, diffId: runDiffIds[k]!, from: run.source }));
  return assemble(cfg, contentLayers([...runLayers, ...x.layers]), { docker: isDocker(run.mediaType) });
}

/**
 * The run image the label records for rebase (lc:platform/run_image.go GetRunImageForExport): from Platform API
 * 0.12 the run.toml entry naming the run image used (by its image or a mirror), else run.toml's first; below 0.12
 * stack.toml's (the builder's first). `{}` when the builder lists none (so `--run-image` alone records no name).
 */
export function runImageForExport(
  used: string,
  runImages: readonly { image: string; mirrors?: string[] }[],
  platformApi: string,
  /** Extensions took part: they may have switched the run image, so run.toml's first is not assumed. */
  extensions = false,
): { image?: string; mirrors?: string[] } {
  const shape = (r: { image: string; mirrors?: string[] } | undefined) =>
    r
      ? { ...(r.image ? { image: r.image } : {}), ...(r.mirrors?.length ? { mirrors: [...r.mirrors] } : {}) }
      : {};
  if (!apiAtLeast(platformApi, "0.12")) return shape(runImages[0]);
  const bare = (n: string) => n.replace(/@sha256:[0-9a-f]+$/, "");
  const found = runImages.find((r) => [r.image, ...(r.mirrors ?? [])].some((n) => bare(n) === bare(used)));
  if (!found && extensions && runImages.length) return { image: used };
  return shape(found ?? runImages[0]);
}

/** The process as `io.buildpacks.build.metadata` shows it (lc launch.Process JSON). */
function labelProcess(p: Process): ProcessLabel {
  return {
    type: p.type,
    command: p.command,
    // Go's nil slice: a process without args is `null` there.
    args: p.args.length ? p.args : null,
    direct: p.direct,
    buildpackID: p.buildpackId,
    ...(p.workingDir ? { "working-dir": p.workingDir } : {}),
  };
}
