/** The tar writer's chunk pool: chunks lent and given back, reused only when whole and really lent. */
import { expect, it } from "vitest";
import { ChunkPool } from "../../src/layer/chunks.ts";

it("reuses a chunk given back, and keeps at most `keep` free ones", () => {
  const pool = new ChunkPool(1024, 1);
  const a = pool.take();
  const b = pool.take();
  expect([a.length, b.length]).toEqual([1024, 1024]);
  expect(a.buffer).not.toBe(b.buffer);
  pool.give(a);
  pool.give(b); // over `keep`: dropped
  const c = pool.take();
  expect(c.buffer).toBe(a.buffer);
  expect(pool.take().buffer).not.toBe(b.buffer);
});

it("ignores parts of chunks, foreign buffers and chunks given back twice", () => {
  const pool = new ChunkPool(1024, 8);
  const a = pool.take();
  pool.give(a.subarray(0, 512));
  pool.give(a.subarray(1));
  const foreign = Buffer.alloc(1024);
  pool.give(foreign);
  const next = pool.take();
  expect(next.buffer).not.toBe(a.buffer);
  expect(next.buffer).not.toBe(foreign.buffer);
  // A view of all of it counts as the chunk; given twice, it is reused once.
  pool.give(Buffer.from(a.buffer, 0, 1024));
  pool.give(a);
  const first = pool.take();
  const second = pool.take();
  expect(first.buffer).toBe(a.buffer);
  expect(second.buffer).not.toBe(a.buffer);
});

it("keep 0: every chunk is new", () => {
  const pool = new ChunkPool(16, 0);
  const a = pool.take();
  pool.give(a);
  expect(pool.take().buffer).not.toBe(a.buffer);
});
