/**
 * A Dockerfile build: a value made from resolved inputs (context, Dockerfile, build args, target, platform,
 * secrets, cache policy) with one verb, `build()`, that runs the stages the target needs and writes the
 * result to its destinations, returning what happened. Output lines go to a logger the caller gives, in
 * the shape `docker build`/`buildah bud` print them.
 */
import { lstatSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import type { Writable } from "node:stream";
import { BerthError, isBerthError, wrapError } from "../errors.ts";
import { createMatcher, type Matcher, parseIgnoreFile } from "../layer/ignore.ts";
import type { ContainerConfig } from "../oci/config.ts";
import { type CopyResult, copy } from "../oci/copy.ts";
import type { Digest } from "../oci/digest.ts";
import { type Image, loadRoot, type Root, selectImage } from "../oci/image.ts";
import type { Compression } from "../oci/mediatype.ts";
import { type AddedLayer, EPOCH, mutate } from "../oci/mutate.ts";
import { formatPlatform, hostPlatform, type Platform, parsePlatform } from "../oci/platform.ts";
import type { BlobEvent } from "../oci/sink.ts";
import type { HostEntry, NetworkMode, StreamedSnapshot } from "../runtime/index.ts";
import { chainPresent } from "../runtime/snapshot-dir.ts";
import { reported, type TransportContext } from "../transport/context.ts";
import { writeImage } from "../transport/copy.ts";
import { type OpenedSource, openSource } from "../transport/open.ts";
import { type ImageArgument, parseImageArgument, registryArgument } from "../transport/parse.ts";
import { readFileWithin } from "../util/confined.ts";
import { ownedTempDir, removeTree } from "../util/fs.ts";
import { formatDuration } from "../util/progress.ts";
import { cacheKey, StepCache, type StepRecord } from "./cache.ts";
import { type ExportStep, encodeInline, INLINE_CACHE_FIELD } from "./cache-format.ts";
import type { CacheFrom, CacheTo } from "./cache-spec.ts";
// loaded where a build imports or exports a cache (its registry client, compressors and tar reader with it)
import type { ImportedCache, LazyLayer } from "./cache-transfer.ts";
import { ContextIndex } from "./context-index.ts";
import { EarlySteps } from "./early.ts";
import { expandWord, type Vars } from "./expand.ts";
import type { FilesystemExport } from "./export.ts";
import { applyConfigInstruction } from "./instructions/config.ts";
import { copyInstruction } from "./instructions/copy.ts";
import type { SecretSource } from "./instructions/mounts.ts";
import { runInstruction } from "./instructions/run.ts";
import { workdirInstruction } from "./instructions/workdir.ts";
import { dirSource, fetchedSource, findContext, type NamedContext } from "./named-context.ts";
import { type Dockerfile, type Instruction, parseDockerfile, parseTrigger } from "./parse.ts";
import { Prewriter } from "./prewrite.ts";
import {
  asWork,
  destinationProgress,
  filesystemExportName,
  type StepEvent,
  StepProgress,
  workProgress,
} from "./progress.ts";
import { removeStageRoots, StageRoot, streamedSnapshot, unpackingLine, warmSnapshots } from "./rootfs.ts";
import {
  baseStages,
  defaultStageJobs,
  LinePrefixer,
  ReadOrder,
  Slots,
  unexportedStages,
} from "./schedule.ts";
import { type MatchedSource, selectSources, sourcesDigest } from "./sources.ts";
import {
  findBaseStage,
  findStage,
  neededStages,
  type PlanWarning,
  type Stage,
  splitStages,
  targetStage,
} from "./stage.ts";
import { LayerEntries, StageIndex } from "./stage-index.ts";
import { layerSources } from "./stage-sources.ts";
import type { HeldSnapshot, SourceRoot, StepCacheOptions, StepContext, StepOutput } from "./step.ts";

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
  signal?: AbortSignal | undefined;
  /** Stages built at once (default: schedule.ts's `defaultStageJobs`); 1 builds them one after another. */
  stageJobs?: number | undefined;
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
  /** BuildKit's lint warnings the Dockerfile earns (also logged as `WARN: Rule: sentence (file:line)`). */
  warnings: PlanWarning[];
  written: { destination: string; result: CopyResult }[];
  /** The steps a `--cache-to` exports: every one the build used (max), the target stage's chain (min). */
  cacheSteps: CacheSteps;
}

interface CacheSteps {
  max: ExportStep[];
  min: ExportStep[];
}

/**
 * What the builds of one multi-platform build share (platforms.ts): the context's index, opened once, and the
 * steps being produced, so a step two platforms key the same (a `FROM --platform=$BUILDPLATFORM` stage) runs
 * once and its cache entry has one writer.
 */
export interface SharedBuildState {
  contextIndex?: Promise<ContextIndex> | undefined;
  producing: Map<string, Promise<StepRecord>>;
  /** The entries of the layers the stages' indexes have read or the steps have written. */
  layerEntries: LayerEntries;
}

interface StageState {
  stage: Stage;
  /** Its position among the stages this build runs (1-based), for `[stage N/M]`. */
  no: number;
  image: Image;
  /** The chain of its steps' keys, a COPY --from's content key in place of its definition's once known. */
  key: string;
  /**
   * The chain of its steps' definitions alone (BuildKit's definition key): what a step reading the stage
   * (`--from`) is keyed on, the same before the stage is built (the key pass) and after, on any machine.
   */
  defKey: string;
  /** ARGs in scope: name → value (undefined when declared without one). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  /** Its files on disk, made when another stage reads them (`--from`). */
  root: StageRoot;
  /** The image its filesystem starts from (FROM an image, or the one its base stage starts from); none for scratch. */
  base?: Image | undefined;
  /** Its layers' entries, for COPY's and WORKDIR's path questions. */
  index: StageIndex;
  /** Its steps' layer compression: the build's, none for a stage whose layers no image takes. */
  compression: Compression;
  clearOnBuild: boolean;
  platform: Platform;
  /** The steps behind the stage's image (its base stage's first), for a mode=min or inline cache export. */
  chain: ExportStep[];
  /**
   * The key pass (`#plan`): the stage is walked for its keys only; no step runs, nothing is logged, its image
   * carries the configs alone. `reads` are the stages the current step reads, `needs` those read by a step
   * the caches lack (so they must be built).
   */
  dry: boolean;
  reads: Set<number>;
  needs: Set<number>;
  /** Key pass: a step of the stage missed (`StepContext.keyless`). */
  missed: boolean;
  /**
   * The current step reads a stage `--no-cache-filter` names: its definition's key is not looked up (it is
   * found by the content it reads, once that stage has run again).
   */
  fresh: boolean;
  /** Writes out a last partial line of RUN output (concurrent stages). */
  flush?: () => void;
  /** Its pending reads of other stages that lead to a RUN (`ReadOrder.lead`): released when they are through. */
  leads: (() => void)[];
}

/**
 * Whether a build keeps the layers of stages no image takes uncompressed: when it imports and exports no cache
 * (a cache holds every stage's layers compressed, and its records are keyed so).
 */
export function uncompressedStages(i: Pick<BuildInputs, "cacheFrom" | "cacheTo">): boolean {
  return !i.cacheFrom?.length && !i.cacheTo?.length;
}

/** The stage key of the build definition's vertex (`#definition`), which is no stage. */
const DEFINITION = -1;

function epochToRfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

/** The instructions that ask the stage's index (`StepContext.view`) when they run. */
const ASKS_PATHS = new Set(["COPY", "ADD", "WORKDIR"]);

/** Whether a RUN comes after `ins` in `stage` (all of them, for an ONBUILD trigger, which is not among them). */
const runFollows = (stage: Stage, ins: Instruction) =>
  stage.instructions.slice(stage.instructions.indexOf(ins) + 1).some((i) => i.keyword === "RUN");

/** `write` given a stream that makes the layer's snapshot over `image` from its tar (none where it cannot be). */
async function teedWrite<T>(
  home: string,
  image: Image,
  write: (tee: Writable | undefined) => Promise<T>,
): Promise<{ out: T; snapshot: StreamedSnapshot | undefined }> {
  const snapshot = await streamedSnapshot(home, image);
  const out = await write(snapshot?.input).catch(async (err: unknown) => {
    await snapshot?.abandon();
    throw err;
  });
  return { out, snapshot };
}

/** The stages `--no-cache-filter` names (by name or index), each of which must be one of the Dockerfile's. */
function noCacheStages(stages: readonly Stage[], names: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const n of names) {
    const st = findStage(stages, n);
    if (!st)
      throw new BerthError(
        "USAGE",
        `--no-cache-filter ${JSON.stringify(n)}: the Dockerfile has no stage of that name`,
        {
          hint: `the stages are: ${stages.map((x) => x.name ?? x.index).join(", ")}`,
        },
      );
    out.add(st.index);
  }
  return out;
}

/** A stage a named context replaces: nameless, `FROM NAME` alone (read only when it is the target). */
function replacedStage(s: Stage): Stage {
  const name = s.name!;
  const platform = s.from.flags.platform;
  const flags = platform ? { platform } : {};
  const from = { ...s.from, flags, args: name, json: undefined, text: `FROM ${name}` };
  return { ...s, name: undefined, baseText: name, from, instructions: [] };
}

