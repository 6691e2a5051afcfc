/** Build a reproducible layer from host files in one pass. */
import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import { wrapError } from "../errors.ts";
import {
  type LayerDescriptor,
  type LayerDestination,
  type LayerOutputOptions,
  writeLayer,
} from "./output.ts";
import {
  canStreamLayer,
  type LayerSource,
  type PlannedEntry,
  type PlanOptions,
  planLayer,
  streamLayer,
} from "./walk.ts";
import type { TarWriter } from "./writer.ts";

export interface BuildLayerOptions extends PlanOptions, LayerOutputOptions {}

export interface BuildLayerResult extends LayerDescriptor {
  /** Entries written to the tar. */
  entries: number;
}

/**
 * Build a layer from a directory (its contents become the image root) or from `{ source, dest }` pairs,
 * writing the compressed blob to `destination` and returning diffID, digest, size and media type.
 */
export async function buildLayer(
  input: string | readonly LayerSource[],
  destination: LayerDestination,
  options: BuildLayerOptions = {},
): Promise<BuildLayerResult> {
  const sources = typeof input === "string" ? [{ source: input, dest: "/" }] : input;
  const only = sources.length === 1 ? sources[0]! : undefined;
  if (only !== undefined && canStreamLayer(options)) {
    let st: Stats;
    try {
      st = await lstat(only.source);
    } catch (err) {
      throw wrapError(`reading layer source ${only.source}`, err);
    }
    if (st.isDirectory()) {
      // The common case: walk, tar and compress at once.
      const count = { entries: 0 };
      const desc = await writeLayer(destination, options, (w) =>
        writeEntries(w, walking(only.source, streamLayer(only.source, options, only.dest), count)),
      );
      return { ...desc, entries: count.entries };
    }
  }
  const entries = await planLayer(sources, options);
  const desc = await writeLayer(destination, options, (w) => writeEntries(w, entries));
  return { ...desc, entries: entries.length };
}

/**
 * Write planned entries. Files are read synchronously, straight into the writer's output chunk, a chunk at a
 * time: an asynchronous read is trips through libuv's thread pool (open, fstat, read, close), where they queue
 * behind the compressor's blocks, so for trees of many small files (node_modules) the event loop mostly
 * waited; and a stream of a large file allocated a buffer per read only to copy it into the chunk.
 */
export async function writeEntries(
  writer: TarWriter,
  entries: Iterable<PlannedEntry> | AsyncIterable<PlannedEntry>,
): Promise<void> {
  for await (const e of entries) {
    try {
      if (e.content !== undefined) {
        await writer.add(e.header, e.content);
      } else if (e.hostPath !== undefined) {
        await writer.addFile(e.header, e.hostPath);
      } else {
        await writer.add(e.header);
      }
    } catch (err) {
      throw wrapError(`adding ${e.hostPath ?? e.header.path} to the layer`, err);
    }
  }
}

/** A walk's entries, counted, its failures saying which walk failed. */
async function* walking(
  dir: string,
  entries: AsyncIterable<PlannedEntry>,
  count: { entries: number },
): AsyncGenerator<PlannedEntry> {
  try {
    for await (const e of entries) {
      count.entries++;
      yield e;
    }
  } catch (err) {
    throw wrapError(`walking ${dir}`, err);
  }
}
