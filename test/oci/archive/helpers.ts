import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import type { BlobSource } from "../../../src/oci/blob.ts";
import type { Descriptor } from "../../../src/oci/descriptor.ts";
import type { ImageSink } from "../../../src/oci/sink.ts";
import { walk } from "../../../src/oci/walk.ts";
import { run } from "../../helpers/exec.ts";

export const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

export interface TarSpec {
  name: string;
  data?: Uint8Array | string;
  type?: "file" | "symlink" | "link" | "directory";
  linkname?: string;
  mode?: number;
}

/** A tar in memory, built with tar-stream (fixtures are generated, never committed). */
async function tarBytes(entries: TarSpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = buffer(pack);
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const header = {
        name: e.name,
        type: e.type ?? "file",
        mode: e.mode ?? (e.type === "directory" ? 0o755 : 0o644),
        mtime: new Date(0),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      };
      if (header.type === "file") pack.entry(header, Buffer.from(e.data ?? ""), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  return out;
}

export async function writeTar(path: string, entries: TarSpec[]): Promise<void> {
  const bytes = await tarBytes(entries);
  await pipeline(
    (async function* () {
      yield bytes;
    })(),
    createWriteStream(path),
  );
}

/** A small hand-made image: layer tars, their gzip forms and a config naming their DiffIDs. */
export interface HandImage {
  layers: Buffer[];
  gzipped: Buffer[];
  diffIds: string[];
  config: Buffer;
  configHex: string;
}

export async function handImage(seed: string, layerCount = 2): Promise<HandImage> {
  const layers: Buffer[] = [];
  for (let i = 0; i < layerCount; i++) {
    layers.push(
      await tarBytes([
        { name: `${seed}/`, type: "directory" },
        { name: `${seed}/file${i}.txt`, data: `${seed} layer ${i}\n`.repeat(50) },
      ]),
    );
  }
  const diffIds = layers.map((l) => `sha256:${sha256(l)}`);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Env: [`SEED=${seed}`], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: layers.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
  return { layers, gzipped: layers.map((l) => gzipSync(l)), diffIds, config, configHex: sha256(config) };
}

/** Copy a root and everything under it from a source into a sink, as a copy engine does. */
export async function copyInto(source: BlobSource, root: Descriptor, sink: ImageSink): Promise<void> {
  let failed = true;
  try {
    for (const n of await walk(source, root)) {
      if (await sink.hasBlob(n.descriptor)) continue;
      if (n.kind === "blob") await sink.putBlob(n.descriptor, () => source.openBlob(n.descriptor));
      else await sink.putManifest(n.descriptor, n.bytes);
    }
    await sink.commit(root);
    failed = false;
  } finally {
    await sink.close(failed);
  }
}

export async function skopeoInspect(ref: string, config = false): Promise<Record<string, unknown>> {
  const args = ["inspect", ...(config ? ["--config"] : []), ref];
  return JSON.parse(await run("skopeo", args)) as Record<string, unknown>;
}

/** Names in a folder (to check that nothing was left behind). */
/** A folder's entries, sorted; a folder that does not exist holds nothing. */
export async function ls(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
