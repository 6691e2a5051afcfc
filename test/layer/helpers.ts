/** Test helpers for the layer engine: temp dirs, tree snapshots, hand-made tars, shell tools. */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import type { EntryHeader } from "../../src/layer/entry.ts";
import { TarWriter } from "../../src/layer/writer.ts";

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  return execFileSync(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    maxBuffer: 1 << 30,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  linkname?: string;
  /** Group of paths sharing an inode (first path in sorted order), for hardlinked files. */
  inodeGroup?: string;
}

/** Every path below `root` with type, mode, owner, content hash, link target and hardlink group. */
export function snapshot(root: string, opts: { owners?: boolean } = {}): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const inodes = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const info: NodeInfo = {
        type: st.isDirectory()
          ? "dir"
          : st.isSymbolicLink()
            ? "symlink"
            : st.isFile()
              ? "file"
              : st.isFIFO()
                ? "fifo"
                : st.isCharacterDevice()
                  ? "char"
                  : "other",
        mode: st.isSymbolicLink() ? 0 : st.mode & 0o7777,
        uid: opts.owners === false ? 0 : st.uid,
        gid: opts.owners === false ? 0 : st.gid,
      };
      if (st.isFile()) {
        info.size = st.size;
        info.sha256 = createHash("sha256").update(readFileSync(p)).digest("hex");
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          if (!inodes.has(key)) inodes.set(key, r);
          info.inodeGroup = inodes.get(key)!;
        }
      }
      if (st.isSymbolicLink()) info.linkname = readlinkSync(p);
      out[r] = info;
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, "");
  return out;
}

export interface HandEntry extends Partial<EntryHeader> {
  path: string;
  content?: string | Buffer;
}

/** A tar written with berth's own writer (no normalisation of paths: they go in as given). */
export async function tarOf(entries: HandEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const { Writable } = await import("node:stream");
  const sink = new Writable({
    write(chunk, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const w = new TarWriter(sink);
  for (const e of entries) {
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    const h: EntryHeader = {
      type: "file",
      mode: e.type === "dir" ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      ...e,
      size: content?.length ?? 0,
    };
    await w.add(h, content);
  }
  await w.finish();
  return Buffer.concat(chunks);
}

/** A tar written with tar-stream, an independent writer: for malicious names berth's writer would not make. */
export async function tarStreamOf(
  entries: {
    name: string;
    type?: "file" | "directory" | "symlink" | "link" | "character-device" | "fifo";
    linkname?: string;
    content?: string;
    mode?: number;
    devmajor?: number;
    devminor?: number;
    pax?: Record<string, string>;
  }[],
): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type ?? "file",
      mode: e.mode ?? (e.type === "directory" ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
      ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor, devminor: e.devminor ?? 0 }),
      ...(e.pax === undefined ? {} : { pax: e.pax }),
    };
    if (e.content !== undefined) p.entry(header, e.content);
    else p.entry(header);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export function streamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}

export function sha256(buf: Buffer): string {
  return `sha256:${createHash("sha256").update(buf).digest("hex")}`;
}
