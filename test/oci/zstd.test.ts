import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { beforeAll, describe, expect, it } from "vitest";
import { applyLayer } from "../../src/layer/index.ts";
import { decompress } from "../../src/oci/compression.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-zstd-");
});

/** `zstd` (the reference tool) compresses `data` into one frame. */
function zstd(data: Buffer, ...flags: string[]): Buffer {
  return execFileSync("zstd", ["-q", "-c", ...flags], { input: data });
}

/** A skippable frame (RFC 8878 §3.1.2) holding `n` bytes. */
function skippable(n: number): Buffer {
  const b = Buffer.alloc(8 + n, 0x55);
  b.writeUInt32LE(0x184d2a5e, 0);
  b.writeUInt32LE(n, 4);
  return b;
}

/** Feed `bytes` in pieces of `piece` bytes, so frame and block headers fall across chunk boundaries. */
function pieces(bytes: Buffer, piece: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) parts.push(bytes.subarray(i, i + piece));
  return Readable.from(parts);
}

describe("multi-frame zstd", () => {
  it("decodes every frame, in order, skipping skippable frames, whatever the chunking", async () => {
    const a = randomBytes(300_000);
    const b = Buffer.alloc(500_000, 7); // compressible: RLE and compressed blocks
    const c = Buffer.from("tail\n");
    const stream = Buffer.concat([
      zstd(a),
      skippable(20),
      zstd(b, "--no-check"),
      zstd(c, "-19"),
      skippable(0),
    ]);
    expect(execFileSync("zstd", ["-dc"], { input: stream }).equals(Buffer.concat([a, b, c]))).toBe(true);
    for (const piece of [1, 3, 7, 4096, stream.length]) {
      const out = await buffer(await decompress(pieces(stream, piece)));
      expect(out.equals(Buffer.concat([a, b, c]))).toBe(true);
    }
  });

  it("a stream that ends inside a frame, or carries bytes that are no frame, is an error", async () => {
    const one = zstd(Buffer.alloc(100_000, 1));
    await expect(buffer(await decompress(pieces(one.subarray(0, one.length - 3), 64)))).rejects.toThrow(
      /invalid zstd stream: it ends inside frame 1/,
    );
    await expect(
      buffer(await decompress(pieces(Buffer.concat([one, Buffer.from("junk")]), 64))),
    ).rejects.toThrow(/frame 2 does not start with a zstd magic number/);
  });

  it("applyLayer gets every file of a layer compressed as two frames (as zstd:chunked layers are)", async () => {
    const src = join(dir, "src");
    execFileSync("mkdir", ["-p", join(src, "a"), join(src, "b")]);
    await writeFile(join(src, "a", "one"), "first frame\n");
    await writeFile(join(src, "b", "two"), "second frame\n");
    const first = execFileSync("tar", ["-C", src, "--no-recursion", "-cf", "-", "a", "a/one"]);
    const second = execFileSync("tar", ["-C", src, "--no-recursion", "-cf", "-", "b", "b/two"]);
    // The first tar without the zero blocks that end it, so that the two frames decode to one tar.
    const body = Buffer.concat([zstd(stripTrailer(first)), zstd(second)]);
    const root = join(dir, "root");
    await applyLayer(await decompress(Readable.from([body])), root);
    expect(await readFile(join(root, "a", "one"), "utf8")).toBe("first frame\n");
    expect(await readFile(join(root, "b", "two"), "utf8")).toBe("second frame\n");
  });
});

/** A tar's entries without the zero blocks that end it. */
function stripTrailer(tar: Buffer): Buffer {
  let end = tar.length;
  while (end >= 512 && tar.subarray(end - 512, end).every((x) => x === 0)) end -= 512;
  return tar.subarray(0, end);
}
