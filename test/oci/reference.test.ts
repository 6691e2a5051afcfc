import { describe, expect, it } from "vitest";
import { familiarReference, normalizeReference, parseReference } from "../../src/oci/reference.ts";

const D = `sha256:${"a".repeat(64)}`;

describe("references", () => {
  it.each([
    ["app", "docker.io/library/app:latest"],
    ["app:1.2", "docker.io/library/app:1.2"],
    ["user/app", "docker.io/user/app:latest"],
    ["docker.io/app", "docker.io/library/app:latest"],
    ["index.docker.io/library/app:2", "docker.io/library/app:2"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/a/b:t", "localhost:5000/a/b:t"],
    ["127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"],
    ["[::1]:5000/app:t", "[::1]:5000/app:t"],
    ["ghcr.io/o/r/deep/path:v_1.0-rc", "ghcr.io/o/r/deep/path:v_1.0-rc"],
    [`app@${D}`, `docker.io/library/app@${D}`],
    [`app:1@${D}`, `docker.io/library/app:1@${D}`],
    ["a__b/c--d/e.f", "docker.io/a__b/c--d/e.f:latest"],
  ])("%s normalises to %s", (input, expected) => {
    expect(normalizeReference(input)).toBe(expected);
  });

  it.each([
    ["", "empty"],
    ["App", "lowercase"],
    ["app:", "tag"],
    ["app:-x", "tag"],
    ["app@sha256:abc", "digest"],
    [`app@sha256:${"A".repeat(64)}`, "digest"],
    ["a//b", "path component"],
    ["-app", "path component"],
    ["app_", "path component"],
    [`app:${"t".repeat(129)}`, "tag"],
    ["bad_host.example:x/app", "registry"],
  ])("refuses %j, naming the %s", (input, what) => {
    expect(() => parseReference(input)).toThrowError(new RegExp(`image reference .*invalid.*${what}`, "i"));
  });

  it("prints docker's familiar form", () => {
    expect(familiarReference(parseReference("app"))).toBe("app:latest");
    expect(familiarReference(parseReference("user/app:1"))).toBe("user/app:1");
    expect(familiarReference(parseReference("localhost:5000/x"))).toBe("localhost:5000/x:latest");
  });
});
