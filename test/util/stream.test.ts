import { PassThrough, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { chain } from "../../src/util/stream.ts";

describe("chain", () => {
  it("returns the transform, carrying the source's bytes", async () => {
    const t = new PassThrough();
    expect(chain(Readable.from(["a", "b"]), t)).toBe(t);
    expect(await text(t)).toBe("ab");
  });

  it("passes the source's error on to the transform", async () => {
    const src = new Readable({ read() {} });
    const out = chain(src, new PassThrough());
    src.destroy(new Error("disk went away"));
    await expect(text(out)).rejects.toThrow("disk went away");
  });

  it("destroys an unfinished source when the transform closes first", async () => {
    const src = new Readable({ read() {} });
    const t = chain(src, new PassThrough());
    t.destroy();
    await new Promise((r) => t.once("close", r));
    expect(src.destroyed).toBe(true);
  });
});
