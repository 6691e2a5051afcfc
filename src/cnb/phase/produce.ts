/**
 * One tar pass over a layer's entries that gives, as asked: only the diffID (nothing written), the
 * uncompressed tar (for a directory cache), the gzip blob (for an image), or both at once.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { finished, pipeline } from "node:stream/promises";
import { writeEntries } from "../../layer/build.ts";
import { createCompressor, TarWriter } from "../../layer/index.ts";
import type { PlannedEntry } from "../../layer/walk.ts";
import { type Digest, DigestingStream } from "../../oci/digest.ts";
import { ociLayerType } from "../../oci/mediatype.ts";

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

export async function produceLayer(entries: readonly PlannedEntry[], o: ProduceOptions): Promise<Produced> {
  const head = new DigestingStream();
  const tasks: Promise<void>[] = [];
  const id = randomBytes(6).toString("hex");
  const tarPath = o.tar ? join(o.dir, `layer-${id}.tar`) : undefined;
  const blobPath = o.blob ? join(o.dir, `layer-${id}.tar.gz`) : undefined;
  const blobHash = new DigestingStream();
  const signal = o.signal ? { signal: o.signal } : {};
  if (tarPath) tasks.push(pipeline(head, createWriteStream(tarPath), signal));
  if (blobPath) {
    const gz = createCompressor({ compression: "gzip", ...(o.level ? { level: o.level } : {}) });
    tasks.push(pipeline(head, gz, blobHash, createWriteStream(blobPath), signal));
  }
  if (!tarPath && !blobPath) {
    head.resume();
    tasks.push(finished(head));
  }
  const done = Promise.all(tasks);
  done.catch(() => {});
  try {
    const writer = new TarWriter(head);
    await writeEntries(writer, entries);
    await writer.finish();
    head.end();
    await done;
  } catch (err) {
    head.destroy(err as Error);
    await done.catch(() => {});
    for (const p of [tarPath, blobPath]) if (p) await rm(p, { force: true });
    throw err;
  }
  const out: Produced = { diffId: head.digest, uncompressedSize: head.size };
  if (tarPath) out.tarPath = tarPath;
  if (blobPath) {
    out.blob = {
      path: blobPath,
      digest: blobHash.digest,
      size: blobHash.size,
      mediaType: ociLayerType("gzip"),
    };
  }
  return out;
}
