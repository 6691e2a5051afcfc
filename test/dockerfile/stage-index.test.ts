/**
 * The stage index (COPY's and WORKDIR's view of a stage without its files on disk) against the same layers
 * applied on disk by the layer engine: every path the disk has, with its type, mode, owner and link target, is
 * what the index answers, and every path a whiteout or opaque directory removed is gone from both; symlinks
 * resolve to the same place, and --chown names come from the layers' /etc/passwd and /etc/group.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { resolveIn, resolveInRoot, resolveOwner } from "../../src/dockerfile/rootfs.ts";
import { LayerEntries, StageIndex } from "../../src/dockerfile/stage-index.ts";
import { applyLayer, type EntryHeader, readTar } from "../../src/layer/index.ts";
import { tempDir } from "../helpers/temp.ts";
import { type HandEntry, snapshot, tarOf } from "../layer/helpers.ts";

const LAYERS: HandEntry[][] = [
  [
    { path: "etc", type: "dir" },
    { path: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n" },
    { path: "etc/group", content: "root:x:0:\nstaff:x:50:\n" },
    { path: "srv", type: "dir", mode: 0o750, uid: 5, gid: 6 },
    { path: "srv/a", content: "a", mode: 0o600, uid: 7, gid: 8 },
    { path: "srv/sub", type: "dir" },
    { path: "srv/sub/b", content: "b" },
    { path: "link", type: "symlink", linkname: "/srv" },
    { path: "rel", type: "symlink", linkname: "srv/sub" },
    { path: "up", type: "symlink", linkname: "../../../srv/../etc" },
    { path: "opq", type: "dir" },
    { path: "opq/x", content: "x" },
    { path: "gone", type: "dir" },
    { path: "gone/y", content: "y" },
    { path: "hl", type: "hardlink", linkname: "srv/a" },
    { path: "was-file", content: "f" },
    { path: "deep/no/parents", content: "p" },
  ],
  [
    { path: ".wh.gone" },
    { path: "opq", type: "dir", mode: 0o711 },
    { path: "opq/.wh..wh..opq" },
    { path: "opq/new", content: "n" },
    { path: "srv", type: "dir", mode: 0o700, uid: 9, gid: 9 },
    { path: "srv/sub/.wh.b" },
    { path: "srv/sub/b2", content: "b2" },
    { path: "was-file", type: "dir", mode: 0o701 },
    { path: "was-file/in", content: "i" },
  ],
  [
    { path: ".wh.link" },
    { path: "link", type: "dir" },
    { path: "etc/passwd", content: "app:x:2000:2001::/home/app:/bin/sh\n" },
  ],
];

/** `LAYERS` as layers with digests, each read noted (by index) in `reads`. */
async function countedLayers() {
  const tars = await Promise.all(LAYERS.map((l) => tarOf(l)));
  const reads: number[] = [];
  const layers = tars.map((t, i) => ({
    descriptor: { digest: `sha256:${String(i).repeat(64)}` },
    uncompressed: async () => {
      reads.push(i);
      return Readable.from([t]);
    },
  }));
  return { tars, reads, layers };
}

