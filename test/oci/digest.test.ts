import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { chainIds, digestBytes, parseDigest, VerifyingStream } from "../../src/oci/digest.ts";

const hello = Buffer.from("hello");
const helloDigest = digestBytes(hello);

async function verify(bytes: Buffer, digest: string, size: number | undefined) {
  return buffer(
    Readable.from([bytes.subarray(0, 2), bytes.subarray(2)]).pipe(new VerifyingStream(digest, size, "blob")),
  );
}

describe("digests", () => {
  it("accepts sha256 and sha512 only", () => {
    expect(parseDigest(helloDigest).algorithm).toBe("sha256");
    expect(parseDigest(`sha512:${"0".repeat(128)}`).algorithm).toBe("sha512");
  });

  it.each([
    "sha256:abc",
    `sha256:${"A".repeat(64)}`,
    `sha512:${"0".repeat(64)}`,
    "sha256",
    ":abc",
    `SHA256:${"0".repeat(64)}`,
    `sha256:${"0".repeat(63)}g`,
    `sha384:${"0".repeat(96)}`,
    "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
  ])("refuses %s", (d) => {
    expect(() => parseDigest(d, "layers[0].digest")).toThrowError(/layers\[0\]\.digest/);
  });

  it("passes content that matches", async () => {
    expect((await verify(hello, helloDigest, 5)).toString()).toBe("hello");
  });

  it("fails at end of stream on a digest mismatch", async () => {
    const err = await verify(Buffer.from("hellO"), helloDigest, 5).catch((e) => e);
    expect(isBerthError(err, "DIGEST_MISMATCH")).toBe(true);
    expect(err.details.expected).toBe(helloDigest);
  });

  it("fails on a short or a long stream", async () => {
    expect(isBerthError(await verify(hello, helloDigest, 6).catch((e) => e), "SIZE_MISMATCH")).toBe(true);
    expect(isBerthError(await verify(hello, helloDigest, 4).catch((e) => e), "SIZE_MISMATCH")).toBe(true);
  });

  it("computes chain IDs as the image-spec defines them", () => {
    const a = digestBytes("a");
    const b = digestBytes("b");
    expect(chainIds([a, b])).toEqual([a, digestBytes(`${a} ${b}`)]);
  });
});
