/** The lifecycle's TOML bytes (BurntSushi/toml's encoder) for restored `store.toml` and `<layer>.toml`. */
import { describe, expect, it } from "vitest";
import { encodeGoToml, goFloat } from "../../src/cnb/gotoml.ts";

describe("encodeGoToml", () => {
  it("formats numbers as Go's FormatFloat(f, 'g', -1, 64) with a decimal point added", () => {
    expect([3, 1.5, 100, 123456, 1e6, 1234567, 0.0001, 0.00001, -2, 0, 1e21].map(goFloat)).toEqual([
      "3.0",
      "1.5",
      "100.0",
      "123456.0",
      "1e+06",
      "1.234567e+06",
      "0.0001",
      "1e-05",
      "-2.0",
      "0.0",
      "1e+21",
    ]);
  });

  it("sorts keys, writes values before sub-tables, indents each level and quotes as BurntSushi does", () => {
    const text = encodeGoToml({
      metadata: {
        version: "1.2",
        count: 3,
        flags: [true, false],
        "odd key": 'say "hi"\n',
        nested: { b: "x", a: { deep: 1 } },
        list: [{ name: "one" }, { name: "two" }],
        mixed: [1, "a"],
        inline: [{ k: "v" }, 2],
        nothing: null,
      },
    });
    expect(text).toBe(
      [
        "[metadata]",
        "  count = 3.0",
        "  flags = [true, false]",
        '  inline = [{k = "v"}, 2.0]',
        '  mixed = [1.0, "a"]',
        '  "odd key" = "say \\"hi\\"\\n"',
        '  version = "1.2"',
        "",
        "  [[metadata.list]]",
        '    name = "one"',
        "",
        "  [[metadata.list]]",
        '    name = "two"',
        "  [metadata.nested]",
        '    b = "x"',
        "    [metadata.nested.a]",
        "      deep = 1.0",
        "",
      ].join("\n"),
    );
    expect(encodeGoToml({ metadata: {} })).toBe("[metadata]\n");
  });
});
