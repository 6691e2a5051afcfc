import type { BlobSource, Opener } from "./blob.ts";
import type { Descriptor } from "./descriptor.ts";

/** Progress of one blob during a copy or push. */
export type BlobEvent =
  | { type: "start"; descriptor: Descriptor }
  | { type: "progress"; descriptor: Descriptor; bytes: number }
  | { type: "done"; descriptor: Descriptor; how: "written" | "exists" | "mounted" };

export interface PutBlobOptions {
  /** The source the blob comes from; a sink may use it for a fast path (a registry mounts across repositories). */
  from?: BlobSource;
  /**
   * A local file holding exactly this blob, written and hashed by this process (a layer just built, or fetched
   * and verified): a sink on this machine may link it in instead of reading and hashing it again.
   */
  writtenFile?: string | undefined;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal | undefined;
}

/**
 * Where a copy writes to: an OCI layout, the local store, a registry repository. A copy writes every blob,
 * then every manifest (children before parents), then commits the root under the destination's reference.
 * Nothing is visible under that reference before `commit`, so a failed copy leaves no half-written image.
 */
export interface ImageSink {
  /** Whether the destination already holds this blob (the copy then skips it). */
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Write a blob, verifying its size and digest as it streams; returns how it got there. */
  putBlob(desc: Descriptor, open: Opener, options?: PutBlobOptions): Promise<"written" | "mounted">;
  /** Write a manifest or index with exactly these bytes. */
  putManifest(desc: Descriptor, bytes: Buffer): Promise<void>;
  /**
   * Point the destination's reference at the root, durably. `indexAlone`: the root is an index copied without
   * its images (skopeo's `--multi-arch index-only`); a sink that checks completeness checks the index alone.
   */
  commit(root: Descriptor, options?: { indexAlone?: boolean | undefined }): Promise<void>;
  /** Release resources; after a failure, remove anything of this copy's that is not referenced. */
  close(failed: boolean): Promise<void>;
}

/**
 * A sink that can tell, by reading only, that its reference already names this root and holds everything the
 * root reaches: a copy of an unchanged image (a cached rebuild) then writes nothing, no lease, lock or index.
 */
export interface CommittedSink extends ImageSink {
  holds(root: Descriptor): Promise<boolean>;
}

export function hasCommitted(sink: ImageSink): sink is CommittedSink {
  return typeof (sink as Partial<CommittedSink>).holds === "function";
}
