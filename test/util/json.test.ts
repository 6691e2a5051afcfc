import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { parseJson } from "../../src/util/json.ts";

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("did not throw");
}

describe("parseJson", () => {
  it("parses text and bytes, including a view into a larger buffer", () => {
    expect(parseJson('{"a":[1,2]}', "x", "MANIFEST_INVALID")).toEqual({ a: [1, 2] });
    const big = Buffer.from('xx{"b":true}yy');
    expect(parseJson(big.subarray(2, 12), "x", "MANIFEST_INVALID")).toEqual({ b: true });
  });

  it("names the document and carries the caller's code for text that is not JSON", () => {
    const err = thrown(() => parseJson("{nope", "the manifest of a:b", "MANIFEST_INVALID"));
    expect(isBerthError(err, "MANIFEST_INVALID")).toBe(true);
    expect((err as Error).message).toMatch(/^the manifest of a:b is not valid JSON: /);
    expect((err as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it("does not quote the text of a secret document", () => {
    const err = thrown(() =>
      parseJson('{"token": s3cret', "the token answer", "REGISTRY_ERROR", { secret: true }),
    );
    expect((err as Error).message).toBe("the token answer is not valid JSON");
    expect((err as Error).cause).toBeUndefined();
  });

  it("accepts 1000 levels of nesting and refuses 1001 before parsing", () => {
    const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
    expect(() => parseJson(nest(1000), "x", "CONFIG_INVALID")).not.toThrow();
    const err = thrown(() => parseJson(nest(1001), "the config", "CONFIG_INVALID"));
    expect(isBerthError(err, "CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toBe("the config nests arrays or objects more than 1000 deep");
    // deep nesting that is not valid JSON is still refused by depth, never by the parser's stack
    expect((thrown(() => parseJson("{".repeat(100_000), "y", "CONFIG_INVALID")) as Error).message).toMatch(
      /more than 1000 deep/,
    );
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const inString = `["${"[".repeat(2000)}\\"${"{".repeat(2000)}"]`;
    expect(parseJson(inString, "x", "CONFIG_INVALID")).toEqual([`${"[".repeat(2000)}"${"{".repeat(2000)}`]);
  });

  it("measures the depth of a document with more brackets than the limit, wide or deep, [ and { mixed", () => {
    const wide = `[${Array.from({ length: 3000 }, (_, i) => (i % 2 ? "[1]" : '{"a":{}}')).join(",")}]`;
    expect((parseJson(wide, "x", "CONFIG_INVALID") as unknown[]).length).toBe(3000);
    const mixed = (n: number) => '{"a":['.repeat(n / 2) + "]}".repeat(n / 2);
    expect(() => parseJson(mixed(1000), "x", "CONFIG_INVALID")).not.toThrow();
    expect((thrown(() => parseJson(mixed(1002), "z", "CONFIG_INVALID")) as Error).message).toMatch(
      /more than 1000 deep/,
    );
  });
});
