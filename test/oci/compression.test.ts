import { PassThrough, Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decompress, decompressAs, detectCompression, peek } from "../../src/oci/compression.ts";

const text = Buffer.from("layer bytes ".repeat(1000));
/** A stream giving `bytes` in chunks of `size` bytes. */
const chunked = (bytes: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
      bytes.subarray(i * size, (i + 1) * size),
    ),
  );

describe("peek", () => {
  it("returns the first bytes across chunks and leaves the stream whole", async () => {
    const { head, stream } = await peek(chunked(text, 3), 8);
    expect(head.toString()).toBe("layer by");
    expect((await buffer(stream)).equals(text)).toBe(true);
  });

  it("returns what there is of a stream shorter than asked, and a stream that still has it", async () => {
    const { head, stream } = await peek(Readable.from([Buffer.from("ab")]), 4);
    expect(head.toString()).toBe("ab");
    expect((await buffer(stream)).toString()).toBe("ab");
    const empty = await peek(Readable.from([]), 4);
    expect([empty.head.length, (await buffer(empty.stream)).length]).toEqual([0, 0]);
  });

  it("leaves a stream of exactly the peeked length whole", async () => {
    const { head, stream } = await peek(Readable.from([Buffer.from("abcd")]), 4);
    expect(head.toString()).toBe("abcd");
    expect((await buffer(stream)).toString()).toBe("abcd");
  });

  it("rejects with the stream's error", async () => {
    const s = new PassThrough();
    setImmediate(() => s.destroy(new Error("disk gone")));
    await expect(peek(s, 4)).rejects.toThrow("disk gone");
  });

  it("rejects a stream destroyed before or while it waits (its writer gave up) instead of waiting for ever", async () => {
    const before = new PassThrough();
    before.destroy();
    await expect(peek(before, 4)).rejects.toThrow("closed before it ended");
    const during = new PassThrough();
    const waiting = peek(during, 4);
    during.destroy();
    await expect(waiting).rejects.toThrow("closed before it ended");
  });
});

describe("decompress", () => {
  it.each([
    ["gzip", gzipSync(text)],
    ["zstd", zstdCompressSync(text)],
    ["none", text],
  ])("detects %s by its magic and gives the plain bytes", async (kind, bytes) => {
    expect(await detectCompression(chunked(bytes, 1))).toBe(kind);
    expect((await buffer(await decompress(chunked(bytes, 100)))).equals(text)).toBe(true);
  });

  it("keeps the bytes of a blob shorter than a magic number", async () => {
    expect((await buffer(await decompress(Readable.from([Buffer.from("ab")])))).toString()).toBe("ab");
  });

  it("reads every frame of a multi-frame zstd stream", async () => {
    const frames = Buffer.concat([zstdCompressSync(text), zstdCompressSync(Buffer.from("second frame"))]);
    expect((await buffer(decompressAs(Readable.from([frames]), "zstd"))).toString()).toBe(
      `${text}second frame`,
    );
  });

  it("fails on a corrupt gzip stream", async () => {
    const bad = gzipSync(text);
    bad[20] = bad[20]! ^ 0xff;
    await expect(buffer(await decompress(Readable.from([bad])))).rejects.toThrow();
  });
});
