import { describe, expect, it } from "vitest";
import { BerthError, isBerthError, wrapError } from "../src/errors.ts";

describe("BerthError", () => {
  it("keeps its code, hint, details and cause", () => {
    const cause = new Error("under");
    const err = new BerthError("DIGEST_MISMATCH", "blob x is wrong", {
      cause,
      hint: "pull again",
      details: { expected: "sha256:a" },
    });
    expect(err).toBeInstanceOf(Error);
    expect([err.name, err.code, err.message, err.hint]).toEqual([
      "BerthError",
      "DIGEST_MISMATCH",
      "blob x is wrong",
      "pull again",
    ]);
    expect(err.details).toEqual({ expected: "sha256:a" });
    expect(err.cause).toBe(cause);
  });

  it("has empty details, no hint and no cause property when none is given", () => {
    const err = new BerthError("IO", "x");
    expect(err.details).toEqual({});
    expect(err.hint).toBeUndefined();
    expect(Object.hasOwn(err, "cause")).toBe(false);
  });
});

describe("isBerthError", () => {
  it("matches any BerthError without a code, and only that code with one", () => {
    const err = new BerthError("USAGE", "x");
    expect(isBerthError(err)).toBe(true);
    expect(isBerthError(err, "USAGE")).toBe(true);
    expect(isBerthError(err, "IO")).toBe(false);
    expect(isBerthError(new Error("x"))).toBe(false);
    expect(isBerthError(Object.assign(new Error("x"), { code: "USAGE" }), "USAGE")).toBe(false);
  });
});

describe("wrapError", () => {
  it("prefixes the step to a BerthError, keeping code, hint and details", () => {
    const inner = new BerthError("BLOB_NOT_FOUND", "blob sha256:ab is missing", {
      hint: "pull it",
      details: { digest: "sha256:ab" },
    });
    const err = wrapError("copying to oci:out", inner);
    expect(err.message).toBe("copying to oci:out: blob sha256:ab is missing");
    expect([err.code, err.hint, err.details, err.cause]).toEqual([
      "BLOB_NOT_FOUND",
      "pull it",
      { digest: "sha256:ab" },
      inner,
    ]);
  });

  it("makes a system call's error an IO error", () => {
    const sys = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      syscall: "write",
    });
    const err = wrapError("writing x", sys);
    expect([err.code, err.message, err.cause]).toEqual([
      "IO",
      "writing x: ENOSPC: no space left on device, write",
      sys,
    ]);
  });

  it("makes anything else INTERNAL, a code without a syscall included", () => {
    expect(wrapError("a", Object.assign(new Error("b"), { code: "ERR_X" })).code).toBe("INTERNAL");
    const err = wrapError("step", "a string");
    expect([err.code, err.message]).toEqual(["INTERNAL", "step: a string"]);
  });
});
