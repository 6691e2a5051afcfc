/** The runtime: OCI runtime bundles, snapshots, containers (runc/crun) and the sandbox builds run in. */

export { type EmulationOptions, emulationOptions, ensureEmulation, isForeign } from "./binfmt.ts";
export { type BundleOptions, type BundleResult, writeBundle } from "./bundle.ts";
export {
  Container,
  type CreateOptions,
  type RunOptions,
  type RunResult,
  type RuntimeContext,
  runContainer,
} from "./container.ts";
export {
  type ExecOptions,
  execInContainer,
  killContainer,
  removeContainer,
  signalName,
  stopContainer,
  waitEnded,
} from "./control.ts";
export type { ProcessResult, SignalForwarder, StdioOptions } from "./exec.ts";
export { parseShmSize, parseUlimits, type Rlimit } from "./limits.ts";
export { type LogEntry, LogWriter, type ReadLogOptions, readLog } from "./logs.ts";
export { overlayXattrReader, unmountAll } from "./mount.ts";
export {
  type Hook,
  type HostEntry,
  type NetworkSetup,
  type PortMapping,
  parseAddHost,
  parseNetworkMode,
  parsePublish,
  privateResolvConf,
  setupNetwork,
  stopNetwork,
} from "./network.ts";
export { type ReadOnlyRoot, readOnlyRoot } from "./root.ts";
export {
  type FindRuntimeOptions,
  findRuntime,
  type OciRuntime,
  RUNTIMES,
  type RuntimeName,
} from "./runtime.ts";
export {
  type CaptureOptions,
  captureChanges,
  chainLayers,
  chainUnion,
  dirIdentity,
  prepareSnapshots,
  runInSandbox,
  type SandboxOptions,
  type SandboxResult,
  upperXattrReader,
} from "./sandbox.ts";
export {
  type SnapshotChain,
  type SnapshotMode,
  type SnapshotOptions,
  Snapshots,
  type StreamedSnapshot,
} from "./snapshots.ts";
export {
  ALL_CAPABILITIES,
  buildSpec,
  capabilityName,
  capabilitySet,
  DEFAULT_CAPABILITIES,
  type IdRange,
  imageAnnotations,
  MASKED_PATHS,
  mergeEnv,
  type NetworkMode,
  processArgs,
  processCwd,
  processEnv,
  READONLY_PATHS,
  type RootlessIds,
  type RuntimeSpec,
  rootlessMapsUser,
  type SpecMount,
  type SpecOptions,
  toRootless,
  type Volume,
} from "./spec.ts";
export {
  type ContainerInfo,
  type ContainerRecord,
  type ContainerStatus,
  type ExitRecord,
  findContainer,
  listContainers,
  readContainer,
} from "./state.ts";
export { sweepContainers } from "./sweep.ts";
export { findInUnion, lookupUnion, type UnionLayer } from "./union.ts";
export { parseGroup, parsePasswd, type ResolvedUser, resolveInRoot, resolveUser } from "./user.ts";
export {
  assertUserNamespaces,
  inUserNamespace,
  parseSubIds,
  subordinateIds,
  userNamespaceFailure,
  userNamespaceForbidden,
} from "./userns.ts";
