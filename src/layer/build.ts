/** Build a reproducible layer from host files in one pass. */
import { createReadStream, readFileSync } from "node:fs";
import { wrapError } from "../errors.ts";
import {
  type LayerDescriptor,
  type LayerDestination,
  type LayerOutputOptions,
  writeLayer,
} from "./output.ts";
import { type LayerSource, type PlannedEntry, type PlanOptions, planLayer } from "./walk.ts";
import type { TarWriter } from "./writer.ts";

export interface BuildLayerOptions extends PlanOptions, LayerOutputOptions {}

export interface BuildLayerResult extends LayerDescriptor {
  /** Entries written to the tar. */
  entries: number;
}

const SMALL = 1024 * 1024;

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
  const entries = await planLayer(sources, options);
  const desc = await writeLayer(destination, options, (w) => writeEntries(w, entries));
  return { ...desc, entries: entries.length };
}

/**
 * Write planned entries. Small files are read synchronously: an asynchronous read is four trips through
 * libuv's thread pool (open, fstat, read, close), where they queue behind the compressor's blocks, so for
 * trees of many small files (node_modules) the event loop mostly waited; a synchronous read of a small file
 * takes microseconds and leaves the pool to the compressor.
 */
export async function writeEntries(writer: TarWriter, entries: readonly PlannedEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    try {
      if (e.hostPath !== undefined && e.header.size <= SMALL) {
        await writer.add(e.header, readFileSync(e.hostPath));
      } else if (e.hostPath !== undefined) {
        await writer.add(e.header, createReadStream(e.hostPath, { highWaterMark: SMALL }));
      } else {
        await writer.add(e.header);
      }
    } catch (err) {
      throw wrapError(`adding ${e.hostPath ?? e.header.path} to the layer`, err);
    }
  }
}
