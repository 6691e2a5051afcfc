/** Images made by hand, byte by byte, independently of berth's code, for attack tests. */
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import type { RegistryHarness } from "../../registry/helpers/registry.ts";

export type Algo = "sha256" | "sha384" | "sha512";
export const hash = (algo: Algo, b: Buffer | string) => createHash(algo).update(b).digest("hex");

export interface Crafted {
  manifest: Buffer;
  /** Blob bytes by digest (config and layers). */
  blobs: Map<string, Buffer>;
}

/** A manifest (as text, so it can be anything) over a config (as text) and the given layer blobs. */
export function craftImage(
  configText: string,
  layers: { digest: string; bytes: Buffer; mediaType?: string; size?: number }[] = [],
  extraManifest = "",
): Crafted {
  const config = Buffer.from(configText);
  const configDigest = `sha256:${hash("sha256", config)}`;
  const layerDescs = layers.map((l) =>
    JSON.stringify({
      mediaType: l.mediaType ?? "application/vnd.oci.image.layer.v1.tar",
      digest: l.digest,
      size: l.size ?? l.bytes.length,
    }),
  );
  const manifest = Buffer.from(
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${configDigest}","size":${config.length}},"layers":[${layerDescs.join(",")}]${extraManifest}}`,
  );
  const blobs = new Map<string, Buffer>([[configDigest, config]]);
  for (const l of layers) blobs.set(l.digest, l.bytes);
  return { manifest, blobs };
}

/** Write a crafted image into an OCI layout (the store is one too) tagged `name`. */
export async function writeLayout(layout: string, c: Crafted, name: string): Promise<void> {
  const manifestDigest = `sha256:${hash("sha256", c.manifest)}`;
  const blobs = new Map(c.blobs).set(manifestDigest, c.manifest);
  for (const [digest, bytes] of blobs) {
    const [algo, hex] = digest.split(":") as [string, string];
    await mkdir(join(layout, "blobs", algo), { recursive: true });
    await writeFile(join(layout, "blobs", algo, hex), bytes);
  }
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: c.manifest.length,
          annotations: { "org.opencontainers.image.ref.name": name },
        },
      ],
    }),
  );
}

/** Push a crafted image to a registry over its HTTP API by hand (the registry checks each blob's digest). */
export async function pushRaw(reg: RegistryHarness, repo: string, tag: string, c: Crafted): Promise<void> {
  for (const [digest, bytes] of c.blobs) {
    const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    expect(start.status).toBe(202);
    const loc = new URL(start.headers.get("location")!, reg.url);
    loc.searchParams.set("digest", digest);
    const put = await fetch(loc, {
      method: "PUT",
      body: bytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(put.status, await put.text()).toBe(201);
  }
  const m = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    body: c.manifest,
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
  });
  expect(m.status, await m.text()).toBe(201);
}

/** Whether stderr holds a JavaScript stack trace. */
export const hasStackTrace = (stderr: string) => /\n\s+at \S/.test(stderr);
