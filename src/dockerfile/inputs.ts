/**
 * What a Dockerfile build is given (`BuildInputs`: the context, the Dockerfile, build args, target, platform,
 * secrets, cache policy, destinations) and what it gives back (`BuildResult`), for a single-platform build
 * (build.ts) and a multi-platform one (platforms.ts).
 */
import type { CopyResult } from "../oci/copy.ts";
import type { Image, ImageIndex } from "../oci/image.ts";
import type { Compression } from "../oci/mediatype.ts";
import type { Platform } from "../oci/platform.ts";
import type { HostEntry, NetworkMode, Rlimit } from "../runtime/index.ts";
import type { ImageArgument } from "../transport/parse.ts";
import type { Annotation } from "./annotation-spec.ts";
import type { CacheSteps } from "./cache-io.ts";
import type { CacheFrom, CacheTo } from "./cache-spec.ts";
import type { FilesystemExport } from "./export.ts";
import type { SecretSource } from "./instructions/mounts.ts";
import type { LintWarning } from "./lint-rules.ts";
import type { NamedContext } from "./named-context.ts";
import type { StepEvent } from "./progress.ts";
import type { ProvenanceFacts } from "./provenance.ts";
import type { ProvenanceSpec } from "./provenance-spec.ts";

export interface BuildInputs {
  /** The build context directory. */
  contextDir: string;
  /**
   * The Dockerfile's path (read once, when the build starts) or its text. A path inside the context is read
   * confined to it (util/confined.ts), as is its `.dockerignore`; `inContext` (a path a project file named)
   * must lie inside the context.
   */
  dockerfile: { path: string; inContext?: boolean } | { text: string; name?: string };
  /** No `.dockerignore` (a remote context's: BuildKit applies it to local files only). */
  noIgnoreFile?: boolean;
  buildArgs?: Record<string, string>;
  target?: string | undefined;
  /** Target platform (default: this machine's). */
  platform?: Platform | undefined;
  noCache?: boolean;
  /** `--no-cache-filter`: the stages (names or indexes) whose steps all run, using no cached result. */
  noCacheStages?: readonly string[];
  /** `--pull`: a base image named without a transport is read from its registry, not the store's copy. */
  pull?: boolean;
  /** `--add-host`: lines added to RUN's /etc/hosts (not to the image). */
  extraHosts?: readonly HostEntry[];
  /** BUILDKIT_SANDBOX_HOSTNAME: RUN's hostname (default BuildKit's `buildkitsandbox`). */
  hostname?: string | undefined;
  /** BUILDKIT_CACHE_MOUNT_NS: cache mounts' ids are `NS/ID`. */
  cacheMountNamespace?: string | undefined;
  /** `--shm-size`: the bytes of RUN's /dev/shm tmpfs (default: the runtime's 64 MiB). */
  shmSize?: number | undefined;
  /** `--ulimit`: RUN's process rlimits (default: the runtime's process's own). */
  ulimits?: readonly Rlimit[] | undefined;
  /** `--cgroup-parent`: RUN's cgroup is PARENT/buildkit/ID, as BuildKit's runc executor makes it. */
  cgroupParent?: string | undefined;
  /** `--cache-from`: caches (BuildKit's format) whose step records are used when the local cache has none. */
  cacheFrom?: CacheFrom[];
  /** `--cache-to`: where the build's step records go (registry, OCI layout, or inline in the image). */
  cacheTo?: CacheTo[];
  /**
   * Whether the layers of stages no image takes stay uncompressed (default: `uncompressedStages` of these
   * inputs; platforms.ts gives its builds the answer for the inputs whose caches it exports itself).
   */
  uncompressedStages?: boolean | undefined;
  /** `--secret`: id → its source (a host file, or a value from the environment). */
  secrets?: Record<string, SecretSource>;
  /** `--build-context`: names FROM, --from and RUN --mount=from read in place of a stage or image. */
  contexts?: readonly NamedContext[];
  /** `--ssh id[=socket]`: id → an SSH agent socket RUN --mount=type=ssh forwards to. */
  ssh?: Record<string, string>;
  /** SOURCE_DATE_EPOCH: file mtimes in COPY/ADD/RUN layers and every created time. */
  sourceDateEpoch?: number | undefined;
  /** Where the image goes (each written with the same digest); none with only `exports`. */
  destinations: ImageArgument[];
  /** `-o type=local|tar`: where the target stage's filesystem goes (export.ts). */
  exports?: readonly FilesystemExport[] | undefined;
  /**
   * `--annotation`s and `-o`'s `annotation*` attributes: the image manifest's, its descriptor's, the index's and
   * its descriptor's (annotation-spec.ts), as BuildKit's image exporter writes them.
   */
  annotations?: readonly Annotation[] | undefined;
  /**
   * A platform of a multi-platform build: its image takes the manifest annotations of this platform (the index
   * and the descriptors are `buildPlatforms`').
   */
  annotationsPlatform?: Platform | undefined;
  /** `--label`: set on the built image's config over the Dockerfile's LABELs, with no history entry (BuildKit's). */
  labels?: Readonly<Record<string, string>> | undefined;
  compression?: Compression;
  /** Runtime choice for RUN (runc, crun or a path). */
  runtime?: string | undefined;
  /** RUN's network when the step gives none (default: a private namespace with outbound access). */
  network?: NetworkMode | undefined;
  /** BuildKit's entitlements: `network.host` lets `RUN --network=host` use the host's network. */
  allow?: readonly string[];
  searchPath?: string | undefined;
  /** Progress lines (`[stage 1/2] STEP 1/4: FROM …`, `--> Using cache …`). */
  log?: ((line: string) => void) | undefined;
  /** Output of RUN commands as it comes (whole lines prefixed `[stage N/M] ` when stages build at once). */
  onOutput?: ((chunk: Buffer, stream: "stdout" | "stderr") => void) | undefined;
  /** Each step as a vertex of BuildKit's solve status: started, its output, ended (progress.ts). */
  onStep?: ((event: StepEvent) => void) | undefined;
  /** Each build check's warning as it comes (docker's summary at the end wants them, whatever happens next). */
  onWarning?: ((warning: LintWarning) => void) | undefined;
  /** The build checks left out: a multi-platform build's platforms after the first (BuildKit warns once). */
  noChecks?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Stages built at once (default: schedule.ts's `defaultStageJobs`); 1 builds them one after another. */
  stageJobs?: number | undefined;
  /**
   * `--provenance`: a SLSA provenance attestation of the image, which then goes out in an index with it (not to
   * a docker-archive); `attach: false` (a platform of a multi-platform build) only gathers its facts.
   */
  provenance?: (ProvenanceSpec & { attach?: false }) | undefined;
  /** buildx's `--load`: the store's image goes without attestations, as BuildKit's docker exporter loads it. */
  load?: boolean | undefined;
}

export interface StepReport {
  stage: number;
  step: number;
  instruction: string;
  line: number;
  cached: boolean;
  /** Its layer was made while its stage waited for another stage (a COPY of context files; early.ts). */
  early?: true;
  /** The image after the step. */
  digest: string;
}

export interface BuildResult {
  /** The manifest digest of the built image. */
  digest: string;
  configDigest: string;
  /** The image built, as it was written to the destinations. */
  image: Image;
  /** The target stage (name or index). */
  target: string;
  /** Indexes of the stages built. */
  stages: number[];
  steps: StepReport[];
  /** `--build-arg`s no ARG declared. */
  unusedBuildArgs: string[];
  /** BuildKit's build checks' warnings (also logged as `WARN: Rule: sentence (file:line)`). */
  warnings: LintWarning[];
  written: { destination: string; result: CopyResult }[];
  /** The steps a `--cache-to` exports: every one the build used (max), the target stage's chain (min). */
  cacheSteps: CacheSteps;
  /** With `provenance`: what the attestation says, and the index of the image and it that was written. */
  provenance?: { facts: ProvenanceFacts; index?: ImageIndex };
}
