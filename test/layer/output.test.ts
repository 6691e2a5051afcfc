import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { writeEntries } from "../../src/layer/build.ts";
import { writeLayer } from "../../src/layer/output.ts";
import { planLayer } from "../../src/layer/walk.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { files, makeTree } from "./fixtures.ts";
import { sha256 } from "./helpers.ts";

describe("writeLayer's tar copy and no-blob pass", () => {
  it("writes the uncompressed tar in the same pass: its sha256 is the diffID and the blob decompresses to it", async () => {
    const src = tempDirSync();
    makeTree(src, files, 1_000_000);
    // Over several 1 MiB chunks, so the copy sees reused chunks.
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    for (let k = 0; k < big.length; k += 4096) big[k] = k & 0xff;
    writeFileSync(join(src, "big.bin"), big);
    const entries = await planLayer([{ source: src, dest: "/layers/bp/l" }], {
      mtime: 1,
      uid: 1000,
      gid: 1000,
    });
    const out = tempDirSync();
    const plain = await writeLayer(join(out, "plain.tgz"), {}, (w) => writeEntries(w, entries));
    const both = await writeLayer(join(out, "both.tgz"), { tarCopy: join(out, "copy.tar") }, (w) =>
      writeEntries(w, entries),
    );
    const tar = readFileSync(join(out, "copy.tar"));
    expect(both).toEqual(plain);
    expect(sha256(tar)).toBe(both.diffId);
    expect(tar.length).toBe(both.uncompressedSize);
    expect(gunzipSync(readFileSync(join(out, "both.tgz"))).equals(tar)).toBe(true);
    expect(readFileSync(join(out, "both.tgz")).equals(readFileSync(join(out, "plain.tgz")))).toBe(true);

    const none = await writeLayer(null, { tarCopy: join(out, "copy2.tar") }, (w) => writeEntries(w, entries));
    expect(none.diffId).toBe(both.diffId);
    expect(none.uncompressedSize).toBe(both.uncompressedSize);
    expect(readFileSync(join(out, "copy2.tar")).equals(tar)).toBe(true);
    const hashOnly = await writeLayer(null, {}, (w) => writeEntries(w, entries));
    expect(hashOnly.diffId).toBe(both.diffId);
  });

  it("compression none: the blob is the tar (its chunks refilled once written), digest the diffID", async () => {
    const src = tempDirSync();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    for (let k = 0; k < big.length; k += 4096) big[k] = (k >> 12) & 0xff;
    writeFileSync(join(src, "big.bin"), big);
    const entries = await planLayer([{ source: src, dest: "/l" }], { mtime: 1, uid: 0, gid: 0 });
    const out = tempDirSync();
    const d = await writeLayer(
      join(out, "plain.tar"),
      { compression: "none", tarCopy: join(out, "copy.tar") },
      (w) => writeEntries(w, entries),
    );
    const blob = readFileSync(join(out, "plain.tar"));
    expect(blob.equals(readFileSync(join(out, "copy.tar")))).toBe(true);
    expect([d.digest, d.size, d.uncompressedSize]).toEqual([sha256(blob), blob.length, blob.length]);
    expect(d.diffId).toBe(d.digest);
    expect(d.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
  });

  it("fresh: written at its own name (no temp name beside it), a name already there refused, removed on failure", async () => {
    const out = tempDirSync();
    const entry = { path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 0 } as const;
    const seen: string[][] = [];
    const d = await writeLayer(join(out, "layer-1"), { fresh: true }, async (w) => {
      await w.add(entry, Buffer.from("abc"));
      // the file is opened once the pipeline's first chunk reaches it
      for (let i = 0; i < 100 && readdirSync(out).length === 0; i++) await new Promise(setImmediate);
      seen.push(readdirSync(out));
    });
    expect(seen).toEqual([["layer-1"]]);
    expect(sha256(readFileSync(join(out, "layer-1")))).toBe(d.digest);
    symlinkSync("/dev/null", join(out, "layer-2"));
    await expect(writeLayer(join(out, "layer-2"), { fresh: true }, async () => {})).rejects.toThrow("EEXIST");
    await expect(
      writeLayer(join(out, "layer-3"), { fresh: true }, async (w) => {
        await w.add(entry, Buffer.from("abc"));
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(readdirSync(out).sort()).toEqual(["layer-1", "layer-2"]);
  });

  it("leaves no tar copy and no blob behind when the layer fails", async () => {
    const out = tempDirSync();
    for (const dest of [join(out, "blob.tgz"), null]) {
      await expect(
        writeLayer(dest, { tarCopy: join(out, "copy.tar") }, async (w) => {
          await w.add(
            { path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 0 },
            Buffer.from("abc"),
          );
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(existsSync(join(out, "copy.tar"))).toBe(false);
      expect(readdirSync(out)).toEqual([]);
    }
  });

  it("tee: a copy of each chunk of the tar as written (the pool's chunks refilled after), with its back-pressure; a tee destroyed midway leaves the layer whole", async () => {
    const src = tempDirSync();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    for (let k = 0; k < big.length; k += 4096) big[k] = k & 0xff;
    writeFileSync(join(src, "big.bin"), big);
    const entries = await planLayer([{ source: src, dest: "/l" }], { mtime: 1, uid: 0, gid: 0 });
    const out = tempDirSync();
    // a slow reader: one chunk at a time, after a pause
    const got: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        got.push(chunk);
        setTimeout(cb, 5);
      },
    });
    const teed = await writeLayer(join(out, "teed.tgz"), { tarCopy: join(out, "copy.tar"), tee: slow }, (w) =>
      writeEntries(w, entries),
    );
    expect(slow.writableFinished).toBe(true);
    expect(Buffer.concat(got).equals(readFileSync(join(out, "copy.tar")))).toBe(true);
    expect(sha256(Buffer.concat(got))).toBe(teed.diffId);
    // destroyed after its first chunk (its reader failed): the layer is the same, the tee gets nothing more
    const broken = new PassThrough({ highWaterMark: 1 });
    let chunks = 0;
    broken.on("data", () => {
      if (++chunks === 1) broken.destroy();
    });
    const after = await writeLayer(join(out, "after.tgz"), { tee: broken }, (w) => writeEntries(w, entries));
    expect(after).toEqual(teed);
    expect(chunks).toBe(1);
  });
});
