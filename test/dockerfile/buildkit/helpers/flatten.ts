/**
 * An image as the comparison sees it: its layers applied in order (whiteouts and opaque directories honoured,
 * hard links kept as groups) into one map of path → entry, plus the config fields a Dockerfile sets and the
 * history. Reads an OCI layout (berth's output) or a `docker save` archive (BuildKit's), straight from the
 * tar headers, so owners, modes and hard links are the layer's own and not what an unpacker made of them.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { run } from "../../../helpers/exec.ts";

export interface Entry {
  type: "dir" | "file" | "symlink" | "other";
  mode: string;
  owner: string;
  size?: number;
  sha256?: string;
  target?: string;
  /** The other paths of the same hard-link group (sorted), when there are any. */
  links?: string[];
}

export interface Flat {
  files: Map<string, Entry>;
  config: Record<string, unknown>;
  history: { created_by: string; empty_layer: boolean }[];
}

/** What a config says, reduced to the fields a Dockerfile sets; absent and empty are the same. */
const CONFIG_FIELDS = [
  "Env",
  "Entrypoint",
  "Cmd",
  "WorkingDir",
  "User",
  "ExposedPorts",
  "Volumes",
  "Labels",
  "StopSignal",
  "Healthcheck",
  "Shell",
  "OnBuild",
] as const;

interface Node extends Omit<Entry, "links"> {
  inode: number;
}

/** Apply one uncompressed layer tar to `files`. */
async function applyLayer(files: Map<string, Node>, tar: Readable, nextInode: () => number): Promise<void> {
  const inLayer = new Set<string>();
  const removeTree = (p: string, keep?: Set<string>) => {
    for (const k of [...files.keys()])
      if ((k === p || k.startsWith(`${p}/`) || p === "") && !keep?.has(k)) files.delete(k);
  };
  const ex = extract();
  ex.on("entry", (h, stream, next) => {
    const path = posix.normalize(`/${h.name}`).slice(1).replace(/\/$/, "");
    const base = posix.basename(path);
    const dir = posix.dirname(path) === "." ? "" : posix.dirname(path);
    const done = (node?: Node) => {
      if (node) {
        const old = files.get(path);
        if (old && (old.type !== "dir" || node.type !== "dir")) removeTree(path);
        files.set(path, node);
        inLayer.add(path);
      }
      next();
    };
    if (base === ".wh..wh..opq") {
      for (const k of [...files.keys()])
        if (k.startsWith(dir ? `${dir}/` : "") && !inLayer.has(k)) files.delete(k);
      stream.resume();
      return done();
    }
    if (base.startsWith(".wh.")) {
      removeTree(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
      stream.resume();
      return done();
    }
    if (path === "") {
      stream.resume();
      return done();
    }
    const common = {
      mode: ((h.mode ?? 0) & 0o7777).toString(8),
      owner: `${h.uid ?? 0}:${h.gid ?? 0}`,
    };
    if (h.type === "file" || h.type === "contiguous-file") {
      const hash = createHash("sha256");
      let size = 0;
      stream.on("data", (c) => {
        if (!Buffer.isBuffer(c)) return;
        hash.update(c);
        size += c.length;
      });
      stream.on("end", () =>
        done({ type: "file", ...common, size, sha256: hash.digest("hex").slice(0, 16), inode: nextInode() }),
      );
      return;
    }
    stream.resume();
    if (h.type === "directory") return done({ type: "dir", ...common, inode: nextInode() });
    if (h.type === "symlink")
      return done({ type: "symlink", ...common, target: h.linkname ?? "", inode: nextInode() });
    if (h.type === "link") {
      const target = files.get(posix.normalize(`/${h.linkname}`).slice(1));
      if (!target)
        return done({
          type: "other",
          ...common,
          target: `hard link to missing ${h.linkname}`,
          inode: nextInode(),
        });
      return done({ ...target });
    }
    return done({ type: "other", ...common, target: h.type ?? "?", inode: nextInode() });
  });
  await pipeline(tar, ex);
}

interface Source {
  config: Record<string, unknown>;
  layers: (() => Readable)[];
}

async function fromLayout(layout: string, tag: string): Promise<Source> {
  const blob = (d: string) => join(layout, "blobs", "sha256", d.slice("sha256:".length));
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const desc = index.manifests.find(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === tag,
  );
  if (!desc) throw new Error(`${layout} has no image tagged ${tag}`);
  const manifest = JSON.parse(await readFile(blob(desc.digest), "utf8"));
  return {
    config: JSON.parse(await readFile(blob(manifest.config.digest), "utf8")),
    layers: manifest.layers.map((l: { digest: string; mediaType: string }) => () => {
      const raw = createReadStream(blob(l.digest));
      if (l.mediaType.endsWith("+gzip") || l.mediaType.endsWith(".gzip")) return raw.pipe(createGunzip());
      if (l.mediaType.endsWith(".tar") || l.mediaType.endsWith("rootfs.diff.tar")) return raw;
      throw new Error(`layer ${l.digest}: media type ${l.mediaType} is not read here`);
    }),
  };
}

async function fromDockerArchive(archive: string, dir: string): Promise<Source> {
  await mkdir(dir, { recursive: true });
  await run("tar", ["-xf", archive, "-C", dir]);
  const [m] = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
  return {
    config: JSON.parse(await readFile(join(dir, m.Config), "utf8")),
    layers: m.Layers.map((l: string) => () => createReadStream(join(dir, l))),
  };
}

/** Flatten `oci:LAYOUT:TAG` or `docker-archive:FILE` (unpacked into `scratch`). */
export async function flatten(
  image: { layout: string; tag: string } | { archive: string; scratch: string },
): Promise<Flat> {
  const src =
    "layout" in image
      ? await fromLayout(image.layout, image.tag)
      : await fromDockerArchive(image.archive, image.scratch);
  const nodes = new Map<string, Node>();
  let inode = 0;
  for (const open of src.layers) await applyLayer(nodes, open(), () => ++inode);
  const groups = new Map<number, string[]>();
  for (const [p, n] of nodes) if (n.type === "file") groups.set(n.inode, [...(groups.get(n.inode) ?? []), p]);
  const files = new Map<string, Entry>();
  for (const p of [...nodes.keys()].sort()) {
    const { inode: ino, ...e } = nodes.get(p)!;
    const group = groups.get(ino) ?? [];
    files.set(p, group.length > 1 ? { ...e, links: group.filter((x) => x !== p).sort() } : e);
  }
  const c = (src.config.config ?? {}) as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  for (const k of CONFIG_FIELDS) {
    const v = c[k];
    const empty =
      v === undefined || v === null || v === "" || (typeof v === "object" && Object.keys(v).length === 0);
    if (!empty) config[k] = v;
  }
  const history = ((src.config.history ?? []) as { created_by?: string; empty_layer?: boolean }[]).map(
    (h) => ({
      created_by: h.created_by ?? "",
      empty_layer: h.empty_layer === true,
    }),
  );
  return { files, config, history };
}
