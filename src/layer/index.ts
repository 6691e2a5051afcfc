/** The layer engine: build, compress, apply, diff and flatten OCI layers. */

export {
  type ApplyNote,
  type ApplyOptions,
  type ApplyStats,
  applyLayer,
  rootlessXattr,
  selfContained,
} from "./apply.ts";
export { type BuildLayerOptions, type BuildLayerResult, buildLayer } from "./build.ts";
export { type CompressOptions, createCompressor } from "./compress.ts";
export { type DiffOptions, type DiffResult, diffOverlay, diffTrees } from "./diff.ts";
export { type EntryHeader, type EntryType, OPAQUE_MARKER, WHITEOUT_PREFIX } from "./entry.ts";
export { type FlattenOptions, flattenLayers, type LayerOpener } from "./flatten.ts";
export { gzipHeader, ParallelGzip, type ParallelGzipOptions } from "./gzip.ts";
export { createMatcher, type IgnoreSyntax, type Matcher, parseIgnoreFile } from "./ignore.ts";
export {
  type LayerDescriptor,
  type LayerDestination,
  type LayerOutputOptions,
  writeLayer,
} from "./output.ts";
export { type ReadTarOptions, readTar, type TarEntry } from "./reader.ts";
export { entryComponents, RootResolver } from "./root.ts";
export {
  type LayerSource,
  type PlannedEntry,
  type PlanOptions,
  planLayer,
  typeOf,
  type XattrReader,
} from "./walk.ts";
export { encodeEntryHeader, type TarNames, TarWriter } from "./writer.ts";
