/** The compressor for a layer: parallel gzip, zstd with its level checked, or none; chunks given back. */
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createCompressor } from "../../src/layer/compress.ts";

const input = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 27));

async function compress(o: Parameters<typeof createCompressor>[0], chunks = [input]): Promise<Buffer> {
  const c = createCompressor(o);
  const [out] = await Promise.all([buffer(c), pipeline(Readable.from(chunks), c)]);
  return out;
}

describe("createCompressor", () => {
  it("gzip by default, zstd with a checksum, none passes bytes through", async () => {
    const gz = await compress({});
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(gz)).toEqual(input);
    const zst = await compress({ compression: "zstd", level: 19 });
    expect(zst.readUInt32LE(0)).toBe(0xfd2fb528);
    // Frame header descriptor: bit 2 is the content checksum flag.
    expect(zst[4]! & 0x04).toBe(0x04);
    expect(zstdDecompressSync(zst)).toEqual(input);
    expect(zst.length).toBeLessThan((await compress({ compression: "zstd", level: 1 })).length);
    expect(await compress({ compression: "none" })).toEqual(input);
  });

  it("gives each input chunk back once zstd has taken it in", async () => {
    const chunks = [input.subarray(0, 1000), input.subarray(1000, 5000), input.subarray(5000)];
    const given: Buffer[] = [];
    const out = await compress({ compression: "zstd", recycle: (c) => given.push(c) }, chunks);
    expect(zstdDecompressSync(out)).toEqual(input);
    expect(Buffer.concat(given)).toEqual(input);
  });

  it("a zstd level out of range or an unknown compression is a usage error", () => {
    for (const level of [0, 23, 2.5]) {
      expect(() => createCompressor({ compression: "zstd", level })).toThrow(
        expect.objectContaining({ code: "USAGE", message: `zstd level ${level} is not between 1 and 22` }),
      );
    }
    expect(() => createCompressor({ compression: "lz4" as never })).toThrow(
      expect.objectContaining({ code: "USAGE", message: 'unknown compression "lz4" (gzip, zstd or none)' }),
    );
  });
});
