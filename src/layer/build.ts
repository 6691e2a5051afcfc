/** Build a reproducible layer from host files in one pass. */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
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
const AHEAD_FILES = 64;
const AHEAD_BYTES = 4 * 1024 * 1024;

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

/** Write planned entries, reading small files a little ahead so disk reads overlap with compression. */
export async function writeEntries(writer: TarWriter, entries: readonly PlannedEntry[]): Promise<void> {
  const reads = new Map<number, Promise<Buffer>>();
  let next = 0;
  let aheadBytes = 0;
  const prefetch = (from: number) => {
    if (next < from) next = from;
    while (next < entries.length && next - from < AHEAD_FILES && aheadBytes < AHEAD_BYTES) {
      const e = entries[next]!;
      if (e.hostPath !== undefined && e.header.size <= SMALL) {
        const p = readFile(e.hostPath);
        p.catch(() => {});
        reads.set(next, p);
        aheadBytes += e.header.size;
      }
      next++;
    }
  };
  for (let i = 0; i < entries.length; i++) {
    prefetch(i);
    const e = entries[i]!;
    try {
      const pending = reads.get(i);
      if (pending) {
        reads.delete(i);
        aheadBytes -= e.header.size;
        await writer.add(e.header, await pending);
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
