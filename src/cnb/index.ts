/**
 * Cloud Native Buildpacks: berth is a CNB platform and lifecycle. Layers, lowest first (ARCHITECTURE.md):
 * - `api.ts`, `toml.ts`, `gotoml.ts`, `log.ts`, `image.ts`, `executor.ts`: the base
 * - `buildpack/`: the Buildpack API (buildpack.toml, the Build Plan, env rules, loading buildpacks)
 * - `files/`: one typed reader and writer per lifecycle file (group, plan, order, metadata, layer, store, …)
 * - `platform/`: the Platform API (builders, project.toml, `--buildpack`, platform env, target data)
 * - `cache/`, `launch/`; `phase/`: detect, analyze, restore, build, export, rebase
 * - `build/` and `build.ts`: the build context and the build as the spec's steps
 */

export {
  apiAtLeast,
  BERTH_VERSION,
  buildpackApiSupported,
  compareApi,
  PLATFORM_API,
  SUPPORTED_BUILDPACK_APIS,
  SUPPORTED_PLATFORM_APIS,
} from "./api.ts";
export { type Isolation, openRun, type RunContext, type RunOptions, targetOf } from "./build/context.ts";
export {
  buildWithLifecycle,
  type LifecycleBuildOptions,
  type LifecycleBuildResult,
  layoutPathOf,
  trustedBuilders,
} from "./build/lifecycle.ts";
export {
  detectWithLifecycle,
  type LifecycleDetectOptions,
  type LifecycleDetectResult,
} from "./build/lifecycle-detect.ts";
export {
  type LifecycleRebaseOptions,
  type LifecycleRebaseResult,
  rebaseWithLifecycle,
} from "./build/lifecycle-rebase.ts";
export * as buildSteps from "./build/steps.ts";
// Part 2: analyze, restore, export, rebase, cache, launch, and `berth build` with buildpacks.
export {
  type BuildWithBuildpacksOptions,
  type BuildWithBuildpacksResult,
  buildWithBuildpacks,
} from "./build.ts";
export {
  type BuildpackDescriptor,
  type BuildpackInfo,
  bpKey,
  effectiveTargets,
  escapeId,
  isComposite,
  type ModuleRef,
  type Order,
  type OrderGroup,
  parseBuildpackToml,
  type Target,
  validateBuildpackDir,
} from "./buildpack/descriptor.ts";
export {
  BUILD_ENV_INCLUDE,
  Env,
  type EnvAction,
  LAUNCH_ROOT_DIR_VARS,
  ROOT_DIR_VARS,
  readEnvDir,
} from "./buildpack/env.ts";
export {
  extensionTargets,
  isExtension,
  loadExtension,
  parseExtensionToml,
  readExtensionDir,
} from "./buildpack/extension.ts";
export {
  BUILDPACK_LAYERS_LABEL,
  BUILDPACKAGE_METADATA_LABEL,
  bpSubject,
  type LoadedBuildpack,
  type LoadOptions,
  loadBuildpackImage,
  loadBuildpacks,
  type ModuleLayerInfo,
  type ModuleLayers,
  readBuildpackArchive,
  readBuildpackDir,
  readBuildpacksFromImage,
  scanBuildpacksDir,
} from "./buildpack/load.ts";
export {
  type BuildPlan,
  type PlanSections,
  type Provide,
  parseBuildPlan,
  type Require,
} from "./buildpack/plan.ts";
export { BuildpackStore } from "./buildpack/store.ts";
export { type Cache, DirectoryCache, ImageCache } from "./cache/cache.ts";
export { LayerIndex, statFingerprint } from "./cache/fingerprint.ts";
export {
  type CnbPaths,
  CONTAINER_PATHS,
  type ExecRequest,
  type ExecResult,
  type Executor,
  type HostExecutorOptions,
  hostExecutor,
  makeOwnedDir,
  type SandboxExecutorOptions,
  sandboxExecutor,
  toRunPath,
} from "./executor.ts";
export { type AnalyzedFile, encodeAnalyzed } from "./files/analyzed.ts";
export { type BuildToml, parseBuildToml } from "./files/build.ts";
export { encodeGroup, type Group, type GroupEntry, parseGroup } from "./files/group.ts";
export {
  type BuildMetadataLabel,
  type CacheMetadata,
  LABEL,
  type LayersMetadata,
  parseJsonLabel,
} from "./files/labels.ts";
export {
  type Label,
  type LaunchToml,
  type Process,
  parseLaunch,
  type Slice,
  validateProcessType,
} from "./files/launch.ts";
export {
  encodeLayerMetadata,
  type LayerMetadataFile,
  type LayerTypes,
  parseLayerToml,
  readLayerTomls,
} from "./files/layer.ts";
export { type BuildMetadata, encodeMetadata, parseMetadata, readMetadata } from "./files/metadata.ts";
export { encodeOrder, parseOrder } from "./files/order.ts";
export { type PackageConfig, readPackageConfig } from "./files/package.ts";
export {
  encodeBuildpackPlan,
  encodePlan,
  filterPlan,
  findPlan,
  type Plan,
  type PlanEntry,
  parsePlan,
} from "./files/plan.ts";
export { encodeReport, type Report } from "./files/report.ts";
export { encodeRun, parseRun, type RunImage } from "./files/run.ts";
export { encodeStack } from "./files/stack.ts";
export { encodeStore, readStore } from "./files/store.ts";
export {
  applyImageLayers,
  labelJson,
  labelsOf,
  type OpenedImage,
  openImage,
  type ResolvedImage,
  resolveImage,
} from "./image.ts";
export { type CnbImageInfo, cnbImageInfo, formatCnbImageInfo } from "./inspect.ts";
export { BERTH_LAUNCHER_VERSION, berthLauncher, lifecycleLauncher } from "./launch/index.ts";
export { type PhaseLogger, silentLogger, timer } from "./log.ts";
export { type Analyzed, Analyzer, chooseRunImage } from "./phase/analyze.ts";
export {
  type BuildInputs,
  type BuildResult,
  type BuiltBuildpack,
  type BuiltLayer,
  build,
  mergeLabels,
  ProcessMap,
} from "./phase/build.ts";
export { type DetectRun, type Member, type Resolution, resolveGroup } from "./phase/detect/resolve.ts";
export { type DetectFailure, type DetectInputs, type DetectResult, detect } from "./phase/detect.ts";
export {
  DEFAULT_CREATED,
  Exporter,
  type ExportInputs,
  type ExportResult,
  type ExportStats,
  LIFECYCLE_EPOCH,
} from "./phase/export.ts";
export {
  type ApplyRequest,
  checkDockerfile,
  type DockerfileEngine,
  type GeneratedDockerfile,
  type ParsedDockerfile,
} from "./phase/extend.ts";
export { type GenerateResult, generate, parseExtendConfig } from "./phase/generate.ts";
export { type RebaseInputs, type RebaseResult, Rebaser } from "./phase/rebase.ts";
export { Restorer } from "./phase/restore.ts";
export {
  BUILDER_METADATA_LABEL,
  type BuilderInfo,
  type BuilderMetadata,
  buildpackLayer,
  type CreateBuilderOptions,
  type CreateBuilderResult,
  cnbUserOf,
  createBuilder,
  type ExtractedBuilder,
  extractBuilder,
  labelRunImages,
  MIXINS_LABEL,
  type ModuleInfo,
  moduleInfo,
  NORMALIZED_MTIME,
  ORDER_EXTENSIONS_LABEL,
  ORDER_LABEL,
  openBuilder,
  readBuilderInfo,
  resolveOrder,
  STACK_ID_LABEL,
  validateOrder,
} from "./platform/builder.ts";
export {
  type BuildConfigEnv,
  type BuilderConfig,
  buildConfigEnvFiles,
  parseBuilderConfig,
  readBuilderConfig,
} from "./platform/builder-config.ts";
export {
  mergePlatformEnv,
  parseEnvArg,
  parseEnvFile,
  readEnvFile,
  writePlatformEnv,
} from "./platform/env.ts";
export {
  DEFAULT_LIFECYCLE_VERSION,
  type FetchedLifecycle,
  fetchLifecycle,
  LIFECYCLE_IMAGE_REPO,
  type LifecycleDescriptor,
  lifecycleLabel,
  lifecycleOfLabel,
  parseLifecycleToml,
} from "./platform/lifecycle.ts";
export { orderFromBuildpackArgs, parseIdLocator } from "./platform/locator.ts";
export {
  type ProjectBuildpack,
  type ProjectDescriptor,
  parseProjectToml,
  readProjectToml,
  writeInlineBuildpack,
} from "./platform/project.ts";
export {
  BUILDPACK_PHASE_ARGS,
  creatorArgs,
  FOLDERS,
  type LifecycleRunOptions,
  negotiatePlatformApi,
  RUNNER_PLATFORM_APIS,
  runLifecyclePhase,
} from "./platform/runner.ts";
export {
  parseSystemToml,
  SYSTEM_LABEL,
  type SystemBuildpacks,
  systemToml,
  withSystemBuildpacks,
} from "./platform/system.ts";
export {
  completeTarget,
  parseOsRelease,
  type TargetData,
  targetEnv,
  targetOfImage,
  targetSatisfied,
} from "./platform/target.ts";
export { Fields, parseToml, readToml, type Table, toToml } from "./toml.ts";
