/**
 * `extend-config.toml` as the generate phase reads it (src/cnb/phase/generate.ts `parseExtendConfig`, lc
 * `extend.ValidateConfig`). Running extensions' bin/generate is driven end to end by test/cnb/extensions.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parseExtendConfig } from "../../../src/cnb/phase/generate.ts";
import { thrown } from "../platform/helpers.ts";

describe("parseExtendConfig", () => {
  it("[[build.args]] and [[run.args]] in order; a value may be left out", () => {
    expect(
      parseExtendConfig(
        `[[build.args]]\nname = "A"\nvalue = "1"\n[[build.args]]\nname = "B"\n[[run.args]]\nname = "R"\nvalue = "r"\n`,
        "/l/generated/e/extend-config.toml",
        'extension "e"',
      ),
    ).toEqual({
      build: [
        { name: "A", value: "1" },
        { name: "B", value: "" },
      ],
      run: [{ name: "R", value: "r" }],
    });
    expect(parseExtendConfig("", "f", "s")).toEqual({ build: [], run: [] });
  });

  it("an arg without a name, or a value that is not a string: the sentence names the extension, file and field", () => {
    const failure = (text: string) =>
      thrown(() => parseExtendConfig(text, "/l/extend-config.toml", 'extension "e"'));
    expect(failure(`[[run.args]]\nvalue = "x"\n`)).toEqual({
      code: "CNB_EXTENSION_INVALID",
      message: 'extension "e": /l/extend-config.toml: run.args[0].name is required',
    });
    expect(failure(`[[build.args]]\nname = "A"\nvalue = 3\n`)).toEqual({
      code: "CNB_EXTENSION_INVALID",
      message: expect.stringMatching(
        /^extension "e": \/l\/extend-config\.toml: build\.args\[0\]\.value must be a string/,
      ),
    });
  });
});
