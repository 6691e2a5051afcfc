/**
 * What an instruction that changes the filesystem (COPY/ADD, RUN, WORKDIR; `instructions/`) gets from the build:
 * the instruction with its variables, the stage's image, config and filesystem, the build's inputs and private
 * temp folder, other stages' and images' filesystems, and the step cache. An instruction is a function of this
 * context (issue 17 §4); `DockerfileBuild` makes one per step.
 */
import type { Stats } from "node:fs";
import type { Writable } from "node:stream";
import type { EntryHeader } from "../layer/entry.ts";
import type { Matcher } from "../layer/ignore.ts";
import type { ContainerConfig } from "../oci/config.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import type { Compression } from "../oci/mediatype.ts";
import type { CachedLayer } from "./cache.ts";
import type { EarlyOutput } from "./early.ts";
import type { Vars } from "./expand.ts";
import type { BuildInputs } from "./inputs.ts";
import type { Instruction } from "./parse.ts";
import type { FsView } from "./rootfs.ts";
import type { MatchedSource, SelectOptions } from "./sources.ts";

/** What a step produces when it is not found in the cache. */
export interface StepOutput {
  config: ContainerConfig;
  /** Made while the stage waited for another stage (`StepCacheOptions.early`). */
  early?: boolean;
  /** MAINTAINER's `author`. */
  author?: string;
  /**
   * The layer's blob at `path`; `headers`: its entries, when the step knows them (no stage reads them back);
   * `snapshot`: its snapshot, made as it was written early (`EarlySnapshotWriter`), to be placed at its turn.
   */
  layer?: CachedLayer & {
    path: string;
    headers?: readonly EntryHeader[] | undefined;
    snapshot?: HeldSnapshot | undefined;
  };
}

/** Another stage's or an image's filesystem (`--from=`, `--mount=from=`). */
export interface SourceRoot {
  /** Its files on disk (made on first call). */
  root: () => Promise<string>;
  /**
   * COPY's sources in it read without its files on disk (`stage-sources.ts`), where they can be; undefined
   * where not (then from `root`).
   */
  sources?: (patterns: readonly string[], o: SelectOptions) => Promise<MatchedSource[] | undefined>;
  /** For cache keys: a stage's config digest (independent of layer compression), an image's digest. */
  id: string;
  /** For messages: `stage "build"`, `image alpine`. */
  what: string;
  /** A directory of the host (a named build context): its files are copied as root's, as the context's are. */
  local?: boolean;
}

/** A step's layer written by `write`, its tar given to `tee` as well (`StepContext.snapshotting`). */
export type SnapshotWriter = <T extends { diffId: Digest }>(
  write: (tee: Writable | undefined) => Promise<T>,
) => Promise<T>;

/**
 * A step's layer written early by `write` (`StepContext.earlySnapshotting`), its tar given to `tee` as well: the
 * snapshot made from it is held until the step takes the layer (`HeldSnapshot`), none where none can be made.
 */
export type EarlySnapshotWriter = <T extends { diffId: Digest }>(
  write: (tee: Writable | undefined) => Promise<T>,
) => Promise<T & { snapshot?: HeldSnapshot | undefined }>;

/** The snapshot of a layer made early, placed over the stage's layers when the step takes it, else dropped. */
export interface HeldSnapshot {
  /** Put it in place over these DiffIDs (the stage's layers at the step's turn). Never rejects. */
  place(parents: readonly Digest[]): Promise<void>;
  abandon(): Promise<void>;
}

/** A source ADD fetched, as BuildKit's provenance records git and http sources. */
export type FetchedSource =
  | { kind: "git"; url: string; commit: string }
  | { kind: "http"; url: string; digest: Digest };

/** A secret or SSH agent a RUN mounts, as BuildKit's provenance captures it (optional unless `required`). */
export interface MountedSecret {
  kind: "secret" | "ssh";
  id: string;
  optional: boolean;
}

