export { type FsckProblem, type FsckResult, fsck } from "./fsck.ts";
export { type GcResult, gc } from "./gc.ts";
export { emptyIndex, type IndexSnapshot, OciLayout, REF_NAME, reachable, validateRefName } from "./layout.ts";
export { withLock } from "./lock.ts";
export { LayoutSink } from "./sink.ts";
