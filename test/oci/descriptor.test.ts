import { describe, expect, it } from "vitest";
import { isObject, validateDescriptor, validateStringMap } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { errorOf } from "../helpers/oci.ts";

const digest = digestBytes("{}");
const good = { mediaType: "application/vnd.oci.image.config.v1+json", digest, size: 2 };

describe("validateDescriptor", () => {
  it("returns the value itself, unknown fields kept", () => {
    const d = {
      ...good,
      annotations: { a: "b" },
      urls: ["u"],
      artifactType: "x/y",
      extra: [1],
      data: "e30=",
    };
    expect(validateDescriptor(d, "m.config")).toBe(d);
  });

  it.each([
    ["m.config must be an object", []],
    ["m.config.mediaType must be a non-empty string", { ...good, mediaType: "" }],
    ['m.config.mediaType "json" is not a media type', { ...good, mediaType: "json" }],
    ['m.config.mediaType "a/b c" is not a media type', { ...good, mediaType: "a/b c" }],
    ["m.config.size must be a non-negative integer", { ...good, size: -1 }],
    ["m.config.size must be a non-negative integer", { ...good, size: 1.5 }],
    ["m.config.size must be a non-negative integer", { ...good, size: "2" }],
    ["m.config.urls must be an array of strings", { ...good, urls: "u" }],
    ['m.config.annotations["a"] must be a string', { ...good, annotations: { a: 1 } }],
    ["m.config.artifactType must be a string", { ...good, artifactType: 1 }],
    ["m.config.data must be base64", { ...good, data: "not base64!" }],
    ["m.config.platform.architecture must be a string", { ...good, platform: { os: "linux" } }],
  ])("%s", async (message, value) => {
    const err = await errorOf(() => validateDescriptor(value, "m.config"));
    expect(err.code).toBe("MANIFEST_INVALID");
    expect(err.message).toBe(message);
  });

  it("refuses a bad digest as MANIFEST_INVALID, naming the field", async () => {
    const err = await errorOf(() => validateDescriptor({ ...good, digest: "sha256:abc" }, "m.layers[1]"));
    expect(err.code).toBe("MANIFEST_INVALID");
    expect(err.message).toMatch(/^m\.layers\[1\]\.digest "sha256:abc" is not a valid/);
    expect((err.cause as { code: string }).code).toBe("DIGEST_INVALID");
    expect(err.details.digest).toBe("sha256:abc");
  });

  it("refuses embedded data that does not match the digest or size", async () => {
    const wrong = await errorOf(() =>
      validateDescriptor({ ...good, data: Buffer.from("[]").toString("base64") }, "d"),
    );
    expect(wrong.code).toBe("MANIFEST_INVALID");
    expect(wrong.message).toMatch(/^d\.data/);
    expect((wrong.cause as { code: string }).code).toBe("DIGEST_MISMATCH");
    const short = await errorOf(() => validateDescriptor({ ...good, size: 3, data: "e30=" }, "d"));
    expect((short.cause as { code: string }).code).toBe("SIZE_MISMATCH");
  });
});

describe("validateStringMap", () => {
  it("passes undefined and a map of strings", () => {
    expect(validateStringMap(undefined, "a")).toBeUndefined();
    expect(validateStringMap({ k: "v" }, "a")).toEqual({ k: "v" });
  });

  it("refuses an array, naming the field", async () => {
    expect((await errorOf(() => validateStringMap(["v"], "m.annotations"))).message).toBe(
      "m.annotations must be an object of strings",
    );
  });
});

describe("isObject", () => {
  it("is true of plain objects only", () => {
    expect([{}, [], null, "x", 1, undefined].map(isObject)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
