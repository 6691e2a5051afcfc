import { createHash } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** Write bytes as a blob of an OCI layout (made by hand, independently of berth's code). */
export async function putBlob(layout: string, bytes: Buffer | string, mediaType: string): Promise<Desc> {
  const b = Buffer.from(bytes);
  const hex = createHash("sha256").update(b).digest("hex");
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "blobs", "sha256", hex), b);
  return { mediaType, digest: `sha256:${hex}`, size: b.length };
}

export async function readIndex(layout: string): Promise<{ manifests: Desc[] } & Record<string, unknown>> {
  return JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
}

/** A file's bytes, inode and mtime (ns): a rewrite, even of the same bytes, changes it. */
export async function fileState(path: string): Promise<{ bytes: Buffer; ino: bigint; mtimeNs: bigint }> {
  const st = await stat(path, { bigint: true });
  return { bytes: await readFile(path), ino: st.ino, mtimeNs: st.mtimeNs };
}

export async function writeIndex(layout: string, manifests: Desc[]): Promise<void> {
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }),
  );
}

export function blobPath(layout: string, digest: string): string {
  return join(layout, "blobs", ...digest.split(":"));
}
