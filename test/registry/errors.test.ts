import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BerthError } from "../../src/errors.ts";
import { networkError, parseErrorBody, responseError } from "../../src/registry/errors.ts";
import type { HttpResponse } from "../../src/registry/http.ts";

function response(status: number, url: string, body: string | Buffer = ""): HttpResponse {
  return { status, headers: {}, body: Readable.from([Buffer.from(body)]), url: new URL(url) };
}

const errors = (...entries: unknown[]) => JSON.stringify({ errors: entries });

describe("parseErrorBody", () => {
  it("keeps the entries that have a code", () => {
    const body = errors({ code: "DENIED", message: "no" }, { message: "no code" }, null, "x", { code: 7 });
    expect(parseErrorBody(Buffer.from(body))).toEqual([{ code: "DENIED", message: "no" }]);
  });

  it("is empty for a body that is not the distribution error document", () => {
    expect(parseErrorBody(Buffer.from("<html>bad gateway</html>"))).toEqual([]);
    expect(parseErrorBody(Buffer.from('{"errors":"DENIED"}'))).toEqual([]);
    expect(parseErrorBody(Buffer.from("[".repeat(5000)))).toEqual([]);
  });
});

describe("responseError", () => {
  it("maps the registry's first code, and names the step, the URL and its words", async () => {
    const err = await responseError(
      "pulling a/b:1",
      response(
        404,
        "http://127.0.0.1:5000/v2/a/b/blobs/sha256:00",
        errors({ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }, { code: "DENIED" }),
      ),
    );
    expect(err.code).toBe("REGISTRY_BLOB_UNKNOWN");
    expect(err.message).toBe(
      "pulling a/b:1: http://127.0.0.1:5000/v2/a/b/blobs/sha256:00 answered 404 (BLOB_UNKNOWN: blob unknown to registry; DENIED)",
    );
    expect(err.details).toMatchObject({
      status: 404,
      errors: [{ code: "BLOB_UNKNOWN" }, { code: "DENIED" }],
    });
  });

  it.each([
    ["MANIFEST_BLOB_UNKNOWN", 400, "REGISTRY_BLOB_UNKNOWN"],
    ["NAME_UNKNOWN", 404, "REGISTRY_NAME_UNKNOWN"],
    ["UNAUTHORIZED", 400, "REGISTRY_UNAUTHORIZED"],
    ["DENIED", 400, "REGISTRY_DENIED"],
    ["TOOMANYREQUESTS", 400, "REGISTRY_TOO_MANY_REQUESTS"],
    ["UNSUPPORTED", 401, "REGISTRY_UNAUTHORIZED"],
    ["UNSUPPORTED", 403, "REGISTRY_DENIED"],
    ["UNSUPPORTED", 429, "REGISTRY_TOO_MANY_REQUESTS"],
    ["UNSUPPORTED", 500, "REGISTRY_ERROR"],
  ])("maps %s with status %i to %s", async (code, status, want) => {
    const err = await responseError("s", response(status, "http://127.0.0.1:1/v2/", errors({ code })));
    expect(err.code).toBe(want);
  });

  it("falls back on the status when the body says nothing, giving the hint that fits", async () => {
    const denied = await responseError(
      "pushing",
      response(403, "http://127.0.0.1:1/v2/x/blobs/uploads/", "nope"),
    );
    expect([denied.code, denied.message, denied.hint]).toEqual([
      "REGISTRY_DENIED",
      "pushing: http://127.0.0.1:1/v2/x/blobs/uploads/ answered 403",
      "the credentials in use do not grant this access",
    ]);
    const auth = await responseError("p", response(401, "http://127.0.0.1:1/v2/"));
    expect(auth.hint).toBe("log in with `berth login` or check the stored credentials");
    const many = await responseError("p", response(429, "http://127.0.0.1:1/v2/"));
    expect(many.hint).toBe("the registry is rate-limiting; try again later");
    expect((await responseError("p", response(500, "http://127.0.0.1:1/v2/"))).hint).toBeUndefined();
  });

  it("hints at the tags for an unknown tag, not for an unknown digest", async () => {
    const body = errors({ code: "MANIFEST_UNKNOWN" });
    const tag = await responseError(
      "pulling",
      response(404, "http://127.0.0.1:5000/v2/team/app/manifests/v9", body),
    );
    expect(tag.code).toBe("REGISTRY_MANIFEST_UNKNOWN");
    expect(tag.hint).toBe("list the repository's tags: berth tags 127.0.0.1:5000/team/app");
    const digest = await responseError(
      "pulling",
      response(404, "http://127.0.0.1:5000/v2/team/app/manifests/sha256:ab", body),
    );
    expect(digest.hint).toBeUndefined();
  });

  it("removes credentials and secret query values from the URL it names", async () => {
    const err = await responseError("p", response(500, "http://u:pw@127.0.0.1:1/v2/x?_state=abc&n=1"));
    expect(err.message).toBe("p: http://127.0.0.1:1/v2/x?_state=REDACTED&n=1 answered 500");
    expect(err.message).not.toMatch(/pw|abc/);
  });

  it("reads no more than 64 KiB of the body", async () => {
    const big = errors({ code: "DENIED", message: "x".repeat(70 * 1024) });
    const err = await responseError("p", response(400, "http://127.0.0.1:1/v2/", big));
    expect([err.code, err.details.errors]).toEqual(["REGISTRY_ERROR", []]);
  });
});

describe("networkError", () => {
  it("is REGISTRY_UNREACHABLE naming the step, the redacted URL and the system's code", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    const err = networkError("pulling a", new URL("http://u:pw@127.0.0.1:1/v2/"), cause);
    expect([err.code, err.message, err.cause]).toEqual([
      "REGISTRY_UNREACHABLE",
      "pulling a: http://127.0.0.1:1/v2/: ECONNREFUSED connect ECONNREFUSED 127.0.0.1:1",
      cause,
    ]);
    expect(networkError("s", new URL("http://127.0.0.1:1/"), "gone").message).toBe(
      "s: http://127.0.0.1:1/: gone",
    );
  });

  it("passes a BerthError through unchanged", () => {
    const inner = new BerthError("DIGEST_MISMATCH", "x");
    expect(networkError("s", new URL("http://127.0.0.1:1/"), inner)).toBe(inner);
  });
});
