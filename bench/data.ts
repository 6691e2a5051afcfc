/**
 * Benchmark data, generated once and cached under bench/data/ (git-ignored):
 * - an OCI layout holding one image of 8 gzip layers (deterministic: AES-CTR keystreams and seeded text), each
 *   layer 3/4 incompressible files and 1/4 compressible text, written with berth's layer engine;
 * - the same image as a docker-archive, written by skopeo (so the archive → layout direction reads a peer's file);
 * - a real node_modules tree from `npm install` of a dozen popular packages.
 */
import { execFile } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { EntryHeader } from "../src/layer/entry.ts";
import { writeLayer } from "../src/layer/output.ts";
import type { Descriptor } from "../src/oci/descriptor.ts";
import { OciLayout } from "../src/oci/layout/layout.ts";
import { serialize } from "../src/oci/manifest.ts";
import { MediaType } from "../src/oci/mediatype.ts";
import { DATA } from "./lib.ts";

const exec = promisify(execFile);
const GENERATOR = "1";

export interface ImageData {
  /** The OCI layout folder (`oci:<layout>:latest`). */
  layout: string;
  /** A docker-archive of the same image, written by skopeo. */
  archive: string;
  layers: number;
  layerBytes: number;
  /** Sum of the compressed layer sizes. */
  compressedBytes: number;
}

const MiB = 1024 * 1024;

/** Incompressible bytes: an AES-256-CTR keystream keyed by `seed`. */
function randomBytesFrom(seed: string, n: number): Buffer {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(n));
}

const WORDS =
  "layer image manifest config digest blob registry push pull copy archive docker oci index tag platform linux amd64 node module require export function return const let var import from build run".split(
    " ",
  );

/** Compressible text (about 4:1 with gzip): words picked by a seeded xorshift. */
function textBytes(seed: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed | 1;
  let i = 0;
  while (i < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const w = WORDS[(x >>> 0) % WORDS.length]!;
    const sep = (x >>> 8) % 11 === 0 ? "\n" : " ";
    i += out.write(w + sep, i, "latin1");
  }
  return out;
}

/** Generate (or reuse) the benchmark image: `layers` gzip layers of `layerBytes` uncompressed content each. */
export async function imageData(
  layers: number,
  layerBytes: number,
  log: (s: string) => void,
): Promise<ImageData> {
  const name = `image-${layers}x${layerBytes / MiB}m`;
  const dir = join(DATA, name);
  const layoutDir = join(dir, "layout");
  const archive = join(dir, "image.tar");
  const marker = join(dir, "complete.json");
  try {
    const done = JSON.parse(await readFile(marker, "utf8")) as { generator: string; compressedBytes: number };
    if (done.generator === GENERATOR) {
      return { layout: layoutDir, archive, layers, layerBytes, compressedBytes: done.compressedBytes };
    }
  } catch {
    // not generated yet
  }
  log(`  generating ${name} (once; cached in ${dir})`);
  await rm(dir, { recursive: true, force: true });
  const layout = await OciLayout.openOrCreate(layoutDir);
  const diffIds: string[] = [];
  const descs: Descriptor[] = [];
  const textShare = layerBytes / 4;
  const fileSize = Math.min(8 * MiB, layerBytes / 16);
  for (let l = 0; l < layers; l++) {
    const tmp = join(layoutDir, `.layer-${l}.tmp`);
    const desc = await writeLayer(tmp, { compression: "gzip", level: 6 }, async (w) => {
      const dirHeader = (path: string): EntryHeader => ({
        path,
        type: "dir",
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
      });
      const file = (path: string, size: number): EntryHeader => ({
        path,
        type: "file",
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: 0,
      });
      await w.add(dirHeader(`layer${l}`));
      await w.add(dirHeader(`layer${l}/bin`));
      await w.add(dirHeader(`layer${l}/text`));
      for (let i = 0, n = 0; n < layerBytes - textShare; i++, n += fileSize) {
        await w.add(
          file(`layer${l}/bin/blob${i}`, fileSize),
          randomBytesFrom(`berth-bench-${l}-${i}`, fileSize),
        );
      }
      const textSize = Math.max(64 * 1024, fileSize / 16);
      for (let i = 0, n = 0; n < textShare; i++, n += textSize) {
        await w.add(file(`layer${l}/text/doc${i}.txt`, textSize), textBytes(l * 100_003 + i + 1, textSize));
      }
    });
    await rename(tmp, layout.blobPath(desc.digest));
    diffIds.push(desc.diffId);
    descs.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    log(`    layer ${l + 1}/${layers}: ${(desc.size / MiB).toFixed(1)} MiB gzip`);
  }
  const config = serialize({
    created: "1970-01-01T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map(() => ({ created: "1970-01-01T00:00:00Z", created_by: "berth bench" })),
  });
  const configDesc = await layout.writeBlobBytes(config, MediaType.OciConfig);
  const manifest = serialize({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configDesc,
    layers: descs,
  });
  const manifestDesc = await layout.writeBlobBytes(manifest, MediaType.OciManifest);
  await layout.tag(manifestDesc, "latest");
  log("    docker-archive of it, by skopeo");
  await exec("skopeo", ["copy", "-q", `oci:${layoutDir}:latest`, `docker-archive:${archive}:bench:latest`]);
  const compressedBytes = descs.reduce((n, d) => n + d.size, 0);
  await writeFile(marker, JSON.stringify({ generator: GENERATOR, compressedBytes }));
  return { layout: layoutDir, archive, layers, layerBytes, compressedBytes };
}

export const NODE_PACKAGES = [
  "typescript",
  "lodash",
  "react",
  "react-dom",
  "express",
  "webpack",
  "@babel/core",
  "eslint",
  "moment",
  "rxjs",
  "axios",
  "prettier",
];

export interface TreeData {
  dir: string;
  files: number;
  bytes: number;
}

/** A node_modules tree from the npm registry, installed once under bench/data/node-tree. */
export async function nodeModulesTree(log: (s: string) => void): Promise<TreeData> {
  const root = join(DATA, "node-tree");
  const marker = join(root, "complete.json");
  try {
    const done = JSON.parse(await readFile(marker, "utf8")) as TreeData;
    await stat(done.dir);
    return done;
  } catch {
    // not installed yet
  }
  log(`  npm install ${NODE_PACKAGES.join(" ")} (once; cached in ${root})`);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  await writeFile(join(root, "package.json"), JSON.stringify({ name: "bench-tree", private: true }));
  await exec(
    "npm",
    ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock", ...NODE_PACKAGES],
    { cwd: root, maxBuffer: 64 * MiB },
  );
  const dir = join(root, "node_modules");
  const { stdout } = await exec("find", [dir, "-type", "f", "-printf", "%s\\n"], { maxBuffer: 64 * MiB });
  const sizes = stdout.trim().split("\n").map(Number);
  const tree = { dir, files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
  await writeFile(marker, JSON.stringify(tree));
  return tree;
}
