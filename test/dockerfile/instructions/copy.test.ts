/** The layer COPY and ADD make: docker's destination rules, parents, owners, modes and hard links (src/dockerfile/instructions/copy.ts). */
import { createReadStream } from "node:fs";
import { chmod, link, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseChmod } from "../../../src/dockerfile/chmod.ts";
import { buildCopyLayer, type CopyLayerOptions } from "../../../src/dockerfile/instructions/copy.ts";
import type { FsView, PathInfo } from "../../../src/dockerfile/rootfs.ts";
import { matchSources } from "../../../src/dockerfile/sources.ts";
import { readTar } from "../../../src/layer/index.ts";
import { tempDir } from "../../helpers/temp.ts";
import { failureOf } from "../helpers/failure.ts";

/** A stage's filesystem as an FsView over a few entries. */
function stage(entries: Record<string, PathInfo>): FsView {
  return { lstat: async (rel) => entries[rel], readFile: async () => undefined };
}
const dir = (mode: number, uid = 0, gid = 0): PathInfo => ({ type: "dir", mode, uid, gid });

/** The layer's entries: path, type, mode (octal text), owner, mtime, link. */
async function entriesOf(path: string) {
  const out: string[] = [];
  for await (const e of readTar(createReadStream(path))) {
    const h = e.header;
    out.push(
      `${h.path} ${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid} ${h.mtime}${h.linkname ? ` -> ${h.linkname}` : ""}`,
    );
    for await (const _ of e.body) {
      // skip the content
    }
  }
  return out;
}

describe("buildCopyLayer", () => {
  let ctx: string;
  let out: string;
  let n = 0;
  beforeAll(async () => {
    ctx = await tempDir();
    out = await tempDir();
    await mkdir(join(ctx, "d/sub"), { recursive: true });
    await writeFile(join(ctx, "a.txt"), "a");
    await chmod(join(ctx, "a.txt"), 0o640);
    await writeFile(join(ctx, "d/sub/x"), "x");
    await link(join(ctx, "d/sub/x"), join(ctx, "d/y"));
  });

  const copy = async (patterns: string[], o: Partial<CopyLayerOptions> & { dest: string }) => {
    const layerPath = join(out, `layer-${n++}`);
    const desc = await buildCopyLayer({
      root: stage({}),
      sources: await matchSources(ctx, patterns, undefined, "ctx"),
      workdir: "/",
      owner: undefined,
      keepOwner: false,
      chmod: undefined,
      mtime: 7,
      compression: "none",
      layerPath,
      ...o,
    });
    return { desc, entries: await entriesOf(layerPath) };
  };

  it("a file into a directory: missing parents made 0755 root's, the file's mode kept, times the build's", async () => {
    const { desc, entries } = await copy(["a.txt"], { dest: "app/", workdir: "/srv" });
    expect(entries).toEqual(["srv dir 755 0:0 7", "srv/app dir 755 0:0 7", "srv/app/a.txt file 640 0:0 7"]);
    expect([desc.entries, desc.mediaType]).toEqual([3, "application/vnd.oci.image.layer.v1.tar"]);
  });

  it("a file onto a name, or into a directory the stage has (kept as the stage has it)", async () => {
    expect((await copy(["a.txt"], { dest: "/b.txt" })).entries).toEqual(["b.txt file 640 0:0 7"]);
    const existing = stage({ opt: dir(0o700, 5, 6) });
    expect((await copy(["a.txt"], { dest: "/opt", root: existing })).entries).toEqual([
      "opt dir 700 5:6 7",
      "opt/a.txt file 640 0:0 7",
    ]);
  });

  it("a directory's contents, hard links kept as a group, --chown and --chmod on all", async () => {
    const { entries } = await copy(["d"], {
      dest: "/dst",
      owner: { uid: 1000, gid: 100 },
      chmod: parseChmod("600"),
    });
    expect(entries).toEqual([
      "dst dir 755 1000:100 7",
      "dst/sub dir 600 1000:100 7",
      "dst/sub/x file 600 1000:100 7",
      "dst/y hardlink 600 1000:100 7 -> dst/sub/x",
    ]);
  });

  it("several sources onto a destination without /, as BuildKit: the first makes it, a file is overwritten", async () => {
    // files: /x is a file, the last one's
    expect((await copy(["a.txt", "d/sub/x"], { dest: "/x" })).entries).toEqual(["x file 644 0:0 7"]);
    // a directory first: /x is a directory, the file goes into it
    expect((await copy(["d", "a.txt"], { dest: "/x" })).entries).toEqual([
      "x dir 755 0:0 7",
      "x/a.txt file 640 0:0 7",
      "x/sub dir 755 0:0 7",
      "x/sub/x file 644 0:0 7",
      "x/y hardlink 644 0:0 7 -> x/sub/x",
    ]);
  });

  it("refuses a directory onto the file an earlier source made, a file onto /, and a parent that is a file", async () => {
    expect(await failureOf(copy(["a.txt", "d"], { dest: "/x" }))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "cannot copy the directory d to /x: an earlier source of this COPY made it a file",
      hint: "end the destination with / to copy every source into a directory",
    });
    expect((await failureOf(copy(["a.txt"], { dest: "/tmp/.." }))).message).toBe("cannot copy a file onto /");
    const fileParent = stage({ etc: { type: "file", mode: 0o644, uid: 0, gid: 0 } });
    expect((await failureOf(copy(["a.txt"], { dest: "/etc/conf", root: fileParent }))).message).toBe(
      "cannot copy to /etc/conf: /etc is not a directory",
    );
  });
});
