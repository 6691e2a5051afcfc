/**
 * Running a CNB lifecycle's phases (`/cnb/lifecycle/<phase>` of a builder, or a lifecycle mounted there) in
 * berth's build sandbox, as pack runs them in containers with a daemon: each phase a container of the
 * builder image, as the CNB user, with the platform's folders mounted and `CNB_PLATFORM_API` set to the API
 * berth and the lifecycle agreed on (`negotiatePlatformApi`, pack's rule: the highest both support).
 */
import { BerthError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import { type NetworkMode, runInSandbox } from "../../runtime/index.ts";
import { compareApi } from "../api.ts";
import type { LifecycleDescriptor } from "./lifecycle.ts";

/**
 * Platform APIs berth drives a lifecycle with: from 0.12 the phases write the app image to an OCI layout
 * (`-layout`), which is how berth gets it without a daemon or a registry; 0.14 is the newest berth knows.
 */
export const RUNNER_PLATFORM_APIS = ["0.12", "0.13", "0.14"] as const;

/** pack's negotiation: the highest Platform API the lifecycle supports (or deprecates) that berth drives. */
export function negotiatePlatformApi(lc: LifecycleDescriptor, builder: string): string {
  const theirs = [...lc.apis.platform.supported, ...lc.apis.platform.deprecated];
  const both = RUNNER_PLATFORM_APIS.filter((a) => theirs.some((t) => compareApi(t, a) === 0));
  if (!both.length) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `the lifecycle ${lc.version} of builder ${builder} supports Platform API ${theirs.join(", ") || "(none)"}, and berth drives a lifecycle with ${RUNNER_PLATFORM_APIS.join(", ")}`,
      {
        hint: "build with berth's own engine (leave out --lifecycle builder), or use a builder with lifecycle 0.17 or later",
      },
    );
  }
  return both.reduce((a, b) => (compareApi(b, a) > 0 ? b : a));
}

/** Where the platform's folders are mounted in every phase's container (pack's paths). */
export const FOLDERS = {
  app: "/workspace",
  layers: "/layers",
  platform: "/platform",
  cache: "/cache",
  layout: "/layout-repo",
} as const;

/** The arguments of the phases that run buildpacks (`detector`, `builder`): the app, layers and platform. */
export const BUILDPACK_PHASE_ARGS = [
  "-app",
  FOLDERS.app,
  "-layers",
  FOLDERS.layers,
  "-platform",
  FOLDERS.platform,
];

/** `creator`'s arguments: the folders, a cache folder, the run image, `extra`, then the app image's name. */
export function creatorArgs(runImage: string, image: string, extra: readonly string[] = []): string[] {
  return [...BUILDPACK_PHASE_ARGS, "-cache-dir", FOLDERS.cache, "-run-image", runImage, ...extra, image];
}

export interface Mount {
  source: string;
  destination: string;
  readonly?: boolean;
}

export interface LifecycleRunOptions {
  /** BERTH_HOME (snapshots, containers). */
  home: string;
  /** The image the phases run in (the builder), and its name for messages. */
  image: Image;
  imageName: string;
  /** OCI runtime and the PATH to find it on. */
  runtime?: string | undefined;
  searchPath?: string;
  /** Writable folder for the container's changes (removed by the caller). */
  upperDir: string;
  /** The CNB user (the builder's CNB_USER_ID / CNB_GROUP_ID). */
  uid: number;
  gid: number;
  platformApi: string;
  mounts: Mount[];
  /** `K=V` besides CNB_PLATFORM_API (CNB_EXPERIMENTAL_MODE, …). */
  env?: string[];
  onOutput?: (chunk: Buffer) => void;
  signal?: AbortSignal | undefined;
}

export interface PhaseResult {
  exitCode: number;
  output: string;
}

/** Run one phase (`creator`, `analyzer`, …, or an absolute command) with its arguments; network per phase (pack gives each its own). */
export async function runLifecyclePhase(
  o: LifecycleRunOptions,
  phase: string,
  args: string[],
  network: NetworkMode,
): Promise<PhaseResult> {
  const out: Buffer[] = [];
  const collect = (c: Buffer) => {
    out.push(c);
    o.onOutput?.(c);
  };
  const r = await runInSandbox({
    home: o.home,
    runtime: o.runtime || undefined,
    searchPath: o.searchPath || undefined,
    image: o.image,
    imageName: o.imageName,
    upperDir: o.upperDir,
    // A phase's name, or an absolute command (the reference harness chains phases in one shell).
    args: [phase.startsWith("/") ? phase : `/cnb/lifecycle/${phase}`, ...args],
    env: [
      `CNB_PLATFORM_API=${o.platformApi}`,
      `CNB_USER_ID=${o.uid}`,
      `CNB_GROUP_ID=${o.gid}`,
      "CNB_NO_COLOR=true",
      ...(o.env ?? []),
    ],
    user: `${o.uid}:${o.gid}`,
    cwd: FOLDERS.app,
    network,
    volumes: o.mounts.map((m) => ({
      source: m.source,
      destination: m.destination,
      ...(m.readonly ? { readonly: true } : {}),
    })),
    onStdout: collect,
    onStderr: collect,
    signal: o.signal,
  });
  return { exitCode: r.exitCode, output: Buffer.concat(out).toString("utf8") };
}
