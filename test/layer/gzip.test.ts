import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ChunkPool } from "../../src/layer/chunks.ts";
import { ParallelGzip } from "../../src/layer/gzip.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { sh } from "./helpers.ts";

/** Pseudo-random but compressible data, deterministic. */
function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    b[i] = s % 7 === 0 ? s & 0xff : 97 + (i % 13);
  }
  return b;
}

async function gz(input: Buffer, chunk: number, options = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(new ParallelGzip(options))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe("ParallelGzip", () => {
  const input = data(5 * 1024 * 1024 + 12345);

  it("gives the same bytes whatever the input chunking, and differs by level", async () => {
    const a = await gz(input, 1 << 20);
    const b = await gz(input, 7919);
    const c = await gz(input, 3 << 20);
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(true);
    const fast = await gz(input, 65536, { level: 1 });
    expect(fast.equals(a)).toBe(false);
    expect(fast[8]).toBe(4); // XFL for level 1
    expect(a.subarray(0, 10)).toEqual(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
  });

  it("is one standard gzip member that gunzip, gzip -t and pigz -t accept", async () => {
    for (const level of [1, 6, 9]) {
      const out = await gz(input, 100_000, { level });
      expect(gunzipSync(out).equals(input)).toBe(true);
      const file = join(tempDirSync(), "x.gz");
      writeFileSync(file, out);
      sh("gzip", ["-t", file]);
      sh("pigz", ["-t", file]);
      const viaZcat = createHash("sha256")
        .update(sh("zcat", [file]))
        .digest("hex");
      expect(viaZcat).toBe(createHash("sha256").update(input).digest("hex"));
    }
  });

  it("handles empty input and an exact multiple of the block size", async () => {
    expect(gunzipSync(await gz(Buffer.alloc(0), 1)).length).toBe(0);
    const exact = data(2 * 1024 * 1024);
    expect(gunzipSync(await gz(exact, 4096)).equals(exact)).toBe(true);
  });

  it("gives whole blocks back for reuse once deflated, with the same bytes as fresh chunks", async () => {
    const size = 1 << 20;
    const pool = new ChunkPool(size);
    const parts: Buffer[] = [];
    for (let i = 0; i < input.length; i += size) {
      const chunk = pool.take();
      const n = input.copy(chunk, 0, i);
      parts.push(n === size ? chunk : chunk.subarray(0, n));
    }
    const given: Buffer[] = [];
    const recycle = (b: Buffer) => {
      given.push(b);
      pool.give(b);
    };
    const out: Buffer[] = [];
    for await (const c of Readable.from(parts).pipe(new ParallelGzip({ recycle }))) out.push(c as Buffer);
    expect(Buffer.concat(out).equals(await gz(input, size))).toBe(true);
    // Every block was given back; the pool kept the five whole chunks and refused the partial last one.
    expect(given.length).toBe(6);
    const again = new Set(
      [pool.take(), pool.take(), pool.take(), pool.take(), pool.take()].map((b) => b.buffer),
    );
    expect(parts.slice(0, 5).every((p) => again.has(p.buffer))).toBe(true);
    expect(again.has(pool.take().buffer)).toBe(false);
  });
});
