/**
 * berth's library API (README: "Using berth as a library"). What the CLI does, as functions on plain strings
 * and options, with the CLI's defaults, errors and `--json` results: `build` (buildpacks), `buildDockerfile`,
 * `rebase`, `run`, and `images` (crane-style pull, push, copy, digest, config, manifest, tags, append,
 * mutate). Below them, the same pieces the CLI is made of: images are read through a `BlobSource` and written
 * through an `ImageSink`; transports turn skopeo-style image arguments into both. The registry client's
 * internals are not exported: registries are reached through image arguments (`docker://`).
 */
export {
  type BuildChoice,
  type BuildOptions,
  type BuildResult,
  build,
  buildDockerfile,
  callDockerfileBuild,
  checkDockerfileBuild,
  chooseBuild,
  type DockerfileBuildOptions,
  defaultBuilder,
} from "./api/build.ts";
export { berthHome, fromEnvironment, type HostOptions, type Logger } from "./api/host.ts";
export type { PackPullPolicy, PullPolicy } from "./api/pull.ts";
export {
  type RebaseManyEntry,
  type RebaseManyOptions,
  type RebaseManyResult,
  type RebaseOptions,
  type RebaseResult,
  rebase,
  rebaseMany,
} from "./api/rebase.ts";
export {
  createContainer,
  type RunImageOptions,
  type RunImageResult,
  type RunStdio,
  run,
  runCreated,
} from "./api/run.ts";
export { type CheckResult, checkJson, checkReport, type LintWarning } from "./dockerfile/index.ts";
export { BerthError, type ErrorCode, isBerthError } from "./errors.ts";
export * from "./image/index.ts";
export * from "./layer/index.ts";
export {
  type ArchiveImage,
  type ArchiveSource,
  type DockerArchiveImage,
  OciArchiveSink,
  openDockerArchive,
  openOciArchive,
  TarIndex,
  writeDockerArchive,
} from "./oci/archive/index.ts";
export { type AssembledLayer, type AssembleOptions, assemble } from "./oci/assemble.ts";
export { type BlobSource, type Opener, readDocument, verified } from "./oci/blob.ts";
export { decompress, detectCompression } from "./oci/compression.ts";
export {
  type ContainerConfig,
  type Healthcheck,
  type History,
  type ImageConfig,
  parseConfig,
} from "./oci/config.ts";
export { type CopyOptions, type CopyResult, copy } from "./oci/copy.ts";
export { type Descriptor, validateDescriptor } from "./oci/descriptor.ts";
export {
  chainIds,
  type Digest,
  DigestingStream,
  digestBytes,
  parseDigest,
  VerifyingStream,
  validateDigest,
  verifyBytes,
} from "./oci/digest.ts";
export { Image, ImageIndex, type Layer, loadImage, loadRoot, type Root, selectImage } from "./oci/image.ts";
export * from "./oci/layout/index.ts";
export { type Index, type Manifest, parseIndex, parseManifest } from "./oci/manifest.ts";
export * from "./oci/mediatype.ts";
export { type AddedLayer, type Mutation, mutate, setEnv } from "./oci/mutate.ts";
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformMatches,
} from "./oci/platform.ts";
export {
  DEFAULT_REGISTRY,
  familiarReference,
  formatReference,
  normalizeReference,
  parseReference,
  type Reference,
  repositoryName,
} from "./oci/reference.ts";
export type { BlobEvent, ImageSink, PutBlobOptions } from "./oci/sink.ts";
export { Store, type StoreEntry } from "./oci/store.ts";
export { type Node, walk } from "./oci/walk.ts";
export { loadArchive, openAnyArchive, saveArchive } from "./transport/archive.ts";
export type { TransportContext } from "./transport/context.ts";
export { copyImage, writeImage } from "./transport/copy.ts";
export { type OpenedSource, openSink, openSource } from "./transport/open.ts";
export { type ImageArgument, parseImageArgument } from "./transport/parse.ts";
