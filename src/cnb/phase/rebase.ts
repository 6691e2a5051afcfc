/**
 * The rebase phase (Platform API §rebaser; lc:phase/rebaser.go): the app image's layers up to and including
 * `runImage.topLayer` are swapped for the new run image's; the app layers above stay as they are (same
 * blobs, same descriptors), so only a config and a manifest are new. The lifecycle's checks, in its order and
 * words: an app built for Platform API < 0.12 needs the same stack id; otherwise the app must be rebasable
 * and the new run image's target (os, arch, variant, `io.buildpacks.base.distro.*`) must satisfy the app's
 * (each overridable with `force`, which then warns); and the new run image's name must be the app's recorded
 * run image or one of its mirrors (with `force`: a warning, and the new name is recorded, mirrors dropped).
 */
import { BerthError } from "../../errors.ts";
import { type AssembledLayer, assemble, contentLayers } from "../../oci/assemble.ts";
import type { BlobSource } from "../../oci/blob.ts";
import type { ImageConfig } from "../../oci/config.ts";
import type { Image } from "../../oci/image.ts";
import { isDocker } from "../../oci/mediatype.ts";
import { parseReference } from "../../oci/reference.ts";
import { apiAtLeast } from "../api.ts";
import { LABEL, type LayersMetadata, parseJsonLabel } from "../files/labels.ts";

export interface RebaseInputs {
  app: Image;
  appName: string;
  /** The new run image. */
  runImage: Image;
  /** Its name as given or configured (checked against the app's run image and mirrors). */
  runImageName: string;
  /** Pinned reference written into `runImage.reference`. */
  runImageReference: string;
  force: boolean;
  log?: (line: string) => void;
  /** What `force` lets through, in the lifecycle's words. */
  warn?: (line: string) => void;
}

/** The lifecycle's `files.TargetMetadata` of an image (lc platform/target_data.go `GetTargetMetadata`). */
interface TargetMetadata {
  os: string;
  arch: string;
  "arch-variant"?: string;
  distro?: { name: string; version: string };
}

function targetOf(cfg: ImageConfig): TargetMetadata {
  const t: TargetMetadata = { os: cfg.os ?? "", arch: cfg.architecture ?? "" };
  if (cfg.variant) t["arch-variant"] = cfg.variant;
  const labels = cfg.config?.Labels ?? {};
  const name = labels["io.buildpacks.base.distro.name"];
  const version = labels["io.buildpacks.base.distro.version"];
  if (name !== undefined || version !== undefined) t.distro = { name: name ?? "", version: version ?? "" };
  return t;
}

/** lc platform `TargetSatisfiedForRebase`. */
function satisfiedForRebase(base: TargetMetadata, app: TargetMetadata): boolean {
  if (base.os !== app.os || base.arch !== app.arch) return false;
  const v1 = base["arch-variant"] ?? "";
  const v2 = app["arch-variant"] ?? "";
  if (v1 !== "" && v2 !== "" && v1 !== v2) return false;
  if (base.distro) {
    if (!app.distro) return false;
    if (base.distro.name !== "" && base.distro.name !== app.distro.name) return false;
    if (base.distro.version !== "" && base.distro.version !== app.distro.version) return false;
  }
  return true;
}

/**
 * An image name compared as the lifecycle compares run image names (lc internal/name `ParseMaybe`): without
 * its digest, a registry reference in full (`docker.io/library/x:latest`); other transports as written.
 */
function comparableName(name: string): string {
  const bare = name.startsWith("docker://") ? name.slice("docker://".length) : name;
  const noDigest = bare.includes("@sha256:") ? bare.slice(0, bare.indexOf("@")) : bare;
  try {
    const r = parseReference(noDigest);
    return `${r.registry}/${r.repository}:${r.tag ?? "latest"}`;
  } catch {
    return noDigest;
  }
}

const PROVIDE_FORCE = "please provide -force to override";

export interface RebaseResult {
  image: Image;
  metadata: LayersMetadata;
  /** App layers kept (above the old run image). */
  appLayers: number;
  /** Layers of the new run image. */
  runLayers: number;
}

/** Labels re-synced from the run image: the base image's own. */
const BASE_LABEL_PREFIXES = ["io.buildpacks.base.", "io.buildpacks.stack."];

type Fail = (why: string, hint?: string) => BerthError;

export class Rebaser {
  readonly i: RebaseInputs;

  constructor(i: RebaseInputs) {
    this.i = i;
  }

