import { type Digest, parseDigest } from "../digest.ts";

/** The path of a blob inside an OCI image layout: `blobs/sha256/<hex>`. */
export function blobPath(digest: Digest): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `blobs/${algorithm}/${encoded}`;
}

/** The digest a layout blob path names (`blobs/sha256/<hex>` → `sha256:<hex>`), or undefined. */
export function digestOfBlobPath(path: string): Digest | undefined {
  const m = /^blobs\/([a-z0-9+._-]+)\/([a-zA-Z0-9=_-]+)$/.exec(path);
  if (!m) return undefined;
  const digest = `${m[1]}:${m[2]}`;
  try {
    parseDigest(digest);
    return digest;
  } catch {
    return undefined;
  }
}
