import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import {
  type BlobSource,
  hasBlobRange,
  hasWrittenFiles,
  isRemote,
  MAX_DOCUMENT_SIZE,
  readDocument,
  verified,
} from "../../src/oci/blob.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { errorOf } from "../helpers/oci.ts";

const bytes = Buffer.from('{"a":1}');
const desc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestBytes(bytes), size: bytes.length };

/** A source serving fixed bytes for every descriptor, counting how it was asked. */
function source(content: Buffer, withRead: boolean) {
  const calls: string[] = [];
  const s: BlobSource = {
    async openBlob() {
      calls.push("open");
      return Readable.from([content]);
    },
  };
  if (withRead) {
    s.readBlob = async () => {
      calls.push("read");
      return content;
    };
  }
  return { s, calls };
}

describe("readDocument", () => {
  it("reads through readBlob when the source has it, else through openBlob", async () => {
    const withRead = source(bytes, true);
    expect((await readDocument(withRead.s, desc, "config")).equals(bytes)).toBe(true);
    expect(withRead.calls).toEqual(["read"]);
    const streamOnly = source(bytes, false);
    expect((await readDocument(streamOnly.s, desc, "config")).equals(bytes)).toBe(true);
    expect(streamOnly.calls).toEqual(["open"]);
  });

  it("uses embedded data without asking the source, verified", async () => {
    const { s, calls } = source(Buffer.from("other"), true);
    const got = await readDocument(s, { ...desc, data: bytes.toString("base64") }, "config");
    expect(got.equals(bytes)).toBe(true);
    expect(calls).toEqual([]);
    const err = await errorOf(() =>
      readDocument(s, { ...desc, data: Buffer.from('{"a":2}').toString("base64") }, "config"),
    );
    expect(err.code).toBe("DIGEST_MISMATCH");
  });

  it("refuses a document larger than the limit before reading it", async () => {
    const { s, calls } = source(bytes, true);
    const err = await errorOf(() => readDocument(s, { ...desc, size: MAX_DOCUMENT_SIZE + 1 }, "manifest"));
    expect(err.code).toBe("MANIFEST_INVALID");
    expect(err.message).toBe(
      `manifest ${desc.digest} is ${MAX_DOCUMENT_SIZE + 1} bytes, more than the ${MAX_DOCUMENT_SIZE} allowed`,
    );
    expect(calls).toEqual([]);
  });
});

describe("verified", () => {
  it("passes the described content", async () => {
    expect((await buffer(verified(Readable.from([bytes]), desc, "blob"))).equals(bytes)).toBe(true);
  });

  it("fails at end of stream on other content, naming what", async () => {
    const other = Buffer.from('{"a":2}');
    const err = await errorOf(() => buffer(verified(Readable.from([other]), desc, "blob x")));
    expect(err.code).toBe("DIGEST_MISMATCH");
    expect(err.message).toContain("blob x");
  });

  it("returns a stream that already verifies this descriptor as it is, and wraps one that verifies another", async () => {
    const once = verified(Readable.from([bytes]), desc, "blob");
    expect(verified(once, desc, "blob")).toBe(once);
    const longer = verified(once, { ...desc, size: desc.size + 1 }, "blob y");
    expect(longer).not.toBe(once);
    const err = await errorOf(() => buffer(longer));
    expect([err.code, err.message]).toEqual([
      "SIZE_MISMATCH",
      `blob y has ${desc.size} bytes where ${desc.size + 1} were expected`,
    ]);
  });
});

describe("fast-path guards", () => {
  it("find blobRange and writtenFile by their methods", () => {
    const plain = source(bytes, false).s;
    expect([hasBlobRange(plain), hasWrittenFiles(plain), hasBlobRange(undefined)]).toEqual([
      false,
      false,
      false,
    ]);
    const ranged = { ...plain, blobRange: async () => undefined, writtenFile: () => undefined };
    expect([hasBlobRange(ranged), hasWrittenFiles(ranged)]).toEqual([true, true]);
    expect([isRemote(plain), isRemote({ ...plain, loopback: false }), isRemote(undefined)]).toEqual([
      false,
      true,
      false,
    ]);
  });
});
