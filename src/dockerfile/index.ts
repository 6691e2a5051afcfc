/** The Dockerfile frontend: parse, expand, plan stages and build images with no daemon. */

export {
  type Annotation,
  annotationsFor,
  checkAnnotations,
  parseAnnotationFlag,
} from "./annotation-spec.ts";
export { builtinArgs } from "./args.ts";
export { DockerfileBuild } from "./build.ts";
export { cacheKey, StepCache, type StepRecord } from "./cache.ts";
export { type CacheFrom, type CacheTo, parseCacheFrom, parseCacheTo } from "./cache-spec.ts";
export { callSubrequest, type Subrequest, type SubrequestResult } from "./call.ts";
export { type CheckInputs, type CheckResult, checkDockerfile, checkJson, checkReport } from "./check.ts";
export { expandPairs, expandWord, expandWords, type Vars } from "./expand.ts";
export type { FilesystemExport } from "./export.ts";
export type { BuildInputs, BuildResult, StepReport } from "./inputs.ts";
export type { SecretSource } from "./instructions/mounts.ts";
export { type LintWarning, RULES, ruleUrl, shortWarning } from "./lint-rules.ts";
export { type NamedContext, parseBuildContext } from "./named-context.ts";
export { type OutputSpec, parseOutput } from "./output-spec.ts";
export {
  type Dockerfile,
  dockerfileError,
  type Heredoc,
  type Instruction,
  KEYWORDS,
  type Keyword,
  parseDockerfile,
} from "./parse.ts";
export { buildPlatforms, type PlatformsResult } from "./platforms.ts";
export type { StepEvent } from "./progress.ts";
export { type ProvenanceSpec, parseAttestations } from "./provenance-spec.ts";
export { neededStages, type Stage, type StagePlan, splitStages, targetStage } from "./stage.ts";