  rebase(): RebaseResult {
    const { app, runImage } = this.i;
    const fail = (why: string, hint?: string) =>
      new BerthError("CNB_REBASE_FAILED", `rebasing ${this.i.appName}: ${why}`, hint ? { hint } : {});
    const appCfg = app.imageConfig();
    const runCfg = runImage.imageConfig();
    const labels = appCfg.config?.Labels ?? {};
    const md = parseJsonLabel<LayersMetadata>(labels[LABEL.lifecycle], LABEL.lifecycle, this.i.appName);
    if (!md?.runImage?.topLayer) {
      throw fail(
        `it has no ${LABEL.lifecycle} label with runImage.topLayer: it was not built with buildpacks`,
      );
    }
    const warn = (line: string) => this.i.warn?.(`Warning: ${line}`);
    this.#checkCompatible(appCfg, runCfg, fail, warn);
    const diffIds = appCfg.rootfs.diff_ids;
    const top = diffIds.lastIndexOf(md.runImage.topLayer);
    if (top < 0) throw fail(`it has no layer ${md.runImage.topLayer} (runImage.topLayer)`);
    const runDiffIds = runCfg.rootfs.diff_ids;
    const appLayers = app.layers().slice(top + 1);
    const layers: AssembledLayer[] = [
      ...runImage
        .layers()
        .map((l, k) => ({ descriptor: l.descriptor, diffId: runDiffIds[k]!, from: runImage.source })),
      ...appLayers.map((l, k) => ({
        descriptor: l.descriptor,
        diffId: diffIds[top + 1 + k]!,
        from: app.source as BlobSource,
      })),
    ];
    // History: the new run image's, then the app's entries after the old run image's.
    const appHistory = appCfg.history ?? [];
    let seen = 0;
    let cut = appHistory.length;
    for (let h = 0; h < appHistory.length; h++) {
      if (appHistory[h]!.empty_layer) continue;
      if (seen === top + 1) {
        cut = h;
        break;
      }
      seen++;
    }
    const newTop = runDiffIds[runDiffIds.length - 1] ?? "";
    const metadata: LayersMetadata = {
      ...md,
      runImage: { ...md.runImage, topLayer: newTop, reference: this.i.runImageReference },
    };
    this.#checkRunImageName(md, metadata, fail, warn);
    const newLabels: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) {
      if (!BASE_LABEL_PREFIXES.some((p) => k.startsWith(p))) newLabels[k] = v;
    }
    for (const [k, v] of Object.entries(runCfg.config?.Labels ?? {})) {
      if (BASE_LABEL_PREFIXES.some((p) => k.startsWith(p))) newLabels[k] = v;
    }
    newLabels[LABEL.lifecycle] = JSON.stringify(metadata);
    const cfg: ImageConfig = {
      ...structuredClone(appCfg),
      os: runCfg.os,
      architecture: runCfg.architecture,
      history: [...(runCfg.history ?? []), ...appHistory.slice(cut)],
      config: { ...structuredClone(appCfg.config ?? {}), Labels: newLabels },
    };
    if (runCfg.variant) cfg.variant = runCfg.variant;
    else delete cfg.variant;
    if (runCfg.history === undefined && appCfg.history === undefined) delete cfg.history;
    const image = assemble(cfg, contentLayers(layers), { docker: isDocker(app.mediaType) });
    this.i.log?.(`Rebasing ${this.i.appName} on run image ${this.i.runImageName}`);
    return { image, metadata, appLayers: appLayers.length, runLayers: runDiffIds.length };
  }

  /** lc phase/rebaser.go: the stack id below Platform API 0.12, else rebasable and the targets. */
  #checkCompatible(appCfg: ImageConfig, runCfg: ImageConfig, fail: Fail, warn: (line: string) => void): void {
    const force = this.i.force;
    const labels = appCfg.config?.Labels ?? {};
    const appPlatformApi = (appCfg.config?.Env ?? [])
      .find((e) => e.startsWith("CNB_PLATFORM_API="))
      ?.slice("CNB_PLATFORM_API=".length);
    if (!appPlatformApi || !apiAtLeast(appPlatformApi, "0.12")) {
      const appStack = labels[LABEL.stackId];
      const runStack = runCfg.config?.Labels?.[LABEL.stackId];
      if (!appStack) throw fail("stack not defined on app image");
      if (!runStack) throw fail("stack not defined on new base image");
      if (appStack !== runStack)
        throw fail(`incompatible stack: '${runStack}' is not compatible with '${appStack}'`);
    } else {
      if (labels[LABEL.rebasable] === "false") {
        if (!force)
          throw fail(`app image is not marked as rebasable; ${PROVIDE_FORCE}`, "rebase anyway with --force");
        warn("app image is not marked as rebasable");
      }
      const appTarget = targetOf(appCfg);
      const runTarget = targetOf(runCfg);
      if (!satisfiedForRebase(runTarget, appTarget)) {
        const msg = `unable to satisfy target os/arch constraints; new run image: ${JSON.stringify(runTarget)}, old run image: ${JSON.stringify(appTarget)}`;
        if (!force) throw fail(`${msg}; ${PROVIDE_FORCE}`, "rebase anyway with --force");
        warn(msg);
      }
    }
  }

  /** The run image's name must be one the app recorded (lc `containsName`: runImage, else the older stack). */
  #checkRunImageName(
    md: LayersMetadata,
    metadata: LayersMetadata,
    fail: Fail,
    warn: (line: string) => void,
  ): void {
    const force = this.i.force;
    const newTop = metadata.runImage!.topLayer;
    const wanted = comparableName(this.i.runImageName);
    const recorded = (r: { image?: string; mirrors?: string[] } | undefined) =>
      [r?.image, ...(r?.mirrors ?? [])].filter((n): n is string => !!n).map(comparableName);
    if (![...recorded(md.runImage), ...recorded(md.stack?.runImage)].includes(wanted)) {
      const existing = md.runImage?.image
        ? JSON.stringify(metadata.runImage)
        : md.stack
          ? JSON.stringify(md.stack.runImage)
          : "not found";
      const msg = `rebase app image: new base image '${this.i.runImageName}' not found in existing run image metadata: ${existing}`;
      if (!force) throw fail(`${msg}; ${PROVIDE_FORCE}`, "rebase anyway with --force");
      warn(msg);
      metadata.runImage = {
        topLayer: newTop,
        reference: this.i.runImageReference,
        image: this.i.runImageName,
      };
      metadata.stack = { runImage: { image: this.i.runImageName } };
    }
  }
}
