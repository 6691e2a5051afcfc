/**
 * Layer fingerprints: a cheap stat-only key (paths, types, modes, sizes, mtimes, ctimes, inodes, link
 * targets) of the host files a layer is made from, mapped to the layer's diffID; and diffIDs mapped to the
 * compressed blob a previous export wrote. Together they let export skip tarring and compressing a layer
 * whose files did not change, and give the same blob (so the same image digest) when they did not.
 *
 * Both maps live under `$BERTH_HOME/cache/cnb/` as one small file per key, written atomically, so concurrent
 * builds never corrupt them.
 */
import { createHash, type Hash } from "node:crypto";
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Descriptor } from "../../oci/descriptor.ts";
import { type Digest, encodedOf } from "../../oci/digest.ts";
import { writeFileAtomic } from "../../util/fs.ts";

export interface FingerprintSource {
  /** Host file or directory. */
  source: string;
  /** Where it goes in the image. */
  dest: string;
}

/**
 * Synchronous on purpose: a layer is often thousands of small files (node_modules: 11k), and one lstat through
 * the thread pool costs ~80 µs against ~3 µs inline, so the async walk took ~1 s where this takes well under
 * 0.1 s. It blocks the event loop only for that long.
 */
function walk(hash: Hash, path: string, rel: string): void {
  const st = lstatSync(path, { bigint: true });
  let kind = "o";
  let extra = "";
  if (st.isDirectory()) kind = "d";
  else if (st.isFile()) kind = "f";
  else if (st.isSymbolicLink()) {
    kind = "l";
    extra = readlinkSync(path);
  }
  hash.update(
    `${rel}\0${kind}\0${st.mode}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}\0${st.nlink}\0${extra}\n`,
  );
  if (kind !== "d") return;
  const names = readdirSync(path).sort();
  for (const n of names) walk(hash, join(path, n), rel === "" ? n : `${rel}/${n}`);
}

/**
 * The stat fingerprint of a layer's sources plus `salt` (everything else that shapes the tar: owner, mtime,
 * destination, slice patterns). Missing sources count as absent, not as errors.
 */
export async function statFingerprint(sources: readonly FingerprintSource[], salt: string): Promise<string> {
  const hash = createHash("sha256");
  // The version is the CNB layer tar format's: 2 since entry names are absolute as the lifecycle's (2026-12), so a
  // fingerprint recorded for a tar of the old format never gives that tar's diffID for the new one.
  hash.update(`berth-layer-fingerprint 2\0${salt}\n`);
  for (const s of sources) {
    hash.update(`@${s.dest}\n`);
    try {
      walk(hash, s.source, "");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      hash.update("missing\n");
    }
  }
  return hash.digest("hex");
}

/** The blob a diffID was last compressed to. */
export interface KnownBlob {
  digest: Digest;
  size: number;
  mediaType: string;
}

/** `$BERTH_HOME/cache/cnb/{fingerprints,blobs}`. */
export class LayerIndex {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #fpPath(fp: string): string {
    const h = createHash("sha256").update(fp).digest("hex");
    return join(this.dir, "fingerprints", h.slice(0, 2), h);
  }

  #blobPath(diffId: Digest): string {
    return join(this.dir, "blobs", `${encodedOf(diffId)}.json`);
  }

  async lookup(fp: string): Promise<Digest | undefined> {
    try {
      const text = (await readFile(this.#fpPath(fp), "utf8")).trim();
      return /^sha256:[0-9a-f]{64}$/.test(text) ? text : undefined;
    } catch {
      return undefined;
    }
  }

  async remember(fp: string, diffId: Digest): Promise<void> {
    await writeFileAtomic(this.#fpPath(fp), `${diffId}\n`);
  }

  async blob(diffId: Digest): Promise<KnownBlob | undefined> {
    try {
      const v = JSON.parse(await readFile(this.#blobPath(diffId), "utf8")) as KnownBlob;
      if (typeof v.digest !== "string" || typeof v.size !== "number" || typeof v.mediaType !== "string") {
        return undefined;
      }
      return v;
    } catch {
      return undefined;
    }
  }

  async rememberBlob(diffId: Digest, d: Pick<Descriptor, "digest" | "size" | "mediaType">): Promise<void> {
    await writeFileAtomic(
      this.#blobPath(diffId),
      JSON.stringify({ digest: d.digest, size: d.size, mediaType: d.mediaType }),
    );
  }
}
