import { describe, expect, it } from "vitest";
import { blobPath, digestOfBlobPath } from "../../../src/oci/archive/blobpath.ts";
import { digestBytes } from "../../../src/oci/digest.ts";
import { errorOf } from "../../helpers/oci.ts";

const d = digestBytes("x");
const hex = d.slice("sha256:".length);

describe("blobPath", () => {
  it("maps a digest to blobs/<algorithm>/<encoded>", () => {
    expect(blobPath(d)).toBe(`blobs/sha256/${hex}`);
  });

  it("refuses an invalid digest rather than building a path from it", async () => {
    expect((await errorOf(() => blobPath("sha256:../../etc"))).code).toBe("DIGEST_INVALID");
  });
});

describe("digestOfBlobPath", () => {
  it("reads the digest back from a blob path", () => {
    expect(digestOfBlobPath(`blobs/sha256/${hex}`)).toBe(d);
    expect(digestOfBlobPath(blobPath(`sha512:${"a".repeat(128)}`))).toBe(`sha512:${"a".repeat(128)}`);
  });

  it.each([
    ["another folder", `other/sha256/${hex}`],
    ["a nested path", `blobs/sha256/${hex}/x`],
    ["a short hex", "blobs/sha256/abc"],
    ["an algorithm berth cannot verify", `blobs/md5/${hex}`],
    ["the blobs folder itself", "blobs/sha256"],
    ["index.json", "index.json"],
  ])("is undefined for %s", (_why, path) => {
    expect(digestOfBlobPath(path)).toBeUndefined();
  });
});
