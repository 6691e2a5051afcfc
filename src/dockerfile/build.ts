import { join, posix } from "node:path";
import { BerthError, isBerthError, wrapError } from "../errors.ts";
import type { Matcher } from "../layer/ignore.ts";
import { assembleIndex } from "../oci/assemble.ts";
import type { ContainerConfig } from "../oci/config.ts";
import type { Image } from "../oci/image.ts";
import type { Compression } from "../oci/mediatype.ts";
import { mutate } from "../oci/mutate.ts";
import { formatPlatform, hostPlatform, type Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { ownedTempDir, removeTree } from "../util/fs.ts";
import { formatDuration } from "../util/progress.ts";
import { type AnnotationSet, annotationsFor } from "./annotation-spec.ts";
import { BuildArgs } from "./args.ts";
import { BaseImages } from "./bases.ts";
import { BuildContexts, emptyBase, fromContextFiles } from "./build-context.ts";
import { cacheKey, StepCache, type StepRecord } from "./cache.ts";
import type { ExportStep } from "./cache-format.ts";
import { type CacheSteps, exportCaches, ImportedCaches, withInlineCache } from "./cache-io.ts";
import { ContextIndex } from "./context-index.ts";
import { withAnnotations, withLabels, withPlatform, writeDestinations } from "./destinations.ts";
import { EarlySteps } from "./early.ts";
import { expandWord, type Vars } from "./expand.ts";
import { execDescription, exporterHistory, type VertexPosition, vertexName, vertexStart } from "./history.ts";
import type { BuildInputs, BuildResult, StepReport } from "./inputs.ts";
import { applyConfigInstruction } from "./instructions/config.ts";
import { copyInstruction } from "./instructions/copy.ts";
import { commandArgv, runInstruction } from "./instructions/run.ts";
import { workdirInstruction } from "./instructions/workdir.ts";
import { checkConfig, lintDockerfile } from "./lint.ts";
import { type CheckConfig, type LintWarning, RULES, ruleUrl, shortWarning } from "./lint-rules.ts";
import type { NamedContext } from "./named-context.ts";
import { type Instruction, parseTrigger } from "./parse.ts";
import { Prewriter } from "./prewrite.ts";
import { asWork, filesystemExportName, StepProgress } from "./progress.ts";
import type { ProvenanceFacts } from "./provenance.ts";
import { loadIgnore, type ReadDockerfile, readDockerfile } from "./read.ts";
import { removeStageRoots, StageRoot } from "./rootfs.ts";
import {
  baseStages,
  defaultStageJobs,
  keptStages,
  LinePrefixer,
  ReadOrder,
  StageRuns,
  unexportedStages,
} from "./schedule.ts";
import { ContextSources } from "./sources.ts";
import {
  findBaseStage,
  findStage,
  neededStages,
  noCacheStages,
  type Stage,
  type StagePlan,
  splitStages,
  targetStage,
} from "./stage.ts";
import { LayerEntries, StageIndex } from "./stage-index.ts";
import { layerSources } from "./stage-sources.ts";
import type {
  FetchedSource,
  MountedSecret,
  SourceRoot,
  StepCacheOptions,
  StepContext,
  StepOutput,
} from "./step.ts";
import { historyOf, StepRecords } from "./step-records.ts";
import { earlySnapshotted, snapshotted, Warmings } from "./warm.ts";

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
  /** BuildKit's place of its steps (history.ts): the last step's number and the count, the stage's name there. */
  vertex: VertexPosition;
  /** The description BuildKit's ref of its top layer has (`exporterHistory`); none for an image's layers. */
  top?: (() => string) | undefined;
  /** The history index of the entry berth wrote for a files context's layer (FROM NAME), where the layer is. */
  contextEntry?: number | undefined;
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

const short = (d: string) => d.slice(d.indexOf(":") + 1, d.indexOf(":") + 13);

export class DockerfileBuild {
  readonly inputs: BuildInputs;
  #df!: ReadDockerfile;
  #args!: BuildArgs;
  #cache: StepCache;
  #tmp = "";
  #temps = 0;
  #states = new Map<number, StageState>();
  #steps: StepReport[] = [];
  #matcher: Matcher | undefined;
  #ctx: TransportContext;
  #platform: Platform;
  #stageCount = 0;
  /** The `--cache-from` caches, and the layers of their records (fetched when their bytes are needed). */
  #imports: ImportedCaches;
  /** The step records: looked up (local cache, then imports), produced once, their layers as images take them. */
  #records: StepRecords;
  /** Every step this build used, for a mode=max cache export. */
  #used: ExportStep[] = [];
  /** The stages the target needs (a stage the key pass left out is scheduled when a step misses after all). */
  #needed: Stage[] = [];
  #all: Stage[] = [];
  /** Each stage walked by the key pass (`#plan`), with its keys. */
  #dryStates = new Map<number, StageState>();
  /** Base images by reference and platform, opened once. */
  #bases: BaseImages;
  /** The git repositories and URLs ADD fetched (provenance). */
  #fetched = new Map<string, FetchedSource>();
  /** The secrets and SSH agents RUN steps mount (provenance): `kind id` → the mount, optional unless one requires it. */
  #mounted = new Map<string, MountedSecret>();
  #startedOn = new Date();
  /** Sources matched in the context and their digests, found once (the key pass and the build share them). */
  #contextSources!: ContextSources;
  /** Which steps waiting for a stage's files take them first (schedule.ts). */
  #readOrder = new ReadOrder();
  /** Aborted by the caller's signal or by the first stage that fails: the other stages stop. */
  #abort = new AbortController();
  /** Each scheduled stage's build, resolved with its final state, at most `stageJobs` at once (schedule.ts). */
  #runs = new StageRuns<StageState>(1, this.#abort);
  /** The inputs steps see: the caller's, with the build's own signal. */
  #stepInputs!: BuildInputs;
  /** Whether stages may run at the same time (RUN output is then prefixed line by line). */
  #concurrent = false;
  /** The stages `--no-cache-filter` names, by index. */
  #uncachedStages = new Set<number>();
  /** The `--build-context`s: the stages they replace, the contexts steps read (build-context.ts). */
  #contexts: BuildContexts;
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
  /** The fetches `#prefetch` started: a local destination waits for them, so that it links their files. */
  #prefetching: Promise<unknown>[] = [];
  /** Base images whose snapshots are made in the background (warm.ts). */
  #warmings: Warmings;
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
    this.#imports = new ImportedCaches(this.#cache);
    this.#records = new StepRecords(this.#cache, this.#imports, this.#shared, () => this.#created);
    this.#bases = new BaseImages(ctx, inputs.pull === true);
    this.#contexts = new BuildContexts(inputs.contexts, this.#cache.root, ctx.env);
    this.#warmings = new Warmings({
      home: ctx.home,
      runtime: inputs.runtime,
      searchPath: inputs.searchPath,
      signal: this.#abort.signal,
      log: (line) => this.#log(line),
      entries: this.#shared.layerEntries,
      imported: () => this.#imports.any,
    });
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

  /**
   * The Dockerfile read and split into stages, the target found and the build checks' options read: BuildKit's
   * "[internal] load build definition" vertex, which carries the checks' warnings (and the error, if it fails).
   */
  async #definition(): Promise<{
    df: ReadDockerfile;
    plan: StagePlan;
    targetIndex: number;
    checks: CheckConfig;
  }> {
    const i = this.inputs;
    const file =
      "path" in i.dockerfile ? posix.basename(i.dockerfile.path) : (i.dockerfile.name ?? "Dockerfile");
    const name = `[internal] load build definition from ${file}`;
    this.#progress.start(DEFINITION, name, name, "");
    try {
      const df = await readDockerfile(i);
      const plan = splitStages(df);
      const targetIndex = targetStage(plan, i.target, df.name).index;
      const checks = checkConfig(df, i.buildArgs);
      this.#progress.done(DEFINITION, false);
      return { df, plan, targetIndex, checks };
    } catch (err) {
      this.#progress.fail(DEFINITION, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  async build(): Promise<BuildResult> {
    const i = this.inputs;
    const { df, plan, targetIndex, checks } = await this.#definition();
    // the stages as written: a named context replacing one is the build's business, not the checks'
    const asWritten = { ...plan, stages: [...plan.stages] };
    this.#df = df;
    this.#args = new BuildArgs(df, i.buildArgs, this.#platform);
    this.#args.declareGlobal(plan.globalArgs);
    plan.stages = this.#contexts.replace(plan.stages, (from) =>
      this.#args.fromPlatform(from, this.#platform),
    );
    this.#uncachedStages = noCacheStages(plan.stages, i.noCacheStages ?? []);
    const target = plan.stages[targetIndex]!;
    this.#target = target.index;
    const stages = neededStages(plan, target, this.#args.globals, df.name);
    if (i.uncompressedStages ?? uncompressedStages(i))
      this.#unexported = unexportedStages(plan.stages, stages, target, this.#args.globals);
    this.#stageCount = stages.length;
    this.#matcher = await loadIgnore(i);
    this.#shared.contextIndex ??= ContextIndex.open(this.#cache.root, i.contextDir);
    this.#index = await this.#shared.contextIndex;
    const index = this.#index;
    this.#contextSources = new ContextSources(i.contextDir, this.#matcher, (path, st) =>
      index.digest(path, st),
    );
    this.#tmp = await ownedTempDir(await this.#cache.tmpDir(), "build-");
    const jobs = Math.max(1, Math.floor(i.stageJobs ?? defaultStageJobs()));
    this.#runs = new StageRuns(jobs, this.#abort);
    this.#concurrent = jobs > 1 && stages.length > 1;
    const onAbort = () => this.#abort.abort(i.signal?.reason);
    if (i.signal?.aborted) onAbort();
    i.signal?.addEventListener("abort", onAbort, { once: true });
    this.#stepInputs = { ...i, signal: this.#abort.signal };
    try {
      if (!i.noCache)
        await this.#imports.load(i.cacheFrom ?? [], this.#ctx, this.#platform, (l) => this.#log(l), i.onStep);
      this.#needed = stages;
      this.#all = plan.stages;
      const planned = await this.#plan(stages, target);
      const warnings = await this.#check(df, asWritten, checks);
      this.#warmings.planned(planned);
      await this.#buildStages(planned);
      const final = this.#states.get(target.index)!;
      this.#finish(final);
      await Promise.all(this.#prefetching);
      const { written, cacheSteps, provenance } = await this.#writeOutputs(final);
      return {
        digest: final.image.digest,
        configDigest: final.image.manifest.config.digest,
        image: final.image,
        target: target.name ?? String(target.index),
        stages: stages.filter((s) => this.#runs.get(s.index)).map((s) => s.index),
        // in the order a serial build reports them: stage by stage
        steps: this.#steps.sort(
          (a, b) =>
            stages.findIndex((s) => s.index === a.stage) - stages.findIndex((s) => s.index === b.stage),
        ),
        unusedBuildArgs: this.#args.unused(),
        warnings,
        written,
        cacheSteps,
        ...(provenance ? { provenance } : {}),
      };
    } finally {
      i.signal?.removeEventListener("abort", onAbort);
      // nothing the build started outlives it (a failed build aborted them)
      await Promise.all([this.#warmings.settled(), ...this.#background]);
      await this.#prewriter?.close();
      // what was read stays known, whether or not the build got through
      await this.#index.save().catch(() => undefined);
      await this.#contexts.save();
      await this.#imports.close();
      await this.#bases.close();
      // steps made early and never taken write into the temp folder: stopped before it goes
      await this.#early.close();
      // the stages' and images' roots are mounts in the temp folder: undone first, whatever happened
      const roots = [...[...this.#states.values()].map((st) => st.root), ...this.#bases.roots()];
      await removeStageRoots(roots).catch(() => undefined);
      await removeTree(this.#tmp).catch(() => undefined);
    }
  }

  /**
   * BuildKit's build checks on the stages the target needs, their base images opened by the key pass: each
   * warning logged (`WARN: Rule: sentence (Dockerfile:N)`), on the definition vertex and handed to `onWarning`;
   * with `error=true` (`# check=`, BUILDKIT_DOCKERFILE_CHECK) a warning fails the build before any step runs.
   * A platform after the first checks nothing, as BuildKit warns for the first only.
   */
  async #check(df: ReadDockerfile, plan: StagePlan, config: CheckConfig): Promise<LintWarning[]> {
    const i = this.inputs;
    if (i.noChecks) return [];
    const r = await lintDockerfile({
      df,
      plan,
      buildArgs: i.buildArgs ?? {},
      target: i.target,
      all: false,
      platform: this.#platform,
      buildPlatform: hostPlatform(),
      config,
      ignore: this.#matcher,
      image: (ref, p) => this.#baseConfig(ref, p),
    });
    for (const w of r.warnings) {
      this.#log(`WARN: ${w.rule}: ${w.detail} (${df.name}:${w.line})`);
      this.#progress.warn(DEFINITION, shortWarning(w), {
        detail: [RULES[w.rule]],
        url: ruleUrl(w.rule),
        lines: { start: w.line, end: w.endLine },
      });
      i.onWarning?.(w);
    }
    // a blank base is the build's own error, which it gives where it reads the FROM
    if (r.error?.startsWith("lint violation")) {
      throw new BerthError("DOCKERFILE_CHECK", `${df.name}: ${r.error}`, {
        hint: "fix what the warnings say, or leave the rules out with # check=skip=RULE,… (error=true asks for this)",
      });
    }
    return r.warnings;
  }

  /**
   * The config of the image a FROM names, for the checks: a `--build-context` image in its place, none for a
   * files context; opened once with the build's bases (the key pass opened them); one that cannot be opened
   * is the build's error to give.
   */
  async #baseConfig(ref: string, platform: Platform): Promise<ContainerConfig | undefined> {
    return this.#bases.config(ref, platform, this.#contexts.find(ref, platform)).catch(() => undefined);
  }

  /**
   * The built image (with --provenance, its index) to its destinations, the target's files to `-o`'s exports,
   * the steps to `--cache-to`.
   */
  async #writeOutputs(final: StageState): Promise<{
    written: BuildResult["written"];
    cacheSteps: CacheSteps;
    provenance: BuildResult["provenance"];
  }> {
    const i = this.inputs;
    const provenance = await this.#provenance(final.image, final.chain);
    // with --provenance, an index with the attestation; the image alone to a docker-archive and to --load's store
    const notes = this.#annotations();
    const written = await writeDestinations(provenance?.index ?? final.image, i.destinations, this.#ctx, {
      prewritten: this.#prewriter,
      onStep: this.#onePlatform ? undefined : i.onStep,
      plain: { image: final.image, takes: (d) => d.transport === "store" && Boolean(i.load) },
      descriptors: { image: notes.manifestDescriptor, index: notes.indexDescriptor },
    });
    // loaded only by a build that exports (a module fewer on every other build's start)
    if (i.exports?.length) {
      const exports = i.exports;
      const attestations =
        i.provenance && provenance
          ? (await import("./provenance.ts")).exportAttestations(
              i.provenance,
              provenance.facts,
              i.sourceDateEpoch,
            )
          : undefined;
      const images = [{ image: final.image, platform: this.#platform, attestations }];
      await asWork(i.onStep, filesystemExportName(exports), async () =>
        (await import("./export.ts")).exportFilesystems(images, exports, this.#tmp),
      );
    }
    const cacheSteps = { max: this.#used, min: final.chain };
    const { cacheTo = [], log, onStep } = i;
    const lazy = this.#imports.lazy;
    await exportCaches(cacheTo, cacheSteps, this.#cache, this.#ctx, this.#tmp, log, lazy, onStep);
    return { written, cacheSteps, provenance };
  }

  /**
   * The target stage's image as the build writes it: the history BuildKit's exporter writes, an explicit
   * --platform, the --labels, the inline cache.
   */
  #finish(final: StageState): void {
    const i = this.inputs;
    if (final.contextEntry !== undefined && final.top) {
      const history = exporterHistory(final.image.config?.history ?? [], final.contextEntry, final.top());
      final.image = mutate(final.image, { fields: { history } }, final.platform);
    }
    if (i.platform) final.image = withPlatform(final.image, i.platform);
    if (i.labels && Object.keys(i.labels).length) final.image = withLabels(final.image, i.labels);
    if (i.cacheTo?.some((c) => c.type === "inline")) {
      const inline = withInlineCache(final.image, final.chain, final.platform);
      final.image = inline.image;
      this.#log(`--> inline cache: ${inline.steps} steps in the image config`);
    }
    if (i.annotations?.length) final.image = withAnnotations(final.image, this.#annotations().manifest);
  }

  /**
   * `--annotation`s as BuildKit's exporter groups them: for this platform's image in an index (a platform of
   * several, or with the provenance attestation), else for the image alone (where one of a platform applies to
   * none).
   */
  #annotations(): AnnotationSet {
    const i = this.inputs;
    const indexed = i.annotationsPlatform ?? (this.#attaches() ? this.#platform : undefined);
    return annotationsFor(i.annotations ?? [], indexed);
  }

  /** Whether an index of the image and its provenance attestation goes to a destination. */
  #attaches(): boolean {
    const i = this.inputs;
    // no destination holds the index: a docker-archive, or the store under --load, takes the image alone
    const plainOnly = i.destinations.every(
      (d) => d.transport === "docker-archive" || (i.load && d.transport === "store"),
    );
    return Boolean(i.provenance) && i.provenance?.attach !== false && !plainOnly;
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
    await this.#runs.settled();
  }

  /** Start building a stage once its base stage is built; number `no` in the `[stage N/M]` lines. */
  #schedule(stage: Stage): Promise<StageState> {
    const no = this.#runs.size + 1;
    if (no > this.#stageCount) this.#stageCount = no;
    // the first failure is its step's error; a stage stopped by it (or by the caller) was canceled
    const failed = (err: unknown, first: boolean) =>
      this.#progress.fail(
        stage.index,
        first && !this.inputs.signal?.aborted
          ? err instanceof Error
            ? err.message
            : String(err)
          : undefined,
      );
    return this.#runs.start(
      stage.index,
      async () => {
        const base = baseStages(this.#all, [stage], this.#args.globals).get(stage.index);
        if (base !== undefined) await this.#stageResult(base, false);
        try {
          await this.#runs.inSlot(async () => {
            const started = Date.now();
            await this.#buildStage(stage, this.#all, no);
            this.#slog(no, `done in ${formatDuration(Date.now() - started)}`);
          });
        } finally {
          const s = this.#states.get(stage.index);
          if (s) this.#releaseLeads(s);
        }
        return this.#states.get(stage.index)!;
      },
      failed,
    );
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
      // their FROMs started (`Warmings.atFrom`) are kept
      this.#warmings.keepAtFrom();
      return stages;
    }
    const needs = (index: number) => this.#dryStates.get(index)?.needs ?? [];
    return keptStages(this.#all, stages, target, this.#args.globals, needs);
  }

  /**
   * A stage another one reads (FROM, --from): waited for without holding a slot, so that the stages it waits
   * for (which may still wait for a slot themselves) can run.
   */
  async #stageResult(index: number, holdsSlot = true): Promise<StageState> {
    let p = this.#runs.get(index);
    if (!p) {
      // left out by the key pass, but a step reading it missed the caches after all
      const stage = this.#needed.find((s) => s.index === index);
      if (!stage) throw new BerthError("INTERNAL", `stage ${index} is not needed by the target`);
      p = this.#schedule(stage);
    }
    if (this.#runs.finished(index) || !holdsSlot) return p;
    return await this.#runs.withoutSlot(p);
  }

  /** The stage's reads that lead to a RUN are through (its RUN's process started, or it is done). */
  #releaseLeads(s: StageState): void {
    for (const release of s.leads.splice(0)) release();
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

  /** With `--provenance`: the build's facts, and (unless a platform of several) the index with the attestation. */
  async #provenance(image: Image, chain: readonly ExportStep[]): Promise<BuildResult["provenance"]> {
    const i = this.inputs;
    if (!i.provenance) return undefined;
    // loaded only by a build that attaches provenance
    const { attestationManifest, frontendArgs, invocationId, provenanceStatement, stepLayers, subjectNames } =
      await import("./provenance.ts");
    const facts: ProvenanceFacts = {
      materials: this.#bases.materials(),
      fetched: [...this.#fetched.values()],
      args: frontendArgs(i),
      mounted: [...this.#mounted.values()],
      filename: this.#df.name,
      dockerfile: Buffer.from(this.#df.text),
      invocationId: invocationId(),
      startedOn: this.#startedOn,
      finishedOn: new Date(),
      builderPlatform: hostPlatform(),
      layers: stepLayers(chain, image.manifest.layers),
    };
    if (!this.#attaches()) return { facts };
    const subject = { names: subjectNames(i.destinations), digest: image.digest, platform: this.#platform };
    const statement = provenanceStatement(i.provenance, facts, subject);
    const notes = this.#annotations();
    const entry = { image, annotations: notes.manifestDescriptor };
    const index = assembleIndex([entry, attestationManifest(image, statement)], notes.index);
    return { facts, index };
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
    const baseText = this.#args.baseName(from, stage.baseText);
    const platform = this.#args.fromPlatform(from, this.#platform);
    const context = this.#contexts.find(baseText, platform);
    const named = context?.kind === "image" ? context : undefined;
    const { image, key, defKey, chain, base, args, dep } = await this.#stageBase(
      stage,
      all,
      dry,
      baseText,
      platform,
      context,
    );
    const triggers = image.config?.config?.OnBuild ?? [];
    const state: StageState = {
      stage,
      vertex: vertexStart(stage, this.#all.length, triggers.length, {
        stage: dep !== undefined,
        scratch: baseText === "scratch",
        image: !dep && !context && baseText !== "scratch" && image.manifest.layers.length > 0,
      }),
      top: dep?.top,
      contextEntry: dep?.contextEntry,
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
    if (context && !named) {
      const step = (ins: Instruction, where: string) =>
        this.#stepContext(state, ins, all, this.#vars(state), where);
      await fromContextFiles(from, stage.baseText, context.name, df.name, step, dry).finally(() =>
        state.flush?.(),
      );
      state.contextEntry = (state.image.config?.history?.length ?? 0) - 1;
      state.top = () => `local source for ${context.name}`;
    }
    // ONBUILD triggers of the base run first.
    // Also when FROM names an earlier stage, as BuildKit.
    if (triggers.length) state.clearOnBuild = true;
    state.vertex.onbuild = true;
    for (const t of triggers) {
      const ins = parseTrigger(t, df.name, from.line);
      this.#begin(no, stage.index, t, `ONBUILD ${t}`, state.defKey);
      await this.#step(state, ins, all);
    }
    state.vertex.onbuild = false;
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
    context: NamedContext | undefined,
  ): Promise<{
    image: Image;
    key: string;
    defKey: string | undefined;
    chain: ExportStep[];
    base: Image | undefined;
    args: Map<string, string | undefined>;
    dep: StageState | undefined;
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
    const found = context ? undefined : findBaseStage(all, baseText, stage.index);
    let dep: StageState | undefined;
    if (found) {
      const st = dry ? this.#dryStates.get(found.index)! : await this.#stageResult(found.index);
      dep = st;
      args = new Map(st.args);
      base = st.base;
      image = st.image;
      key = st.key;
      defKey = st.defKey;
      chain = [...st.chain];
    } else if (baseText === "scratch" || (context && !named)) {
      const replaced = this.#contexts.replaced(stage.index);
      ({ image, key } = emptyBase(platform, context ? (replaced ? "replaced" : "files") : "none"));
    } else {
      try {
        image = await this.#bases.open(named?.image ?? baseText, platform);
      } catch (err) {
        throw wrapError(
          `${df.name}:${from.line}: FROM ${baseText}${named ? ` (--build-context ${named.text})` : ""}`,
          err,
        );
      }
      base = image;
      key = cacheKey("from", image.digest);
      if (dry) this.#warmings.atFrom(stage, image);
    }
    return { image, key, defKey, chain, base, args, dep };
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
        const declared = this.#args.declare(ins, vars, this.#args.globals);
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
      case "COPY":
      case "ADD":
      case "RUN": {
        const layers = s.image.manifest.layers.length;
        const shell = s.image.config?.config?.Shell;
        const run = {
          WORKDIR: workdirInstruction,
          COPY: copyInstruction,
          ADD: copyInstruction,
          RUN: runInstruction,
        };
        await run[ins.keyword](this.#stepContext(s, ins, all, vars, where));
        if (!s.dry && (ins.keyword !== "WORKDIR" || s.image.manifest.layers.length > layers))
          this.#described(s, ins, vars, shell);
        return;
      }
      case "FROM":
        throw new BerthError("INTERNAL", "FROM inside a stage");
    }
  }

  /**
   * A step dockerfile2llb names a vertex for is through: it is the stage's next, and its layer the top one, whose
   * description BuildKit's exporter may need (`exporterHistory`): a RUN's exec's, a file op's its vertex's name
   * (the instruction's text expanded with the variables in scope before it, `shell`: the SHELL then).
   */
  #described(s: StageState, ins: Instruction, vars: Vars, shell: string[] | undefined): void {
    const at = { ...s.vertex, index: s.vertex.index + 1 };
    s.vertex.index++;
    s.top =
      ins.keyword === "RUN"
        ? () => execDescription(commandArgv(ins, shell).argv)
        : () => vertexName(expandWord(ins.text, vars, this.#df.escape).value, at);
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
      warmed: this.#warmings.of(s.base),
      snapshotting:
        s.dry || !(runFollows(s.stage, ins) || this.#readByOthers(s.stage.index))
          ? undefined
          : (write) => snapshotted(this.#ctx.home, s.image, write, (w) => this.#background.push(w)),
      earlySnapshotting:
        s.dry && runFollows(s.stage, ins)
          ? (write) => earlySnapshotted(this.#ctx.home, s.image, write)
          : undefined,
      compression: s.compression,
      sourceRoot: (ref) => this.#sourceRoot(s, ins, ref, all, where),
      contextSources: (patterns, o) => this.#contextSources.select(patterns, o),
      contextDigest: (sources) => this.#contextSources.digest(sources),
      contextContent: (path, st) => this.#index.content(path, st),
      dry: s.dry,
      // the target: no stage reads it, so its definition key is wanted by nothing
      keyless: s.dry && s.missed && s.stage.index === this.#target,
      fetched: (f) => this.#fetched.set(`${f.kind} ${f.url}`, f),
      mounted: (m) => {
        const key = `${m.kind} ${m.id}`;
        const seen = this.#mounted.get(key);
        this.#mounted.set(key, { ...m, optional: m.optional && (seen?.optional ?? true) });
      },
      takeEarly: () => this.#early.take(ins),
      waiting: (ended) => {
        this.#releaseLeads(s);
        this.#early.processStarted(ended);
      },
      later: (work) => this.#background.push(work),
      cached: (parts, produce, o) => this.#cached(s, ins, parts, o?.config ?? this.#config(s), produce, o),
    };
  }

  /**
   * Whether another stage reads stage `index`'s files (a step the caches lack reads it, as the key pass found,
   * or a stage is built FROM it): its layers will be needed as snapshots.
   */
  #readByOthers(index: number): boolean {
    if ([...this.#dryStates.values()].some((st) => st.needs.has(index))) return true;
    return [...baseStages(this.#all, this.#needed, this.#args.globals).values()].includes(index);
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
    // SOURCE_DATE_EPOCH is every new file's mtime and every created time: a step made with another epoch (or
    // none) does not stand for this one, so that a build with it gives what a fresh machine gives.
    const apart = [
      ...(s.compression === this.#compression ? [] : [{ layers: s.compression }]),
      ...(this.inputs.sourceDateEpoch === undefined ? [] : [{ epoch: this.inputs.sourceDateEpoch }]),
    ];
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
      if (!hit && ins.keyword === "RUN") this.#warmings.warm(s.base, s.stage.index);
      if (!hit) for (const n of s.reads) this.#warmings.warm(this.#dryStates.get(n)?.base, s.stage.index);
      // A path question will be asked of the stage's layers: their entries are read while the key pass goes on
      // (not with a cache import, which may leave the stage unbuilt and its base's layers unfetched).
      if (!hit && ASKS_PATHS.has(ins.keyword) && !this.#imports.any)
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
      if (rec) await this.#records.put(lookup, { ...rec, via });
    }
    let stored = rec;
    if (rec && o.linked) rec = { ...rec, config: this.#config(s) };
    if (rec && o.createdBy !== undefined) rec = { ...rec, history: { ...rec.history, ...historyOf(o) } };
    const cached = rec !== undefined;
    if (rec) {
      if (rec.layer) this.#prefetch(s, rec.layer.digest);
      this.#slog(s.no, `--> Using cache ${short(keyOf(via ?? lookup))}`);
    } else {
      rec = await this.#records.produceOnce(via ?? lookup, o, () => this.#produceStep(s, ins, produce));
      if (via) await this.#records.put(lookup, { ...rec, via });
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
    s.image = mutate(
      s.image,
      {
        layers: this.#records.layers(r),
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
    this.#prewriter?.add(s.image, (digest) => this.#imports.lazy.has(digest));
  }

  /** A step's record from the local cache, or (not in the key pass) fetched from an imported one. */
  async #find(s: StageState, lookup: string, fetch: boolean): Promise<StepRecord | undefined> {
    if (this.inputs.noCache || this.#uncachedStages.has(s.stage.index)) return undefined;
    return this.#records.find(lookup, fetch);
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
    const fetching = this.#imports.lazy.get(digest)?.local();
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

  async #sourceRoot(
    s: StageState,
    ins: Instruction,
    ref: string,
    all: Stage[],
    where: string,
  ): Promise<SourceRoot> {
    // a --from is read for the build's platform (BuildKit's: the target platform, not the stage's)
    const named = this.#contexts.find(ref, this.#platform);
    if (named && named.kind !== "image")
      return this.#contexts.source(named, (n) => join(this.#tmp, `context-${n}`), this.#abort.signal);
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
        if (!this.#runs.finished(dep.index)) this.#early.want(s.stage, ins);
        if (!feedsExport) s.leads.push(this.#readOrder.lead(dep.index));
        const b = await result!();
        const holds = feedsExport ? this.#readOrder.yieldTo(dep.index) : undefined;
        if (holds) await this.#runs.withoutSlot(holds);
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
      image = await this.#bases.open(named?.image ?? ref, s.platform);
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
    return this.#bases.source(image, ref, (d) => join(this.#tmp, `image-${short(d)}`));
  }
}
