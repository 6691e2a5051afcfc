/**
 * One tar pass over a layer's entries that gives, as asked: only the diffID (nothing written), the
 * uncompressed tar (for a directory cache), the gzip blob (for an image), or both at once: the layer engine's
 * `writeLayer` with its tar copy, so the tar is hashed, copied and compressed as it is written, with the
 * writer's chunks recycled.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { writeEntries } from "../../layer/build.ts";
import { writeLayer } from "../../layer/output.ts";
import type { PlannedEntry } from "../../layer/walk.ts";
import type { Digest } from "../../oci/digest.ts";

export interface Produced {
  diffId: Digest;
  uncompressedSize: number;
  tarPath?: string;
  blob?: { path: string; digest: Digest; size: number; mediaType: string };
}

export interface ProduceOptions {
  tar: boolean;
  blob: boolean;
  /** Where the files go (temp names; the caller renames or removes them). */
  dir: string;
  /** gzip level (default 6). */
  level?: number;
  signal?: AbortSignal;
}

export async function produceLayer(
  entries: Iterable<PlannedEntry> | AsyncIterable<PlannedEntry>,
  o: ProduceOptions,
): Promise<Produced> {
  const id = randomBytes(6).toString("hex");
  const tarPath = o.tar ? join(o.dir, `layer-${id}.tar`) : undefined;
  const blobPath = o.blob ? join(o.dir, `layer-${id}.tar.gz`) : undefined;
  const d = await writeLayer(
    blobPath ?? null,
    {
      compression: "gzip",
      ...(o.level ? { level: o.level } : {}),
      ...(tarPath ? { tarCopy: tarPath } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    },
    (w) => writeEntries(w, entries),
  );
  const out: Produced = { diffId: d.diffId, uncompressedSize: d.uncompressedSize };
  if (tarPath) out.tarPath = tarPath;
  if (blobPath) out.blob = { path: blobPath, digest: d.digest, size: d.size, mediaType: d.mediaType };
  return out;
}
