import type { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { BerthError } from "../errors.ts";
import { chain } from "../util/stream.ts";
import type { Descriptor } from "./descriptor.ts";
import { VerifyingStream, verifyBytes } from "./digest.ts";

/** Opens a stream of bytes; called once per read, since a Node stream can be read only once. */
export type Opener = () => Promise<Readable>;

/**
 * Where blobs come from: a layout, an archive, a registry. Every implementation returns streams that are
 * verified against the descriptor (size and digest, failing at end of stream).
 */
export interface BlobSource {
  openBlob(desc: Descriptor): Promise<Readable>;
  /** A whole small blob, verified; where a source has a quicker way than a stream (a file it can read at once). */
  readBlob?(desc: Descriptor): Promise<Buffer>;
  /**
   * For a source that serves blobs from several places (an image put together from a run image, a previous
   * image and new files): the source this blob really comes from, so that a registry sink can mount it.
   */
  originOf?(desc: Descriptor): BlobSource | undefined;
}

/** Manifests and configs above this size are refused rather than buffered. */
export const MAX_DOCUMENT_SIZE = 8 * 1024 * 1024;

/** Read a small blob (manifest, config) whole, verified. */
export async function readDocument(source: BlobSource, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > MAX_DOCUMENT_SIZE) {
    throw new BerthError(
      "MANIFEST_INVALID",
      `${what} ${desc.digest} is ${desc.size} bytes, more than the ${MAX_DOCUMENT_SIZE} allowed`,
    );
  }
  if (typeof desc.data === "string") {
    const bytes = Buffer.from(desc.data, "base64");
    verifyBytes(bytes, desc.digest, desc.size, what);
    return bytes;
  }
  return source.readBlob ? source.readBlob(desc) : buffer(await source.openBlob(desc));
}

/** Whether a stream is already a verifier of exactly this descriptor's digest and size (from `openBlob`). */
function isVerifying(stream: Readable, desc: Pick<Descriptor, "digest" | "size">): boolean {
  return (
    stream instanceof VerifyingStream && stream.expected === desc.digest && stream.expectedSize === desc.size
  );
}

/**
 * Wrap a raw stream so that it fails unless it carries exactly the described content. A stream that already
 * verifies this digest and size (what every `BlobSource.openBlob` returns) is returned as it is: hashing the
 * same bytes twice would only cost time.
 */
export function verified(stream: Readable, desc: Descriptor, what: string): Readable {
  if (isVerifying(stream, desc)) return stream;
  return chain(stream, new VerifyingStream(desc.digest, desc.size, what));
}

/** Where a blob's bytes lie in a local file. */
export interface FileRange {
  path: string;
  start: number;
  size: number;
}

/**
 * A source whose blobs are byte ranges of local files (a layout, an archive): a sink on this machine may then
 * copy them through two fixed buffers instead of a stream, which keeps memory flat on large copies.
 */
export interface RangedBlobSource extends BlobSource {
  blobRange(desc: Descriptor): Promise<FileRange | undefined>;
}

export function hasBlobRange(source: unknown): source is RangedBlobSource {
  return typeof (source as RangedBlobSource | undefined)?.blobRange === "function";
}

/**
 * A source that fetches its blobs from a registry over HTTP; `loopback`: the registry is on this machine's
 * loopback, where it answers at memory speed (a copy sizes its parallelism by that).
 */
export interface RemoteBlobSource extends BlobSource {
  readonly loopback: boolean;
}

export function isRemote(source: unknown): source is RemoteBlobSource {
  return typeof (source as RemoteBlobSource | undefined)?.loopback === "boolean";
}

/**
 * A source holding some blobs as whole local files that this process wrote and hashed while writing them (a
 * layer just built): a sink on this machine may link such a file in instead of reading and hashing it again.
 */
export interface WrittenBlobSource extends BlobSource {
  /** The file holding exactly this blob, if it is one this process wrote; undefined otherwise. */
  writtenFile(desc: Descriptor): string | undefined;
}

export function hasWrittenFiles(source: unknown): source is WrittenBlobSource {
  return typeof (source as WrittenBlobSource | undefined)?.writtenFile === "function";
}