export interface StepContext {
  readonly inputs: BuildInputs;
  /** BERTH_HOME. */
  readonly home: string;
  /** The environment the CLI gave (for tools berth runs, such as git). */
  readonly env: Record<string, string | undefined>;
  readonly ins: Instruction;
  /** The Dockerfile's escape character. */
  readonly escape: string;
  /** Variables in scope (ARGs, then ENV). */
  readonly vars: Vars;
  /** `Dockerfile:12`, for messages. */
  readonly where: string;
  /** The history entry in place of the instruction's (FROM of a directory context: its source's). */
  readonly history?: { createdBy: string; comment: string } | undefined;
  /** Build args in scope: name → value (undefined when declared without one). */
  readonly args: ReadonlyMap<string, string | undefined>;
  /** The image before the step, and its config (ONBUILD cleared when the base's triggers ran). */
  readonly image: Image;
  readonly config: ContainerConfig;
  /** The build context's `.dockerignore`. */
  readonly matcher: Matcher | undefined;
  /** The compression of the step's layer: the build's, none in a stage whose layers no image takes. */
  readonly compression: Compression;
  /** File mtimes in layers (SOURCE_DATE_EPOCH, else 0). */
  readonly mtime: number;
  /** A new path in the build's private temp folder (not created). */
  temp(prefix: string): string;
  /** The stage's filesystem (its layers' entries, not on disk), synced with `image`. */
  view(): Promise<FsView>;
  /**
   * The snapshots of the image the stage starts from, made in the background since the key pass (`warmSnapshots`;
   * never rejects): a RUN waits for them rather than unpacking the same layers at the same time. None when no
   * one started them.
   */
  readonly warmed?: Promise<void> | undefined;
  /**
   * When a RUN later in the stage, or another stage reading this one, will need the step's layer as a snapshot:
   * `write` (the step writing its layer) is given a stream for the layer's tar, from which the snapshot is made
   * as it is written (`streamedSnapshot`; none where it cannot be), then placed while the build goes on (whoever
   * needs it waits for it; the build, before it ends). Undefined when nothing will need it.
   */
  readonly snapshotting?: SnapshotWriter | undefined;
  /**
   * The key pass, when a RUN later in the stage will need the step's layer as a snapshot: for a step made early
   * (`StepCacheOptions.early`), whose snapshot is made as its layer is written and placed when the step takes it
   * (over the stage's layers then, which the key pass does not know).
   */
  readonly earlySnapshotting?: EarlySnapshotWriter | undefined;
  /**
   * COPY/ADD sources matched in the build context (its `.dockerignore` applied), found once per build for the
   * same patterns and flags (the key pass and the build share them).
   */
  contextSources(
    patterns: readonly string[],
    o: { parents: boolean; excludes: readonly string[] },
  ): Promise<MatchedSource[]>;
  /** The digest of sources matched in the build context (content from the context's index; once per sources). */
  contextDigest(sources: readonly MatchedSource[]): Promise<string>;
  /** A context file's bytes, if this build read them for a digest with this lstat (`ContextIndex.content`). */
  contextContent(hostPath: string, st: Stats): Buffer | undefined;
  /** Another stage (by name or index) or an image. */
  sourceRoot(ref: string): Promise<SourceRoot>;
  /**
   * The key pass (`DockerfileBuild`'s plan): the step's key is all that is wanted, `cached` produces nothing;
   * a source whose key needs a download (ADD of a URL or git repository) throws instead.
   */
  readonly dry: boolean;
  /**
   * The key pass, where no cache can have the step (an earlier step of the stage missed, so every later key
   * chains on a key no record was made under, and no other stage reads this one by its definition key): a key
   * part that costs work (the context's digest) may be left out with `StepCacheOptions.unkeyed`; the build
   * computes it at the step's turn.
   */
  readonly keyless: boolean;
  /** ADD fetched a git repository (its commit) or a URL (its content's digest): a material of the provenance. */
  readonly fetched?: ((source: FetchedSource) => void) | undefined;
  /** RUN mounts a secret or an SSH agent (its id, in both passes): the provenance's secrets and ssh. */
  readonly mounted?: ((m: MountedSecret) => void) | undefined;
  /** The step's work is a process's until `ended` settles (RUN): the build's thread is free for work made early. */
  waiting(ended: Promise<unknown>): void;
  /**
   * Clean-up the step leaves running (files in the build's temp folder it no longer needs), off the build's
   * path: the build waits for it before it removes its temp folder. `work` never rejects.
   */
  later(work: Promise<void>): void;
  /** This step's output made early (`StepCacheOptions.early`), when the build started it; given once. */
  takeEarly(): Promise<EarlyOutput> | undefined;
  /**
   * Reuse the cached result of this step keyed by `keyParts` (after the parent's key), or produce it.
   * `linked`: the key is `keyParts` alone (a layer that does not depend on what came before: COPY --link).
   * `config`: the config after the step, when it is not the one before it (the key pass goes on with it).
   * `content`: key parts naming what the step reads by content, tried when the definition's key misses.
   */
  cached(
    keyParts: unknown[],
    produce: () => Promise<StepOutput>,
    options?: StepCacheOptions & { config?: ContainerConfig | undefined },
  ): Promise<void>;
}

export interface StepCacheOptions {
  /**
   * The history entry's created_by, as the Dockerfile gives it now; none for a step without one (ONBUILD). A
   * step found in a cache gets it too: BuildKit writes history from the Dockerfile, never from the cache (a
   * record of an older berth, or of BuildKit's cache, which has none, would give another text).
   */
  createdBy?: string | undefined;
  /** The history entry's comment (a FROM of a local context: BuildKit's exporter's). */
  comment?: string | undefined;
  linked?: boolean | undefined;
  /** The key pass left a part of the key out (`StepContext.keyless`): the step is taken as missing, not looked up. */
  unkeyed?: boolean | undefined;
  content?: (() => Promise<unknown[]>) | undefined;
  /**
   * Key pass, the step missing: what makes its output early (early.ts), started while the stage waits for
   * another stage; the step takes it with `takeEarly`.
   */
  early?: ((pace: () => Promise<void>) => Promise<EarlyOutput>) | undefined;
}