describe("stage index", () => {
  it("answers as the layers applied on disk: types, modes, owners, links, whiteouts, opaque dirs", async () => {
    const disk = await tempDir();
    const tars = await Promise.all(LAYERS.map((l) => tarOf(l)));
    const layers = tars.map((t) => ({ uncompressed: async () => Readable.from([t]) }));
    const index = new StageIndex();
    const named = new Set(
      LAYERS.flat().map((e) => e.path.replace(/\/?\.wh\.\.wh\.\.opq$/, "").replace(/(^|\/)\.wh\./, "$1")),
    );
    for (let n = 1; n <= tars.length; n++) {
      await applyLayer(Readable.from([tars[n - 1]!]), disk);
      const view = await index.sync({ layers: () => layers.slice(0, n) });
      const onDisk = snapshot(disk);
      for (const [path, want] of Object.entries(onDisk)) {
        const got = await view.lstat(path);
        expect({ path, ...got, mode: want.type === "symlink" ? 0 : got?.mode }).toEqual({
          path,
          type: want.type,
          mode: want.mode,
          uid: want.uid,
          gid: want.gid,
          linkname: want.linkname,
        });
      }
      for (const path of named) {
        if (!(path in onDisk))
          expect({ path, got: await view.lstat(path) }).toEqual({ path, got: undefined });
      }
      for (const p of ["/link/sub/b2", "/rel/b", "/up/passwd", "link", "/opq/x"]) {
        for (const followLast of [true, false])
          expect({ p, followLast, got: await resolveIn(view, p, followLast) }).toEqual({
            p,
            followLast,
            got: await resolveInRoot(disk, p, followLast),
          });
      }
    }
    const view = await index.sync({ layers: () => layers });
    expect(await resolveOwner(view, "app:staff")).toEqual({ uid: 2000, gid: 50 });
    expect(await resolveOwner(view, "app")).toEqual({ uid: 2000, gid: 2001 });
    // root is not in the last layer's /etc/passwd: a name the image lacks is 0:0, as BuildKit
    expect(await resolveOwner(view, "root:app")).toEqual({ uid: 0, gid: 0 });
  });

  it("reads a layer once for the indexes sharing its entries; a layer a step noted only for a file's content", async () => {
    const tars = await Promise.all(LAYERS.map((l) => tarOf(l)));
    const reads: number[] = [];
    const layers = tars.map((t, i) => ({
      descriptor: { digest: `sha256:${i}` },
      uncompressed: async () => {
        reads.push(i);
        return Readable.from([t]);
      },
    }));
    const shared = new LayerEntries();
    const a = await new StageIndex(shared).sync({ layers: () => layers.slice(0, 2) });
    const b = await new StageIndex(shared).sync({ layers: () => layers.slice(0, 2) });
    expect(reads).toEqual([0, 1]);
    expect(await b.lstat("srv/sub/b2")).toEqual(await a.lstat("srv/sub/b2"));
    expect(await b.lstat("srv/sub/b")).toBeUndefined();
    // the third layer as the step that wrote it knows it: its headers
    const headers: EntryHeader[] = [];
    for await (const { header } of readTar(Readable.from([tars[2]!]))) headers.push(header);
    shared.note("sha256:2", headers);
    const c = await new StageIndex(shared).sync({ layers: () => layers });
    expect(reads).toEqual([0, 1]);
    expect((await c.lstat("link"))?.type).toBe("dir");
    // /etc/passwd's content was not kept from the noted headers: read from its layer when asked
    expect(await resolveOwner(c, "app")).toEqual({ uid: 2000, gid: 2001 });
    expect(reads).toEqual([0, 1, 2]);
  });

  it("saves a layer's entries for the next build, which reads no layer; a damaged file is read again", async () => {
    const dir = await tempDir();
    const { reads, layers } = await countedLayers();
    const image = { layers: () => layers };
    const first = await new StageIndex(new LayerEntries(dir)).sync(image);
    expect(reads).toEqual([0, 1, 2]);
    const next = await new StageIndex(new LayerEntries(dir)).sync(image);
    for (const p of ["srv", "srv/a", "hl", "link", "rel", "opq/new", "opq/x", "gone", "was-file/in"])
      expect({ p, got: await next.lstat(p) }).toEqual({ p, got: await first.lstat(p) });
    // the kept /etc/passwd and /etc/group came back with the entries
    expect(await resolveOwner(next, "app:staff")).toEqual({ uid: 2000, gid: 50 });
    expect(reads).toEqual([0, 1, 2]);
    await writeFile(join(dir, `${"1".repeat(64)}.json`), '{"v":1,"entr');
    const again = await new StageIndex(new LayerEntries(dir)).sync(image);
    expect(reads).toEqual([0, 1, 2, 1]);
    expect(await again.lstat("srv")).toEqual(await first.lstat("srv"));
  });

  it("prefetch starts the reads an index then waits for; a failed one is the index's to report", async () => {
    const tar = await tarOf(LAYERS[0]!);
    const reads: string[] = [];
    const layer = (digest: string, fail: boolean) => ({
      descriptor: { digest },
      uncompressed: async () => {
        reads.push(digest);
        if (fail) throw new Error(`${digest} is gone`);
        return Readable.from([tar]);
      },
    });
    const good = layer("sha256:good", false);
    const bad = layer("sha256:bad", true);
    const shared = new LayerEntries();
    shared.prefetch([good, bad]);
    expect(reads).toEqual(["sha256:good", "sha256:bad"]);
    const index = await new StageIndex(shared).sync({ layers: () => [good] });
    expect((await index.lstat("srv/a"))?.uid).toBe(7);
    expect(reads).toEqual(["sha256:good", "sha256:bad"]);
    await expect(new StageIndex(shared).sync({ layers: () => [bad] })).rejects.toThrow(/sha256:bad is gone/);
  });

  it("expect: the entries an apply of the layer takes, not read again; read when that apply did not get through", async () => {
    const dir = await tempDir();
    const { tars, reads, layers } = await countedLayers();
    const image = { layers: () => layers };
    const shared = new LayerEntries(join(dir, "entries"));
    const expected = layers.map((l) => shared.expect(l.descriptor.digest));
    // asked before the applies begin: waits for them
    const index = new StageIndex(shared).sync(image);
    // the first applied whole; the second begun twice (the first time stopped) and through; the third not through
    for (const [i, tar] of tars.entries()) {
      const e = expected[i]!;
      if (i === 1)
        await applyLayer(Readable.from([tar]), join(dir, "stopped"), {
          onEntry: e.begin(),
          accept: () => false,
        });
      await applyLayer(Readable.from([tar]), join(dir, `root-${i}`), { onEntry: e.begin() });
      if (i < 2) e.applied();
      e.end();
    }
    const got = await index;
    expect(reads).toEqual([2]);
    const read = await new StageIndex(new LayerEntries()).sync(image);
    for (const p of [
      "srv",
      "srv/a",
      "hl",
      "link",
      "rel",
      "opq/new",
      "opq/x",
      "gone",
      "was-file/in",
      "srv/sub/b",
    ])
      expect({ p, got: await got.lstat(p) }).toEqual({ p, got: await read.lstat(p) });
    // /etc/passwd's content kept from the first layer's apply
    const first = await new StageIndex(new LayerEntries(join(dir, "entries"))).sync({
      layers: () => layers.slice(0, 1),
    });
    expect(await resolveOwner(first, "app:staff")).toEqual({ uid: 1000, gid: 50 });
    expect(reads).toEqual([2, 0, 1, 2]);
    // known already (saved): nothing to expect
    expect(shared.expect(layers[0]!.descriptor.digest)).toBeUndefined();
  });
});
