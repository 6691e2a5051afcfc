/**
 * The rebase phase (Platform API §rebaser; lc:phase/rebaser.go): the app image's layers up to and including
 * `runImage.topLayer` are swapped for the new run image's; the app layers above stay as they are (same
 * blobs, same descriptors), so only a config and a manifest are new. Checks, each overridable with `force`:
 * the app is not `io.buildpacks.rebasable=false`; os/arch (and variant when set) are equal; the new run
 * image's name is the one the app was built on or one of its mirrors.
 */
import { BerthError } from "../../errors.ts";
import type { BlobSource } from "../../oci/blob.ts";
import type { ImageConfig } from "../../oci/config.ts";
import type { Image } from "../../oci/image.ts";
import { isDocker } from "../../oci/mediatype.ts";
import { parseReference } from "../../oci/reference.ts";
import { type AssembledImage, type AssembledLayer, assembleImage } from "./assemble.ts";
import { LABEL, type LayersMetadata, parseJsonLabel } from "./metadata.ts";

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
}

export interface RebaseResult {
  image: AssembledImage;
  metadata: LayersMetadata;
  /** App layers kept (above the old run image). */
  appLayers: number;
  /** Layers of the new run image. */
  runLayers: number;
}

/** Labels re-synced from the run image: the base image's own. */
const BASE_LABEL_PREFIXES = ["io.buildpacks.base.", "io.buildpacks.stack."];

function stripDigest(name: string): string {
  try {
    const r = parseReference(name);
    return `${r.registry}/${r.repository}`;
  } catch {
    return name;
  }
}

export class Rebaser {
  readonly i: RebaseInputs;

  constructor(i: RebaseInputs) {
    this.i = i;
  }

  rebase(): RebaseResult {
    const { app, runImage, force } = this.i;
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
    if (!force) {
      if (labels[LABEL.rebasable] === "false") {
        throw fail(`it is marked ${LABEL.rebasable}=false`, "rebase anyway with --force");
      }
      if (appCfg.os !== runCfg.os || appCfg.architecture !== runCfg.architecture) {
        throw fail(
          `the new run image is ${runCfg.os}/${runCfg.architecture}, the app ${appCfg.os}/${appCfg.architecture}`,
          "rebase anyway with --force",
        );
      }
      if (appCfg.variant && runCfg.variant && appCfg.variant !== runCfg.variant) {
        throw fail(`the new run image's variant ${runCfg.variant} differs from the app's ${appCfg.variant}`);
      }
      const allowed = [md.runImage.image, ...(md.runImage.mirrors ?? [])].filter((n): n is string => !!n);
      if (allowed.length > 0 && !allowed.some((n) => stripDigest(n) === stripDigest(this.i.runImageName))) {
        throw fail(
          `the new run image ${this.i.runImageName} is not the app's run image ${allowed.join(" or ")}`,
          "rebase anyway with --force",
        );
      }
    }
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
    const image = assembleImage(cfg, layers, { docker: isDocker(app.mediaType) });
    this.i.log?.(`Rebasing ${this.i.appName} on run image ${this.i.runImageName}`);
    return { image, metadata, appLayers: appLayers.length, runLayers: runDiffIds.length };
  }
}