/** The PATH a scratch image gets (BuildKit's, Docker's default). */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** FROM's base expanded with the global ARGs; blank is an error, as BuildKit's "base name should not be blank". */
function baseNameOf(text: string, vars: Vars, escapeChar: string, where: string): string {
  const name = expandWord(text, vars, escapeChar).value;
  if (name !== "") return name;
  throw new BerthError("DOCKERFILE_SYNTAX", `${where}: FROM ${text}: the base name is blank`, {
    hint: "give the ARG before the first FROM a default, or a value with --build-arg",
  });
}

/** How the build context names itself in confinement errors. */
const CONTEXT = { owner: "the build context", name: "the build context" };

const short = (d: string) => d.slice(d.indexOf(":") + 1, d.indexOf(":") + 13);

export class DockerfileBuild {
  readonly inputs: BuildInputs;
  #df!: Dockerfile;
  #cache: StepCache;
  #tmp = "";
  #temps = 0;
  #opened: OpenedSource[] = [];
  #states = new Map<number, StageState>();
  #steps: StepReport[] = [];
  #globalVars = new Map<string, string>();
  #consumed = new Set<string>();
  #matcher: Matcher | undefined;
  #ctx: TransportContext;
  #platform: Platform;
  #stageCount = 0;
  #imports: ImportedCache[] = [];
  /** Layers of imported records, by digest: fetched only when their bytes are needed (cache-transfer.ts). */
  #lazy = new Map<string, LazyLayer>();
  /** Every step this build used, for a mode=max cache export. */
  #used: ExportStep[] = [];
  /** Each scheduled stage's build, resolved with its final state (schedule.ts). */
  #done = new Map<number, Promise<StageState>>();
  /** The stages the target needs (a stage the key pass left out is scheduled when a step misses after all). */
  #needed: Stage[] = [];
  #all: Stage[] = [];
  #failure: { err: unknown } | undefined;
  /** Each stage walked by the key pass (`#plan`), with its keys. */
  #dryStates = new Map<number, StageState>();
  /** Base images by reference and platform, opened once. */
  #bases = new Map<string, Promise<Image>>();
  /** Sources matched in the context and their digests, found once (the key pass and the build share them). */
  #contextSources = new Map<string, Promise<MatchedSource[]>>();
  #contextDigests = new WeakMap<readonly MatchedSource[], Promise<string>>();
  #finished = new Set<number>();
  #slots = new Slots(1);
  /** Which steps waiting for a stage's files take them first (schedule.ts). */
  #readOrder = new ReadOrder();
  /** Aborted by the caller's signal or by the first stage that fails: the other stages stop. */
  #abort = new AbortController();
  /** The inputs steps see: the caller's, with the build's own signal. */
  #stepInputs!: BuildInputs;
  /** Whether stages may run at the same time (RUN output is then prefixed line by line). */
  #concurrent = false;
  /** The stages `--no-cache-filter` names, by index. */
  #uncachedStages = new Set<number>();
  /** Stages a named context replaces (`replacedStage`). */
  #replaced = new Set<number>();
  /** Named directory contexts read by a step, by name (and platform): opened (and digested) once. */
  #dirContexts = new Map<string, Promise<SourceRoot>>();
  /** The content indexes of named directory contexts, saved when the build ends as the context's is. */
  #dirIndexes: ContextIndex[] = [];
  /** Filesystems of images named by --from, one per image. */
  #imageRoots = new Map<string, StageRoot>();
  /** Content digests of the context's files, kept between builds. */
  #index!: ContextIndex;
  /** When each stage's current step began (by stage number): a step ends with its duration. */
  #stepStarted = new Map<number, number>();
  /** Steps the key pass found missing that can be made early while their stage waits (early.ts). */
  #early = new EarlySteps();
  /** The target image's local destinations, written while the build runs (prewrite.ts). */
  #prewriter: Prewriter | undefined;
  /**
   * The stages whose layers no image takes (`unexportedStages`), kept uncompressed: nothing reads their blobs
   * but this build's steps and the step cache. None when a cache is imported or exported (a cache holds the
   * layers compressed, as every stage's records in it are).
   */
  #unexported = new Set<number>();
  /** The target stage's index: its imported layers are the image's (`#prefetch`). */
  #target = -1;
  /**
   * Layers this process wrote into the cache's blobs, their digests computed as they were written: a local
   * destination links them in rather than reading and hashing them again (mutate's `written`).
   */
  #wrote = new Set<string>();
  /** The fetches `#prefetch` started: a local destination waits for them, so that it links their files. */
  #prefetching: Promise<unknown>[] = [];
  /** Base images whose snapshots are made in the background (`#warm`), by digest; none of these rejects. */
  #warming = new Map<string, Promise<void>>();
  /** Per warming, by digest: the stages whose key pass asked for it, and what stops it (`#stopWarming`). */
  #warmingFor = new Map<string, { stages: Set<number>; from?: number; stop: AbortController }>();
  /** Settles when the key pass is over and the warmings it left without a stage are stopped (`WarmOptions.after`). */
  #planEnded: () => void = () => undefined;
  #planned = new Promise<void>((resolve) => {
    this.#planEnded = resolve;
  });
  /**
   * Work steps left running: snapshots being placed (`StepContext.snapshotting`), clean-ups (`StepContext.later`);
   * none of these rejects.
   */
  #background: Promise<void>[] = [];

  readonly #shared: SharedBuildState;
  /** One platform of several (platforms.ts): its destination is a temp layout, its write no vertex. */
  readonly #onePlatform: boolean;
  /** The steps' vertexes (`onStep`). */
  readonly #progress: StepProgress;

  constructor(inputs: BuildInputs, ctx: TransportContext, shared?: SharedBuildState) {
    this.inputs = inputs;
    this.#ctx = ctx;
    this.#cache = new StepCache(ctx.home);
    this.#onePlatform = shared !== undefined;
    this.#shared = shared ?? { producing: new Map(), layerEntries: new LayerEntries(this.#cache.entriesDir) };
    this.#platform = inputs.platform ?? hostPlatform();
    this.#progress = new StepProgress(inputs.onStep, formatPlatform(this.#platform));
  }

  #log(line: string): void {
    this.inputs.log?.(line);
  }

  /** The compression of the layers images take (`--compression`, gzip by default). */
  get #compression(): Compression {
    return this.inputs.compression ?? "gzip";
  }

  get #created(): string {
    return this.inputs.sourceDateEpoch === undefined
      ? new Date().toISOString().replace(/\.\d+Z$/, "Z")
      : epochToRfc3339(this.inputs.sourceDateEpoch);
  }

  get #mtime(): number {
    return this.inputs.sourceDateEpoch ?? 0;
  }

  /** The Dockerfile, read confined to the context when it is inside it, and parsed. */
  async #readDockerfile(): Promise<Dockerfile> {
    const i = this.inputs;
    if (!("path" in i.dockerfile))
      return parseDockerfile(i.dockerfile.text, i.dockerfile.name ?? "Dockerfile");
    let text: string;
    try {
      const bytes = await readFileWithin(i.dockerfile.path, i.contextDir, {
        ...CONTEXT,
        ...(i.dockerfile.inContext ? { mustBeInside: true } : {}),
      });
      if (bytes === undefined) throw new Error(`${i.dockerfile.path} does not exist`);
      text = bytes.toString("utf8");
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError("DOCKERFILE_NOT_FOUND", `cannot read the Dockerfile ${i.dockerfile.path}`, {
        cause: err,
        hint: "give its path with --dockerfile, or put a Dockerfile in the build context",
      });
    }
    return parseDockerfile(text, posix.basename(i.dockerfile.path));
  }

  /** The global ARGs (before the first FROM) and the automatic platform args. */
  #declareGlobalArgs(globalArgs: readonly Instruction[]): void {
    const p = this.#platform;
    const auto: Record<string, string> = {
      TARGETPLATFORM: formatPlatform(p),
      TARGETOS: p.os,
      TARGETARCH: p.architecture,
      TARGETVARIANT: p.variant ?? "",
      BUILDPLATFORM: formatPlatform(hostPlatform()),
      BUILDOS: hostPlatform().os,
      BUILDARCH: hostPlatform().architecture,
      BUILDVARIANT: hostPlatform().variant ?? "",
    };
    for (const [k, v] of Object.entries(auto)) this.#globalVars.set(k, v);
    for (const ins of globalArgs) {
      for (const [name, value] of this.#declareArgs(ins, this.#globalVars)) {
        if (value !== undefined) this.#globalVars.set(name, value);
        else this.#globalVars.delete(name);
      }
    }
  }

  /**
   * The Dockerfile read and split into stages, the target found and the lint warnings logged: BuildKit's
   * "[internal] load build definition" vertex, which carries the warnings (and the error, if it fails).
   */
  async #definition(): Promise<{
    df: Dockerfile;
    plan: ReturnType<typeof splitStages>;
    targetIndex: number;
  }> {
    const i = this.inputs;
    const file =
      "path" in i.dockerfile ? posix.basename(i.dockerfile.path) : (i.dockerfile.name ?? "Dockerfile");
    const name = `[internal] load build definition from ${file}`;
    this.#progress.start(DEFINITION, name, name, "");
    try {
      const df = await this.#readDockerfile();
      const plan = splitStages(df);
      const targetIndex = targetStage(plan, i.target, df.name).index;
      for (const w of plan.warnings) {
        this.#log(`WARN: ${w.rule}: ${w.message} (${df.name}:${w.line})`);
        this.#progress.warn(DEFINITION, `${w.rule}: ${w.message} (line ${w.line})`);
      }
      this.#progress.done(DEFINITION, false);
      return { df, plan, targetIndex };
    } catch (err) {
      this.#progress.fail(DEFINITION, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  async build(): Promise<BuildResult> {
    const i = this.inputs;
    const { df, plan, targetIndex } = await this.#definition();
    this.#df = df;
    this.#declareGlobalArgs(plan.globalArgs);
    // a named context replaces the stage of its name (BuildKit's): the stage is no longer found by it, and
    // as the target it is the context alone (`FROM NAME`: an image context's image, a directory's files)
    plan.stages = plan.stages.map((s) => {
      if (!s.name || !findContext(i.contexts, s.name, this.#fromPlatform(s.from))) return s;
      this.#replaced.add(s.index);
      return replacedStage(s);
    });
    this.#uncachedStages = noCacheStages(plan.stages, i.noCacheStages ?? []);
    const target = plan.stages[targetIndex]!;
    this.#target = target.index;
    const stages = neededStages(plan, target, this.#globalVars, df.name);
    if (i.uncompressedStages ?? uncompressedStages(i))
      this.#unexported = unexportedStages(plan.stages, stages, target, this.#globalVars);
    this.#stageCount = stages.length;
    this.#matcher = await this.#loadIgnore();
    this.#shared.contextIndex ??= ContextIndex.open(this.#cache.root, i.contextDir);
    this.#index = await this.#shared.contextIndex;
    this.#tmp = await ownedTempDir(await this.#cache.tmpDir(), "build-");
    const jobs = Math.max(1, Math.floor(i.stageJobs ?? defaultStageJobs()));
    this.#slots = new Slots(jobs);
    this.#concurrent = jobs > 1 && stages.length > 1;
    const onAbort = () => this.#abort.abort(i.signal?.reason);
    if (i.signal?.aborted) onAbort();
    i.signal?.addEventListener("abort", onAbort, { once: true });
    this.#stepInputs = { ...i, signal: this.#abort.signal };
    try {
      if (!i.noCache) await this.#importCaches();
      this.#needed = stages;
      this.#all = plan.stages;
      const planned = await this.#plan(stages, target);
      this.#stopWarming(planned);
      this.#planEnded();
      await this.#buildStages(planned);
      const final = this.#states.get(target.index)!;
      if (i.platform) this.#stampPlatform(final, i.platform);
      if (i.labels && Object.keys(i.labels).length) final.image = withLabels(final.image, i.labels);
      if (i.cacheTo?.some((c) => c.type === "inline")) this.#inlineCache(final);
      await Promise.all(this.#prefetching);
      const { written, cacheSteps } = await this.#writeOutputs(final);
      const unused = Object.keys(i.buildArgs ?? {}).filter((k) => !this.#consumed.has(k));
      return {
        digest: final.image.digest,
        configDigest: final.image.manifest.config.digest,
        image: final.image,
        target: target.name ?? String(target.index),
        stages: stages.filter((s) => this.#done.has(s.index)).map((s) => s.index),
        // in the order a serial build reports them: stage by stage
        steps: this.#steps.sort(
          (a, b) =>
            stages.findIndex((s) => s.index === a.stage) - stages.findIndex((s) => s.index === b.stage),
        ),
        unusedBuildArgs: unused,
        warnings: plan.warnings,
        written,
        cacheSteps,
      };
    } finally {
      i.signal?.removeEventListener("abort", onAbort);
      // nothing the build started outlives it (a failed build aborted them)
      this.#planEnded();
      await Promise.all([...this.#warming.values(), ...this.#background]);
      await this.#prewriter?.close();
      // what was read stays known, whether or not the build got through
      await this.#index.save().catch(() => undefined);
      for (const x of this.#dirIndexes) await x.save().catch(() => undefined);
      for (const c of this.#imports) await c.close().catch(() => undefined);
      for (const o of this.#opened) await o.close().catch(() => undefined);
      // steps made early and never taken write into the temp folder: stopped before it goes
      await this.#early.close();
      // the stages' and images' roots are mounts in the temp folder: undone first, whatever happened
      const roots = [...[...this.#states.values()].map((st) => st.root), ...this.#imageRoots.values()];
      await removeStageRoots(roots).catch(() => undefined);
      await removeTree(this.#tmp).catch(() => undefined);
    }
  }

  /** The built image to its destinations, the target's files to `-o`'s exports, the steps to `--cache-to`. */
  async #writeOutputs(
    final: StageState,
  ): Promise<{ written: BuildResult["written"]; cacheSteps: CacheSteps }> {
    const i = this.inputs;
    const written = await writeDestinations(final.image, i.destinations, this.#ctx, {
      prewritten: this.#prewriter,
      onStep: this.#onePlatform ? undefined : i.onStep,
    });
    // loaded only by a build that exports (a module fewer on every other build's start)
    if (i.exports?.length) {
      const exports = i.exports;
      const images = [{ image: final.image, platform: this.#platform }];
      await asWork(i.onStep, filesystemExportName(exports), async () =>
        (await import("./export.ts")).exportFilesystems(images, exports, this.#tmp),
      );
    }
    const cacheSteps = { max: this.#used, min: final.chain };
    const { cacheTo = [], log, onStep } = i;
    await exportCaches(cacheTo, cacheSteps, this.#cache, this.#ctx, this.#tmp, log, this.#lazy, onStep);
    return { written, cacheSteps };
  }

  /**
   * Build the stages, each as soon as the stage it is built FROM is built, at most `stageJobs` at once (a step
   * reading another stage waits for it in `#stageResult`). The first failure aborts the others (their RUN
   * steps are stopped, no new step starts) and is the error thrown, after every stage has stopped (the
   * build's temp folder is removed only then).
   */
  async #buildStages(stages: Stage[]): Promise<void> {
    this.#stageCount = stages.length;
    for (const stage of stages) this.#schedule(stage);
    // a stage scheduled later (#stageResult) is awaited by the stage that reads it
    await Promise.allSettled(this.#done.values());
    if (this.#failure) throw this.#failure.err;
  }

  /** Start building a stage once its base stage is built; number `no` in the `[stage N/M]` lines. */
  #schedule(stage: Stage): Promise<StageState> {
    const no = this.#done.size + 1;
    if (no > this.#stageCount) this.#stageCount = no;
    const run = async (): Promise<StageState> => {
      const base = baseStages(this.#all, [stage], this.#globalVars).get(stage.index);
      if (base !== undefined) await this.#stageResult(base, false);
      await this.#slots.acquire();
      try {
        this.#abort.signal.throwIfAborted();
        const started = Date.now();
        await this.#buildStage(stage, this.#all, no);
        this.#slog(no, `done in ${formatDuration(Date.now() - started)}`);
      } finally {
        this.#slots.release();
        const s = this.#states.get(stage.index);
        if (s) this.#releaseLeads(s);
      }
      return this.#states.get(stage.index)!;
    };
    const p = run();
    p.then(
      () => this.#finished.add(stage.index),
      () => this.#finished.add(stage.index),
    );
    p.catch((err: unknown) => {
      // the first failure is its step's error; a stage stopped by it (or by the caller) was canceled
      const first = !this.#failure && !this.inputs.signal?.aborted;
      this.#progress.fail(
        stage.index,
        first ? (err instanceof Error ? err.message : String(err)) : undefined,
      );
      if (this.#failure) return;
      this.#failure = { err };
      this.#abort.abort(err);
    });
    this.#done.set(stage.index, p);
    return p;
  }

  /**
   * The key pass (BuildKit computes every key before it runs anything): walk the stages for their keys only,
   * and keep the stages the target needs built: the target, the base of a kept stage, and a stage a kept
   * stage's step reads when the caches lack that step. So a stage whose readers all come from a cache (a
   * fresh machine with a mode=min cache) is not built, as BuildKit does not run it. A stage the pass cannot
   * walk (ADD of a URL or git repository, whose keys need the download) keeps every stage.
   */
  async #plan(stages: Stage[], target: Stage): Promise<Stage[]> {
    try {
      for (const stage of stages) await this.#buildStage(stage, this.#all, 0);
    } catch {
      // the build's pass reports the error where it happens; a stage walked part way has no definition key
      this.#dryStates.clear();
      // (an ADD of a URL stops the pass: its key needs the download) every stage is built, and the warmings
      // their FROMs started (`#warmAtFrom`) are kept
      for (const w of this.#warmingFor.values()) if (w.from !== undefined) w.stages.add(w.from);
      return stages;
    }
    const bases = baseStages(this.#all, stages, this.#globalVars);
    const kept = new Set<number>();
    const keep = (index: number) => {
      if (kept.has(index)) return;
      kept.add(index);
      const base = bases.get(index);
      if (base !== undefined) keep(base);
      for (const n of this.#dryStates.get(index)?.needs ?? []) keep(n);
    };
    keep(target.index);
    return stages.filter((s) => kept.has(s.index));
  }

  /**
   * A stage another one reads (FROM, --from): waited for without holding a slot, so that the stages it waits
   * for (which may still wait for a slot themselves) can run.
   */
  async #stageResult(index: number, holdsSlot = true): Promise<StageState> {
    let p = this.#done.get(index);
    if (!p) {
      // left out by the key pass, but a step reading it missed the caches after all
      const stage = this.#needed.find((s) => s.index === index);
      if (!stage) throw new BerthError("INTERNAL", `stage ${index} is not needed by the target`);
      p = this.#schedule(stage);
    }
    if (this.#finished.has(index) || !holdsSlot) return p;
    return await this.#withoutSlot(p);
  }

  /** Wait for `p` with the stage's slot given to others meanwhile. */
  async #withoutSlot<T>(p: Promise<T>): Promise<T> {
    this.#slots.release();
    try {
      return await p;
    } finally {
      await this.#slots.acquire();
    }
  }

  /** The stage's reads that lead to a RUN are through (its RUN's process started, or it is done). */
  #releaseLeads(s: StageState): void {
    for (const release of s.leads.splice(0)) release();
  }

  /**
   * Open each --cache-from and read its records. One that cannot be read is a warning, as BuildKit's: the build
   * goes on without it.
   */
  async #importCaches(): Promise<void> {
    for (const from of this.inputs.cacheFrom ?? []) {
      // BuildKit's vertex; a cache that cannot be used is a warning on it, as the build goes on without it
      const work = workProgress(this.inputs.onStep, `importing cache manifest from ${from.text}`, "");
      const warn = (line: string) => {
        this.#log(`WARN: ${line}`);
        work.warn(line);
      };
      try {
        const { importCache } = await import("./cache-transfer.ts");
        const c = await importCache(from, this.#ctx, this.#platform);
        this.#imports.push(c);
        if (c.steps.size) this.#log(`importing ${c.kind} from ${from.text}: ${c.steps.size} steps`);
        else {
          warn(
            `--cache-from ${from.text}: ${c.kind} has no step berth wrote${c.buildkitRecords ? ` (its ${c.buildkitRecords} records are BuildKit's, keyed by LLB digests berth does not compute)` : ""}; nothing to reuse`,
          );
        }
      } catch (err) {
        warn(
          `--cache-from ${from.text}: cannot import the cache (${(err as Error).message}); building without it`,
        );
      }
      work.end();
    }
  }

  /**
   * A record from an imported cache, kept in the local cache; its layer is not fetched here but when its bytes
   * are needed (`#lazy`), and the local record is used once it is (`StepCache.get` wants the blob).
   */
  async #imported(lookup: string): Promise<StepRecord | undefined> {
    const c = this.#imports.find((x) => x.steps.has(lookup));
    const rec = c?.steps.get(lookup);
    if (!c || !rec) return undefined;
    const l = rec.layer;
    const { lazyLayer } = await import("./cache-transfer.ts");
    if (l && !this.#lazy.has(l.digest)) {
      // every cache naming the layer may serve it: the one the record is from first
      const holders = [c, ...this.#imports.filter((x) => x !== c && x.layers.has(l.digest))];
      this.#lazy.set(
        l.digest,
        lazyLayer(holders, l, this.#cache.blobPath(l.digest), () => this.#cache.tmpDir()),
      );
    }
    await this.#cache.put(lookup, rec);
    return rec;
  }

  /** BuildKit's inline cache: the final image's steps as records in its config (always mode=min, as BuildKit). */
  #inlineCache(s: StageState): void {
    const layers = s.image.manifest.layers.map((l) => l.digest);
    const steps = s.chain.filter((e) => !e.record.layer || layers.includes(e.record.layer.digest));
    const value = encodeInline(steps, layers);
    s.image = mutate(s.image, { fields: { [INLINE_CACHE_FIELD]: value } }, s.platform);
    this.#log(`--> inline cache: ${steps.length} steps in the image config`);
  }

  /** An explicit --platform is the image's platform, whatever its base's config said (as BuildKit). */
  #stampPlatform(s: StageState, p: Platform): void {
    const c = s.image.config;
    if (c && c.os === p.os && c.architecture === p.architecture && (c.variant ?? "") === (p.variant ?? ""))
      return;
    s.image = mutate(s.image, { platform: p }, p);
  }

  async #loadIgnore(): Promise<Matcher | undefined> {
    const i = this.inputs;
    if (i.noIgnoreFile) return undefined;
    const candidates: string[] = [];
    if ("path" in i.dockerfile) candidates.push(`${i.dockerfile.path}.dockerignore`);
    candidates.push(join(i.contextDir, ".dockerignore"));
    for (const c of candidates) {
      // one lstat finds a file of the context's own folder missing (most have no .dockerignore), where the
      // confined reader opens the folder and asks for the name through libuv's pool (~1.5 ms); a file deeper
      // in the context is looked for only through it (a folder above it may be a link resolved inside)
      if (resolve(dirname(c)) === resolve(i.contextDir) && !lstatSync(c, { throwIfNoEntry: false })) continue;
      let bytes: Buffer | undefined;
      try {
        bytes = await readFileWithin(c, i.contextDir, CONTEXT);
      } catch (err) {
        if (err instanceof BerthError) throw err;
        throw wrapError(`reading ${c}`, err);
      }
      if (bytes !== undefined)
        return createMatcher(
          parseIgnoreFile(bytes.toString("utf8")),
          "dockerignore",
          relative(i.contextDir, c),
        );
    }
    return undefined;
  }

  /** ARG name[=default] …: values from --build-arg, else the default, else the global value. */
  #declareArgs(ins: Instruction, vars: Vars, globals?: Map<string, string>): [string, string | undefined][] {
    const out: [string, string | undefined][] = [];
    for (const word of splitArgWords(ins.args)) {
      const eq = word.indexOf("=");
      const name = eq < 0 ? word : word.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new BerthError(
          "DOCKERFILE_SYNTAX",
          `${this.#df.name}:${ins.line}: invalid ARG name ${JSON.stringify(name)}`,
        );
      }
      this.#consumed.add(name);
      const given = this.inputs.buildArgs?.[name];
      let value: string | undefined;
      if (given !== undefined) value = given;
      else if (eq >= 0) value = expandWord(word.slice(eq + 1), vars, this.#df.escape).value;
      else if (globals?.has(name)) value = globals.get(name);
      out.push([name, value]);
    }
    return out;
  }

  #vars(s: StageState): Map<string, string> {
    const v = new Map<string, string>();
    for (const [k, val] of s.args) if (val !== undefined) v.set(k, val);
    for (const e of s.image.config?.config?.Env ?? []) {
      const i = e.indexOf("=");
      v.set(e.slice(0, i), e.slice(i + 1));
    }
    return v;
  }

  #config(s: StageState): ContainerConfig {
    const c = structuredClone(s.image.config?.config ?? {});
    if (s.clearOnBuild) delete c.OnBuild;
    return c;
  }

  /** A base image (FROM, --from), opened once per reference and platform. */
  #openBase(text: string, platform: Platform): Promise<Image> {
    const id = `${text} ${formatPlatform(platform)}`;
    let p = this.#bases.get(id);
    if (!p) {
      p = this.#loadBase(text, platform);
      this.#bases.set(id, p);
      // a failure is not kept: the build's pass tries again and reports it
      p.catch(() => this.#bases.delete(id));
    }
    return p;
  }

  async #loadBase(text: string, platform: Platform): Promise<Image> {
    const arg = parseImageArgument(text);
    const stored = arg.transport === "store" ? arg.ref : undefined;
    // --pull: a bare reference is read from its registry, whatever the store holds (docker build --pull)
    const pull = this.inputs.pull === true && stored !== undefined;
    let opened: OpenedSource | undefined;
    try {
      if (!pull) opened = await openSource(arg, this.#ctx);
    } catch (err) {
      if (stored === undefined || !isBerthError(err, "IMAGE_NOT_FOUND")) throw err;
    }
    if (!opened) {
      // Not in the local store (or --pull): the registry, as docker would pull it.
      try {
        opened = await openSource(registryArgument(stored!), this.#ctx);
      } catch (err2) {
        throw new BerthError(
          "IMAGE_NOT_FOUND",
          pull
            ? `image ${JSON.stringify(text)} is not reachable in its registry, where --pull reads it (${(err2 as Error).message})`
            : `image ${JSON.stringify(text)} is neither in the local store nor reachable in its registry (${(err2 as Error).message})`,
          { cause: err2, ...(pull ? { hint: "leave out --pull to use the store's copy" } : {}) },
        );
      }
    }
    this.#opened.push(opened);
    return selectImage(await loadRoot(opened.source, opened.root), platform);
  }

  /** A line of stage number `no`: `[stage 2/4] …` (none from the key pass, stage 0). */
  #slog(no: number, line: string): void {
    if (no === 0) return;
    if (line.startsWith("STEP ")) this.#stepStarted.set(no, Date.now());
    this.#log(`[stage ${no}/${this.#stageCount}] ${line}`);
  }

  /** A step of stage `no` (Dockerfile stage `stage`) starts: its line, and its vertex named by the line. */
  #begin(no: number, stage: number, text: string, line: string, defKey: string): void {
    this.#slog(no, line);
    if (no !== 0) this.#progress.start(stage, text, `[stage ${no}/${this.#stageCount}] ${line}`, defKey);
  }

  /** How long stage `no`'s current step has taken. */
  #took(no: number): string {
    return formatDuration(Date.now() - (this.#stepStarted.get(no) ?? Date.now()));
  }

  /** Build a stage, or walk it for its keys only (`no` 0: the key pass, `#plan`). */
  async #buildStage(stage: Stage, all: Stage[], no: number): Promise<void> {
    const df = this.#df;
    const dry = no === 0;
    const from = stage.from;
    const total = stage.instructions.length + 1;
    this.#begin(no, stage.index, from.text, `STEP 1/${total}: ${from.text}`, "");
    const baseText = baseNameOf(stage.baseText, this.#globalVars, df.escape, `${df.name}:${from.line}`);
    const platform = this.#fromPlatform(from);
    const context = findContext(this.inputs.contexts, baseText, platform);
    const named = context?.kind === "image" ? context : undefined;
    const { image, key, defKey, chain, base, args } = await this.#stageBase(
      stage,
      all,
      dry,
      baseText,
      platform,
      context,
    );
    const state: StageState = {
      stage,
      no,
      image,
      key,
      defKey: defKey ?? key,
      args,
      cmdSet: false,
      root: new StageRoot(join(this.#tmp, `stage-${stage.index}`), this.#ctx.home),
      base,
      index: new StageIndex(this.#shared.layerEntries),
      compression: this.#unexported.has(stage.index) ? "none" : this.#compression,
      clearOnBuild: false,
      platform,
      chain,
      dry,
      reads: new Set(),
      needs: new Set(),
      leads: [],
      missed: false,
      fresh: false,
    };
    (dry ? this.#dryStates : this.#states).set(stage.index, state);
    this.#prewrite(state, false);
    this.#slog(no, `--> ${short(image.digest)} (${this.#took(no)})`);
    if (!dry) {
      this.#steps.push({
        stage: stage.index,
        step: 1,
        instruction: from.text,
        line: from.line,
        cached: true,
        digest: image.digest,
      });
      this.#progress.done(stage.index, true);
    }
    if (context && !named) await this.#fromFiles(state, context.name, all);
    // ONBUILD triggers of the base run first.
    // Also when FROM names an earlier stage, as BuildKit.
    const triggers = image.config?.config?.OnBuild ?? [];
    if (triggers.length) state.clearOnBuild = true;
    for (const t of triggers) {
      const ins = parseTrigger(t, df.name, from.line);
      this.#begin(no, stage.index, t, `ONBUILD ${t}`, state.defKey);
      await this.#step(state, ins, all);
    }
    for (const [n, ins] of stage.instructions.entries()) {
      this.#begin(no, stage.index, ins.text, `STEP ${n + 2}/${total}: ${ins.text}`, state.defKey);
      await this.#step(state, ins, all);
    }
  }

  /** What a stage starts from: an earlier stage (its state), the empty image (scratch, a files context) or an image. */
  async #stageBase(
    stage: Stage,
    all: Stage[],
    dry: boolean,
    baseText: string,
    platform: Platform,
    context: ReturnType<typeof findContext>,
  ): Promise<{
    image: Image;
    key: string;
    defKey: string | undefined;
    chain: ExportStep[];
    base: Image | undefined;
    args: Map<string, string | undefined>;
  }> {
    const df = this.#df;
    const from = stage.from;
    const named = context?.kind === "image" ? context : undefined;
    let image: Image;
    let key: string;
    let defKey: string | undefined;
    let chain: ExportStep[] = [];
    let base: Image | undefined;
    // FROM a stage: its ARGs too, as BuildKit (the values in scope, the RUN history's `|N k=v`)
    let args = new Map<string, string | undefined>();
    const dep = context ? undefined : findBaseStage(all, baseText, stage.index);
    if (dep) {
      const st = dry ? this.#dryStates.get(dep.index)! : await this.#stageResult(dep.index);
      args = new Map(st.args);
      base = st.base;
      image = st.image;
      key = st.key;
      defKey = st.defKey;
      chain = [...st.chain];
    } else if (baseText === "scratch" || (context && !named)) {
      // BuildKit's empty image (emptyImage in dockerfile2llb) has the default PATH and WorkingDir /; a
      // directory, git or URL context gives it too (contextByName returns no image config), its files on it,
      // but a stage such a context replaces has no config at all (dockerfile2llb leaves the stage's image unset)
      const bare = context !== undefined && this.#replaced.has(stage.index);
      image = mutate(undefined, {
        platform,
        created: EPOCH,
        ...(bare ? {} : { config: (c) => ({ ...c, Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: "/" }) }),
      });
      // a context's layer is keyed apart from `FROM scratch` + `COPY --from=NAME / /` (its history differs)
      key = cacheKey(
        context ? (bare ? "context-stage" : "context-files") : "scratch",
        formatPlatform(platform),
      );
    } else {
      try {
        image = await this.#openBase(named?.image ?? baseText, platform);
      } catch (err) {
        throw wrapError(
          `${df.name}:${from.line}: FROM ${baseText}${named ? ` (--build-context ${named.text})` : ""}`,
          err,
        );
      }
      base = image;
      key = cacheKey("from", image.digest);
      if (dry) this.#warmAtFrom(stage, image);
    }
    return { image, key, defKey, chain, base, args };
  }

  /** FROM's `--platform`, else the build's. */
  #fromPlatform(from: Instruction): Platform {
    const text = from.flags.platform?.[0];
    try {
      return text ? parsePlatform(expandWord(text, this.#globalVars, this.#df.escape).value) : this.#platform;
    } catch (err) {
      throw wrapError(`${this.#df.name}:${from.line}: FROM --platform`, err);
    }
  }

  /**
   * FROM a directory, git or URL context: its files laid on the empty image as `COPY --from=NAME / /` lays them
   * (the .dockerignore of a directory applied, owners root's, modes and mtimes kept), one layer. BuildKit's
   * exporter (normalizeLayersAndHistory) gives a layer without a history entry one, "local source for NAME" (the
   * local source's description) with its comment; berth's entry says that in the layer's place, where BuildKit
   * appends entries after the Dockerfile's, describing its top layers (the same when FROM NAME makes no other).
   */
  async #fromFiles(s: StageState, name: string, all: Stage[]): Promise<void> {
    const [ins] = parseDockerfile(`COPY --from=${name} / /\n`, this.#df.name).instructions;
    const line = s.stage.from.line;
    const where = `${this.#df.name}:${line}`;
    const copy = { ...ins!, line, endLine: line };
    try {
      await copyInstruction({
        ...this.#stepContext(s, copy, all, this.#vars(s), where),
        history: { createdBy: `local source for ${name}`, comment: "buildkit.exporter.image.v0" },
      });
      s.flush?.();
    } catch (err) {
      s.flush?.();
      if (s.dry) throw err;
      throw wrapError(`${where}: FROM ${s.stage.baseText} (--build-context ${name})`, err);
    }
  }

  async #step(s: StageState, ins: Instruction, all: Stage[]): Promise<void> {
    const where = `${this.#df.name}:${ins.line}`;
    this.#abort.signal.throwIfAborted();
    try {
      await this.#dispatch(s, ins, all, where);
      s.flush?.();
      // a RUN found in the cache started no process: its stage's reads are through as well
      if (ins.keyword === "RUN" || !runFollows(s.stage, ins)) this.#releaseLeads(s);
    } catch (err) {
      s.flush?.();
      if (s.dry) throw err;
      if (err instanceof BerthError && err.message.startsWith(`${where}:`)) throw err;
      const text = ins.text.length > 80 ? `${ins.text.slice(0, 77)}...` : ins.text;
      throw wrapError(`${where}: ${text}`, err);
    }
  }

  async #dispatch(s: StageState, ins: Instruction, all: Stage[], where: string): Promise<void> {
    const df = this.#df;
    const vars = this.#vars(s);
    switch (ins.keyword) {
      case "ARG": {
        const declared = this.#declareArgs(ins, vars, this.#globalVars);
        for (const [name, value] of declared) s.args.set(name, value);
        // BuildKit records each ARG with the value it takes (an empty layer). The cache key is unchanged and
        // the entry takes the time of the step before it, so a rebuild from the cache gives the same digest.
        const text = declared.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join(" ");
        s.image = mutate(s.image, { history: [{ created_by: `ARG ${text}` }] }, s.platform);
        this.#report(s, ins, true);
        return;
      }
      case "ENV":
      case "LABEL":
      case "EXPOSE":
      case "USER":
      case "CMD":
      case "ENTRYPOINT":
      case "VOLUME":
      case "STOPSIGNAL":
      case "SHELL":
      case "ONBUILD":
      case "HEALTHCHECK":
      case "MAINTAINER": {
        const shell = s.image.config?.config?.Shell ?? ["/bin/sh", "-c"];
        const r = applyConfigInstruction(ins, this.#config(s), vars, df.escape, { cmdSet: s.cmdSet, shell });
        if (ins.keyword === "CMD") s.cmdSet = true;
        await this.#cached(
          s,
          ins,
          [r.text],
          r.config,
          async () => ({
            config: r.config,
            ...(ins.keyword === "MAINTAINER" ? { author: ins.args.trim() } : {}),
          }),
          // As BuildKit, ONBUILD changes the config without a history entry.
          { createdBy: ins.keyword === "ONBUILD" ? undefined : r.text },
        );
        return;
      }
      case "WORKDIR":
        await workdirInstruction(this.#stepContext(s, ins, all, vars, where));
        return;
      case "COPY":
      case "ADD":
        await copyInstruction(this.#stepContext(s, ins, all, vars, where));
        return;
      case "RUN":
        await runInstruction(this.#stepContext(s, ins, all, vars, where));
        return;
      case "FROM":
        throw new BerthError("INTERNAL", "FROM inside a stage");
    }
  }

  /** The context a filesystem-changing instruction runs with (step.ts). */
  #stepContext(s: StageState, ins: Instruction, all: Stage[], vars: Vars, where: string): StepContext {
    return {
      inputs: this.#inputsFor(s),
      home: this.#ctx.home,
      env: this.#ctx.env,
      ins,
      escape: this.#df.escape,
      vars,
      where,
      args: s.args,
      image: s.image,
      config: this.#config(s),
      matcher: this.#matcher,
      mtime: this.#mtime,
      // a counter: the folder is this build's own (mkdtemp), so a name is new once the counter moves on
      temp: (prefix) => join(this.#tmp, `${prefix}${++this.#temps}`),
      view: () => s.index.sync(s.image),
      warmed: s.base && this.#warming.get(s.base.digest),
      snapshotting:
        s.dry || !(runFollows(s.stage, ins) || this.#readByOthers(s.stage.index))
          ? undefined
          : (write) => this.#writeSnapshotted(s.image, write),
      earlySnapshotting:
        s.dry && runFollows(s.stage, ins)
          ? (write) => this.#writeEarlySnapshotted(s.image, write)
          : undefined,
      compression: s.compression,
      sourceRoot: (ref) => this.#sourceRoot(s, ins, ref, all, where),
      contextSources: (patterns, o) => {
        const id = JSON.stringify([patterns, o.parents, o.excludes]);
        let p = this.#contextSources.get(id);
        if (!p) {
          const what = "the build context";
          p = selectSources(this.inputs.contextDir, patterns, { ...o, matcher: this.#matcher, what });
          this.#contextSources.set(id, p);
        }
        return p;
      },
      contextDigest: (sources) => {
        let p = this.#contextDigests.get(sources);
        if (!p) {
          p = sourcesDigest(sources, (path, st) => this.#index.digest(path, st));
          this.#contextDigests.set(sources, p);
        }
        return p;
      },
      contextContent: (path, st) => this.#index.content(path, st),
      dry: s.dry,
      // the target: no stage reads it, so its definition key is wanted by nothing
      keyless: s.dry && s.missed && s.stage.index === this.#target,
      takeEarly: () => this.#early.take(ins),
      waiting: (ended) => {
        this.#releaseLeads(s);
        this.#early.processStarted(ended);
      },
      later: (work) => this.#background.push(work),
      cached: (parts, produce, o) => this.#cached(s, ins, parts, o?.config ?? this.#config(s), produce, o),
    };
  }

  /** A named directory context, its files' digests kept between builds in an index of its own (context-index.ts). */
  async #indexedDir(c: NamedContext & { kind: "dir" }): Promise<SourceRoot> {
    const index = await ContextIndex.open(this.#cache.root, c.dir);
    this.#dirIndexes.push(index);
    return dirSource(c, { ignore: true, contentOf: (path, st) => index.digest(path, st) });
  }

  /** `StepContext.snapshotting`: the layer over `image` written by `write`, its snapshot made from the tee. */
  async #writeSnapshotted<T extends { diffId: Digest }>(
    image: Image,
    write: (tee: Writable | undefined) => Promise<T>,
  ): Promise<T> {
    const { out, snapshot } = await teedWrite(this.#ctx.home, image, write);
    if (snapshot) this.#background.push(snapshot.finish(out.diffId));
    return out;
  }

  /**
   * `StepContext.earlySnapshotting`: the layer written early over `image` (the key pass's: its base's layers),
   * its snapshot made from the tee and held; `#cached` places it over the stage's layers when the step takes it.
   */
  async #writeEarlySnapshotted<T extends { diffId: Digest }>(
    image: Image,
    write: (tee: Writable | undefined) => Promise<T>,
  ): Promise<T & { snapshot?: HeldSnapshot }> {
    const { out, snapshot } = await teedWrite(this.#ctx.home, image, write);
    if (!snapshot) return out;
    const held: HeldSnapshot = {
      place: (parents) => snapshot.finish(out.diffId, parents),
      abandon: () => snapshot.abandon(),
    };
    return { ...out, snapshot: held };
  }

  /**
   * Whether another stage reads stage `index`'s files (a step the caches lack reads it, as the key pass found,
   * or a stage is built FROM it): its layers will be needed as snapshots.
   */
  #readByOthers(index: number): boolean {
    if ([...this.#dryStates.values()].some((st) => st.needs.has(index))) return true;
    return [...baseStages(this.#all, this.#needed, this.#globalVars).values()].includes(index);
  }

  /**
   * The inputs a step of `s` sees: the build's signal, RUN output line by line with the stage's prefix, and as
   * its vertex's logs (`onStep`).
   */
  #inputsFor(s: StageState): BuildInputs {
    let write = this.inputs.onOutput;
    if (this.#concurrent && write) {
      const lines = new LinePrefixer(`[stage ${s.no}/${this.#stageCount}] `, write);
      s.flush = () => lines.flush();
      write = (chunk, stream) => lines.push(chunk, stream);
    }
    if (this.inputs.onStep) {
      const text = write;
      write = (chunk, stream) => {
        text?.(chunk, stream);
        this.#progress.log(s.stage.index, chunk, stream);
      };
    }
    return write === this.inputs.onOutput ? this.#stepInputs : { ...this.#stepInputs, onOutput: write };
  }

  #report(s: StageState, ins: Instruction, cached: boolean): void {
    if (s.dry) return;
    this.#progress.done(s.stage.index, cached);
    this.#steps.push({
      stage: s.stage.index,
      step: this.#steps.filter((x) => x.stage === s.stage.index).length + 1,
      instruction: ins.text,
      line: ins.line,
      cached,
      ...(this.#early.madeEarly(ins) ? { early: true as const } : {}),
      digest: s.image.digest,
    });
  }

  /**
   * Run a step through the cache: reuse its record, or produce it and record it. The key pass only notes
   * whether a cache has the step and goes on with `config`, the config after it. A step with `content` (COPY
   * --from) that misses by its definition is looked up again by the content it reads (BuildKit's content-based
   * key): the stage goes on with that key, so a source stage that re-ran with the same copied files changes
   * nothing after the copy. Its record is kept under both lookups, the definition's saying `via` which.
   */
  async #cached(
    s: StageState,
    ins: Instruction,
    keyParts: unknown[],
    config: ContainerConfig,
    produce: () => Promise<StepOutput>,
    o: StepCacheOptions = {},
  ): Promise<void> {
    // A linked step's record (COPY --link) is found whatever came before it: its layer does not depend on
    // the stage's filesystem, and its config is the stage's current one. The stage's key still chains.
    // A stage whose layers stay uncompressed records its steps apart: a compressed stage never takes them.
    const apart = s.compression === this.#compression ? [] : [{ layers: s.compression }];
    const lookupOf = (parts: unknown[]) =>
      o.linked
        ? cacheKey("linked", ins.keyword, ...parts, ...apart)
        : cacheKey(s.key, s.clearOnBuild, ins.keyword, ...parts, ...apart);
    const keyOf = (lookup: string) => (o.linked ? cacheKey(s.key, s.clearOnBuild, lookup) : lookup);
    const lookup = lookupOf(keyParts);
    s.defKey = o.linked
      ? cacheKey(s.defKey, s.clearOnBuild, lookup)
      : cacheKey(s.defKey, s.clearOnBuild, ins.keyword, ...keyParts);
    if (s.dry) {
      const hit = o.unkeyed || s.fresh ? undefined : await this.#find(s, lookup, false);
      s.fresh = false;
      if (!hit) s.missed = true;
      if (!hit) for (const n of s.reads) s.needs.add(n);
      // The snapshots a RUN the caches lack will run on, or a stage that a step they lack reads, start now.
      if (!hit && ins.keyword === "RUN") this.#warm(s.base, s.stage.index);
      if (!hit) for (const n of s.reads) this.#warm(this.#dryStates.get(n)?.base, s.stage.index);
      // A path question will be asked of the stage's layers: their entries are read while the key pass goes on
      // (not with a cache import, which may leave the stage unbuilt and its base's layers unfetched).
      if (!hit && ASKS_PATHS.has(ins.keyword) && !this.#imports.length)
        this.#shared.layerEntries.prefetch(s.image.layers());
      if (!hit && o.early) this.#early.offer(ins, o.early);
      s.reads.clear();
      s.image = mutate(s.image, { config: () => config }, s.platform);
      s.key = keyOf(hit?.via ?? lookup);
      s.clearOnBuild = false;
      return;
    }
    let rec = s.fresh ? undefined : await this.#find(s, lookup, true);
    s.fresh = false;
    let via = rec?.via;
    if (!rec && o.content) {
      via = lookupOf(await o.content());
      rec = await this.#find(s, via, true);
      if (rec) await this.#cache.put(lookup, { ...rec, via });
    }
    let stored = rec;
    if (rec && o.linked) rec = { ...rec, config: this.#config(s) };
    if (rec && o.createdBy !== undefined) rec = { ...rec, history: { ...rec.history, ...historyOf(o) } };
    const cached = rec !== undefined;
    if (rec) {
      if (rec.layer) this.#prefetch(s, rec.layer.digest);
      this.#slog(s.no, `--> Using cache ${short(keyOf(via ?? lookup))}`);
    } else {
      rec = await this.#produceOnce(via ?? lookup, o, () => this.#produceStep(s, ins, produce));
      if (via) await this.#cache.put(lookup, { ...rec, via });
      stored = rec;
    }
    const key = keyOf(via ?? lookup);
    const steps: ExportStep[] = [lookup, ...(via ? [via] : [])].map((l) => ({
      lookup: l,
      key,
      parent: s.key,
      record: l === via || !via ? { ...stored!, via: undefined } : { ...stored!, via },
      below: s.image.manifest.layers.at(-1)?.digest,
    }));
    s.chain.push(...steps);
    this.#used.push(...steps);
    const r = rec;
    const layers: AddedLayer[] = r.layer
      ? [
          {
            path: this.#cache.blobPath(r.layer.digest),
            source: this.#lazy.get(r.layer.digest),
            written: this.#wrote.has(r.layer.digest),
            ...r.layer,
            history: r.history ?? {},
          },
        ]
      : [];
    s.image = mutate(
      s.image,
      {
        layers,
        config: () => r.config,
        ...(r.layer || !r.history ? {} : { history: [r.history] }),
        author: r.author,
        created: r.created,
      },
      s.platform,
    );
    s.key = key;
    s.clearOnBuild = false;
    this.#prewrite(s, !cached);
    this.#slog(s.no, `--> ${short(s.image.digest)} (${this.#took(s.no)})`);
    this.#report(s, ins, cached);
  }

  /**
   * The target stage's layers, put into the local destinations while the build goes on (prewrite.ts), from its
   * first step that is not cached (a rebuild that changes nothing writes nothing, as before).
   */
  #prewrite(s: StageState, produced: boolean): void {
    if (s.dry || s.stage.index !== this.#target) return;
    if (produced) this.#prewriter ??= new Prewriter(this.inputs.destinations, this.#ctx);
    this.#prewriter?.add(s.image, (digest) => this.#lazy.has(digest));
  }

  /**
   * Start making `image`'s snapshots in the background (`warmSnapshots`), once a build: the key pass found a
   * step that will need them, and a stage's first RUN would otherwise begin by unpacking its base; or (`atFrom`)
   * it is at a stage's FROM, and no stage asks for them yet (`#warmAtFrom`).
   */
  #warm(image: Image | undefined, stage: number, atFrom = false): void {
    if (!image) return;
    const asked = this.#warmingFor.get(image.digest);
    if (asked) {
      if (!atFrom) asked.stages.add(stage);
      return;
    }
    const stop = new AbortController();
    const stages = new Set(atFrom ? [] : [stage]);
    this.#warmingFor.set(image.digest, { stages, ...(atFrom ? { from: stage } : {}), stop });
    const i = this.#stepInputs;
    const warming = warmSnapshots(image, {
      home: this.#ctx.home,
      runtime: i.runtime,
      searchPath: i.searchPath,
      signal: AbortSignal.any([this.#abort.signal, stop.signal]),
      onUnpack: (n) => this.#log(unpackingLine(n)),
      entries: this.#shared.layerEntries,
      // a cache import may leave the stage out (`#stopWarming`): nothing is made before the key pass says
      after: this.#imports.length ? this.#planned : undefined,
    });
    this.#warming.set(image.digest, warming);
  }

  /**
   * Start a base image's snapshots at the key pass's FROM of a stage that has a RUN, before the pass reaches that
   * RUN (in the bench project's cold build the pass gets there ~20 ms later, hashing the context for COPY deps/,
   * and the RUN then waited ~12 ms for the snapshot): when the image's snapshot chain is not on disk (a stat of
   * its top snapshot, `chainPresent`, no runtime loaded) and no cache is imported (an import can leave the stage
   * out: `#warm` makes nothing before the pass ends then). A missing chain mostly means a fresh BERTH_HOME,
   * whose cache lacks the RUN too. Asked for by no stage, the warming is stopped at the pass's end
   * (`#stopWarming`) unless a RUN the caches lack asks for it meanwhile; so when the guess is wrong (the RUNs
   * cached, the snapshots pruned or made before a reboot) it costs at most the key pass's length of unpacking
   * in the background (the runtime and the layer engine loaded: ~10 ms of CPU), and leaves nothing half-made.
   */
  #warmAtFrom(stage: Stage, image: Image): void {
    if (this.#imports.length || !stage.instructions.some((ins) => ins.keyword === "RUN")) return;
    if (chainPresent(this.#ctx.home, image.imageConfig().rootfs.diff_ids)) return;
    this.#warm(image, stage.index, true);
  }

  /**
   * Stop the warmings that only stages the build leaves out asked for: the key pass found RUNs the caches lack
   * in them, but a step further on was found in a cache (with a cache import, the target stage's steps often are),
   * and their snapshots would be made for nothing, on the main thread while the image is fetched and written (a
   * fresh machine with the bench project's inline cache: ~12 ms of CPU then). A step that reads such a stage after
   * all (`#stageResult`) makes the snapshots itself.
   */
  #stopWarming(planned: readonly Stage[]): void {
    const kept = new Set(planned.map((s) => s.index));
    for (const { stages, stop } of this.#warmingFor.values()) {
      if (![...stages].some((n) => kept.has(n))) stop.abort();
    }
  }

  /** A step's record from the local cache, or (not in the key pass) fetched from an imported one. */
  async #find(s: StageState, lookup: string, fetch: boolean): Promise<StepRecord | undefined> {
    if (this.inputs.noCache || this.#uncachedStages.has(s.stage.index)) return undefined;
    const local = await this.#cache.get(lookup);
    if (local || !this.#imports.length) return local;
    return fetch ? this.#imported(lookup) : this.#imports.find((c) => c.steps.has(lookup))?.steps.get(lookup);
  }

  /**
   * An imported layer of the target stage is in the image the build writes: where a destination needs its bytes
   * (any but a registry, which may mount it from the cache's repository), it is fetched from the cache hit on,
   * while the other steps are looked up, rather than when the image is written. A failure is the same promise
   * that the image's write then reads (`lazyLayer`), and is reported there.
   */
  #prefetch(s: StageState, digest: string): void {
    if (s.stage.index !== this.#target) return;
    // an -o type=local|tar export reads every layer here
    const exported = Boolean(this.inputs.exports?.length);
    if (!exported && this.inputs.destinations.every((d) => d.transport === "docker")) return;
    const fetching = this.#lazy.get(digest)?.local();
    if (fetching) this.#prefetching.push(fetching.catch(() => undefined));
  }

  /**
   * A step produced at its turn: noted when its output was made early, and a snapshot made with a layer made
   * early placed over the stage's layers as they are now.
   */
  async #produceStep(
    s: StageState,
    ins: Instruction,
    produce: () => Promise<StepOutput>,
  ): Promise<StepOutput> {
    const out = await produce();
    if (out.early) this.#early.made(ins);
    const held = out.layer?.snapshot;
    if (held) this.#background.push(held.place(s.image.imageConfig().rootfs.diff_ids));
    return out;
  }

  /** Produce a step and record it under `lookup`, once for the builds sharing this state (platforms.ts). */
  #produceOnce(
    lookup: string,
    history: StepCacheOptions,
    produce: () => Promise<StepOutput>,
  ): Promise<StepRecord> {
    let p = this.#shared.producing.get(lookup);
    if (!p) {
      p = produce().then(async (out) => {
        const rec = await this.#record(out, history);
        await this.#cache.put(lookup, rec);
        return rec;
      });
      this.#shared.producing.set(lookup, p);
    }
    return p;
  }

  /** A produced step as a record, its layer moved into the cache's blobs. */
  async #record(out: StepOutput, history: StepCacheOptions): Promise<StepRecord> {
    const rec: StepRecord = { config: out.config, created: this.#created };
    if (history.createdBy !== undefined) rec.history = historyOf(history);
    if (out.author !== undefined) rec.author = out.author;
    if (out.layer) {
      const { path, headers, ...layer } = out.layer;
      const blob = this.#cache.blobPath(layer.digest);
      // synchronous: two calls that cost less than their trips through libuv's pool
      mkdirSync(posix.dirname(blob), { recursive: true });
      renameSync(path, blob);
      if (headers) this.#shared.layerEntries.note(layer.digest, headers);
      this.#wrote.add(layer.digest);
      rec.layer = {
        digest: layer.digest,
        diffId: layer.diffId,
        size: layer.size,
        mediaType: layer.mediaType,
      };
    }
    return rec;
  }

  async #sourceRoot(
    s: StageState,
    ins: Instruction,
    ref: string,
    all: Stage[],
    where: string,
  ): Promise<SourceRoot> {
    // a --from is read for the build's platform (BuildKit's: the target platform, not the stage's)
    const named = findContext(this.inputs.contexts, ref, this.#platform);
    if (named && named.kind !== "image") {
      const id = `${named.name}::${named.platform ?? ""}`;
      let p = this.#dirContexts.get(id);
      if (!p) {
        const dir = join(this.#tmp, `context-${this.#dirContexts.size}`);
        p =
          named.kind === "dir"
            ? this.#indexedDir(named)
            : fetchedSource(named, dir, this.#ctx.env, this.#abort.signal);
        this.#dirContexts.set(id, p);
      }
      return p;
    }
    const dep = named ? undefined : findStage(all, ref, s.stage.index);
    if (dep) {
      if (this.#uncachedStages.has(dep.index)) s.fresh = true;
      const what = `stage ${JSON.stringify(ref)}`;
      // The stage's definition key, not its result nor its content-keyed chain (BuildKit's definition key):
      // the same in the key pass and after the stage is built, on any machine, so a step reading it is found
      // in a mode=min cache written by a machine that built the stage. The step waits for the stage only
      // when it needs its files (a miss); a stage the key pass left out is built then.
      const planned = this.#dryStates.get(dep.index);
      if (s.dry) {
        if (!planned) throw new BerthError("INTERNAL", `stage ${ref} has no keys yet`);
        s.reads.add(dep.index);
        return {
          root: () => Promise.reject(new BerthError("INTERNAL", "the key pass reads no stage")),
          id: planned.defKey,
          what,
        };
      }
      const result = planned ? () => this.#stageResult(dep.index) : undefined;
      const st = result ? undefined : await this.#stageResult(dep.index);
      // A read that only feeds the exported image yields to those leading to a RUN (schedule.ts's ReadOrder).
      const feedsExport =
        s.stage.index === this.#target && ins.keyword !== "RUN" && !runFollows(s.stage, ins);
      const built = async () => {
        if (st) return st;
        if (!this.#finished.has(dep.index)) this.#early.want(s.stage, ins);
        if (!feedsExport) s.leads.push(this.#readOrder.lead(dep.index));
        const b = await result!();
        const holds = feedsExport ? this.#readOrder.yieldTo(dep.index) : undefined;
        if (holds) await this.#withoutSlot(holds);
        return b;
      };
      return {
        root: async () => {
          const b = await built();
          return b.root.sync(b.image);
        },
        sources: async (patterns, o) => {
          const b = await built();
          const layers = await b.root.layers(b.image);
          return layers && layerSources(layers, patterns, o);
        },
        id: planned?.defKey ?? st!.defKey,
        what,
      };
    }
    let image: Image;
    try {
      image = await this.#openBase(named?.image ?? ref, s.platform);
    } catch (err) {
      if (named) throw wrapError(`${where}: --from=${ref} (--build-context ${named.text})`, err);
      if (!/[/:@]/.test(ref) && isBerthError(err, "IMAGE_NOT_FOUND")) {
        throw new BerthError(
          "DOCKERFILE_STAGE_NOT_FOUND",
          `${where}: --from=${ref}: no stage named ${JSON.stringify(ref)} before this instruction, and no image of that name`,
          { cause: err, hint: `the stages are: ${all.map((x) => x.name ?? x.index).join(", ")}` },
        );
      }
      throw err;
    }
    let root = this.#imageRoots.get(image.digest);
    if (!root) {
      root = new StageRoot(join(this.#tmp, `image-${short(image.digest)}`), this.#ctx.home);
      this.#imageRoots.set(image.digest, root);
    }
    const r = root;
    return {
      root: () => r.sync(image),
      sources: async (patterns, o) => {
        const layers = await r.layers(image);
        return layers && layerSources(layers, patterns, o);
      },
      id: image.digest,
      what: `image ${ref}`,
    };
  }
}

/**
 * `--cache-to type=registry|local`: after the image is written, as BuildKit; a failure fails the build unless
 * ignore-error=true. A multi-platform build exports once, every platform's steps in one cache.
 */
export async function exportCaches(
  cacheTo: readonly CacheTo[],
  used: CacheSteps,
  cache: StepCache,
  ctx: TransportContext,
  tmp: string,
  log: ((line: string) => void) | undefined,
  lazy?: ReadonlyMap<string, LazyLayer>,
  onStep?: (event: StepEvent) => void,
): Promise<void> {
  for (const to of cacheTo) {
    if (to.type === "inline") continue;
    const steps = used[to.mode];
    const where = to.type === "registry" ? to.ref : to.dest;
    const work = workProgress(onStep, `exporting cache to ${where}`, to.text);
    try {
      const { exportCache } = await import("./cache-transfer.ts");
      const r = await exportCache(to, steps, (d) => cache.blobPath(d), ctx, tmp, lazy);
      log?.(
        `exporting cache to ${where} (mode=${to.mode}): ${new Set(steps.map((e) => e.lookup)).size} steps, ${r.layers} layers, ${r.root.digest}`,
      );
      work.end();
    } catch (err) {
      if (to.ignoreError) {
        const line = `--cache-to ${to.text}: cannot export the cache (${(err as Error).message}); ignore-error=true`;
        log?.(`WARN: ${line}`);
        work.warn(line);
        work.end();
        continue;
      }
      const wrapped = wrapError(`exporting the cache to ${where} (--cache-to ${to.text})`, err);
      work.end(wrapped);
      throw wrapped;
    }
  }
}

/** `--label`s over the image's own labels: a config change only, no history entry (as BuildKit's). */
function withLabels(image: Image, labels: Readonly<Record<string, string>>): Image {
  return mutate(image, { config: (c) => ({ ...c, Labels: { ...(c.Labels ?? {}), ...labels } }) });
}

/**
 * Write the built image (or a multi-platform build's index, whole) to each destination, with the same digest;
 * `prewritten`: the local destinations the build wrote its layers to already; `onStep`: each destination a
 * vertex, its blobs statuses.
 */
export async function writeDestinations(
  root: Root,
  destinations: readonly ImageArgument[],
  ctx: TransportContext,
  o: { prewritten?: Prewriter | undefined; onStep?: ((event: StepEvent) => void) | undefined } = {},
): Promise<BuildResult["written"]> {
  const written: BuildResult["written"] = [];
  for (const dest of destinations) {
    const sink = await o.prewritten?.take(dest);
    const push = dest.transport === "docker";
    const vertex = o.onStep && destinationProgress(o.onStep, dest.text, root.digest, push);
    // a push to a registry shows its progress (the CLI's reporter); a local write is quick
    const result = await reported(
      push ? ctx.progress : undefined,
      () => `Pushed ${dest.text}`,
      (hooks) => {
        const blobs = [hooks.onBlob, vertex?.onBlob].filter((f) => f !== undefined);
        const onBlob = (e: BlobEvent) => {
          for (const f of blobs) f(e);
        };
        const copyOptions = { ...hooks, ...(blobs.length ? { onBlob } : {}), all: root.kind === "index" };
        return sink ? copy(root, sink, copyOptions) : writeImage(root, undefined, dest, ctx, copyOptions);
      },
    ).catch((err) => {
      const wrapped = wrapError(`writing the image to ${dest.text}`, err);
      vertex?.end(wrapped);
      throw wrapped;
    });
    vertex?.end();
    written.push({ destination: dest.text, result });
  }
  return written;
}

/** ARG words: `NAME`, `NAME=value`, `NAME="quoted value"`. */
function splitArgWords(text: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*|\S+?)(?:=((?:"(?:[^"\\]|\\.)*"|'[^']*'|\S)*))?(?:\s+|$)/gy;
  for (let m = re.exec(text.trim()); m && m[0] !== ""; m = re.exec(text.trim())) {
    out.push(m[2] === undefined ? m[1]! : `${m[1]}=${m[2]}`);
  }
  return out;
}

/** A step's history entry as its options give it (`createdBy` set). */
function historyOf(o: StepCacheOptions): { created_by: string; comment?: string } {
  return { created_by: o.createdBy!, ...(o.comment ? { comment: o.comment } : {}) };
}
