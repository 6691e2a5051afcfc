/**
 * src/cli/exit.ts: the exit code of each error family, as the README's "Exit codes" table documents them.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT, exitCodeFor } from "../../src/cli/exit.ts";
import type { ErrorCode } from "../../src/errors.ts";

const FAMILIES: [number, ErrorCode[]][] = [
  [2, ["USAGE", "REFERENCE_INVALID", "PLATFORM_INVALID", "TRANSPORT_INVALID", "TRANSPORT_UNSUPPORTED"]],
  [
    3,
    [
      "IMAGE_NOT_FOUND",
      "BLOB_NOT_FOUND",
      "PLATFORM_NOT_FOUND",
      "REGISTRY_MANIFEST_UNKNOWN",
      "USER_NOT_FOUND",
    ],
  ],
  [
    4,
    ["DIGEST_MISMATCH", "SIZE_MISMATCH", "MANIFEST_INVALID", "LAYOUT_INVALID", "LAYER_UNSAFE", "UNSAFE_PATH"],
  ],
  [5, ["REGISTRY_UNAUTHORIZED", "REGISTRY_DENIED"]],
  [6, ["REGISTRY_TOO_MANY_REQUESTS", "REGISTRY_ERROR", "REGISTRY_UNREACHABLE"]],
  [7, ["RUNTIME_NOT_FOUND", "RUNTIME_FAILED", "EMULATION_UNAVAILABLE"]],
  [1, ["STORE_LOCKED", "CNB_BUILD_FAILED", "CONTAINER_NOT_FOUND", "REGISTRY_CREDENTIALS"]],
];

describe("exitCodeFor", () => {
  it.each(FAMILIES)("gives %i to its family", (exit, codes) => {
    expect(codes.map((c) => [c, exitCodeFor(c)])).toEqual(codes.map((c) => [c, exit]));
  });
});

describe("EXIT", () => {
  it("has the codes of the README's table, no more and no fewer", async () => {
    const readme = await readFile(resolve(import.meta.dirname, "../../README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Exit codes"));
    const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| code |")));
    const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(Object.values(EXIT));
  });
});
