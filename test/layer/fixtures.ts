/** A sample tree with every kind of entry a layer builder must handle. */
import { chmodSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EntryHeader } from "../../src/layer/entry.ts";
import { writeLayer } from "../../src/layer/output.ts";
import type { HandEntry } from "./helpers.ts";

export interface F {
  path: string;
  kind: "dir" | "file" | "symlink" | "hardlink";
  content?: string | Buffer;
  mode?: number;
  target?: string;
}

export const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`;
export const files: F[] = [
  { path: "bin", kind: "dir", mode: 0o755 },
  { path: "bin/tool", kind: "file", content: "#!/bin/sh\necho hi\n", mode: 0o4755 },
  { path: "etc", kind: "dir", mode: 0o755 },
  { path: "etc/config", kind: "file", content: "a=1\n", mode: 0o600 },
  { path: "etc/link", kind: "symlink", target: "../bin/tool" },
  { path: "etc/abs", kind: "symlink", target: "/etc/config" },
  { path: "etc/hard", kind: "hardlink", target: "etc/config" },
  { path: "data", kind: "dir", mode: 0o750 },
  { path: "data/big.bin", kind: "file", content: Buffer.alloc(3 * 1024 * 1024 + 17, 7), mode: 0o644 },
  {
    path: "data/rand.bin",
    kind: "file",
    content: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 2654435761) >>> 24)),
    mode: 0o644,
  },
  { path: "data/ünïcode-näme.txt", kind: "file", content: "x", mode: 0o644 },
  { path: "data/a-b", kind: "file", content: "dash", mode: 0o644 },
  { path: "data/a", kind: "dir", mode: 0o755 },
  { path: "data/a/b", kind: "file", content: "nested", mode: 0o444 },
  { path: "deep", kind: "dir", mode: 0o755 },
  { path: `deep/${"d".repeat(60)}`, kind: "dir", mode: 0o755 },
  { path: `deep/${longDir}`, kind: "dir", mode: 0o755 },
  { path: `deep/${longDir}/${"f".repeat(99)}`, kind: "file", content: "long", mode: 0o644 },
  { path: `deep/${"g".repeat(120)}`, kind: "file", content: "needs pax", mode: 0o644 },
  { path: "empty", kind: "dir", mode: 0o1777 },
];

export function makeTree(dir: string, order: F[], mtime: number): void {
  const dirsFirst = [...order].sort((a, b) => a.path.split("/").length - b.path.split("/").length);
  for (const f of dirsFirst) {
    const p = join(dir, f.path);
    if (f.kind === "dir") mkdirSync(p, { recursive: true });
  }
  for (const f of order) {
    const p = join(dir, f.path);
    if (f.kind === "file") writeFileSync(p, f.content!);
  }
  for (const f of order) {
    const p = join(dir, f.path);
    if (f.kind === "symlink") symlinkSync(f.target!, p);
    if (f.kind === "hardlink") linkSync(join(dir, f.target!), p);
  }
  for (const f of order) {
    const p = join(dir, f.path);
    if (f.mode !== undefined && f.kind !== "symlink") chmodSync(p, f.mode);
    if (f.kind !== "symlink") utimesSync(p, mtime, mtime);
  }
}

export function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Three layers with deletions, an opaque directory (marker after its own layer's entries), type changes. */
export const threeLayers: HandEntry[][] = [
  [
    { path: "a", type: "dir" },
    { path: "a/x", content: "ax" },
    { path: "a/y", content: "ay" },
    { path: "b", type: "dir", mode: 0o700 },
    { path: "b/keep", content: "lower" },
    { path: "b/sub", type: "dir" },
    { path: "b/sub/deep", content: "deep" },
    { path: "c", type: "dir" },
    { path: "c/file", content: "c" },
    { path: "d", type: "dir" },
    { path: "d/gone", content: "g" },
    { path: "d/stays", content: "s" },
    { path: "e", type: "dir" },
    { path: "e/f", content: "f", uid: 1000, gid: 1000 },
    { path: "link", type: "symlink", linkname: "a/x" },
    { path: "hl", type: "hardlink", linkname: "a/y" },
  ],
  [
    { path: "a/.wh.x", content: "" },
    { path: "a/z", content: "az" },
    { path: "b", type: "dir", mode: 0o755 },
    { path: "b/new", content: "upper" },
    { path: "b/sub", type: "dir" },
    { path: "b/sub/fresh", content: "fresh" },
    // The opaque marker after entries of its own layer: it still hides only lower content.
    { path: "b/.wh..wh..opq", content: "" },
    { path: "c", content: "c is a file now" },
    { path: "d/.wh.gone", content: "" },
    { path: "d/.wh.never-existed", content: "" },
  ],
  [
    { path: "a/x", type: "dir", mode: 0o750 },
    { path: "a/x/inside", content: "i" },
    { path: ".wh.link", content: "" },
    { path: "e/.wh.f", content: "" },
    { path: "c", type: "dir" },
    { path: "c/again", content: "again" },
    { path: ".wh.hl", content: "" },
  ],
];

/** Write hand-made entries as a gzip layer with berth's writer. */
export async function layerOf(entries: HandEntry[], file: string) {
  return writeLayer(file, {}, async (w) => {
    for (const e of entries) {
      const content = e.content === undefined ? undefined : Buffer.from(e.content);
      const h: EntryHeader = {
        type: "file",
        mode: e.type === "dir" ? 0o755 : 0o644,
        uid: 0,
        gid: 0,
        mtime: 1000,
        ...e,
        size: content?.length ?? 0,
      };
      await w.add(h, content);
    }
  });
}
