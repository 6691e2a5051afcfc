/**
 * The image-extension Dockerfile rules (src/cnb/phase/extend.ts `checkDockerfile`, lc
 * `ValidateBuildDockerfile`/`ValidateRunDockerfile`) on Dockerfiles parsed by berth's own parser. Applying them
 * (extendImage) needs the Dockerfile engine and runc: test/cnb/extensions.test.ts drives it.
 */
import { describe, expect, it } from "vitest";
import { dockerfileEngine } from "../../../src/api/dockerfile-engine.ts";
import { checkDockerfile } from "../../../src/cnb/phase/extend.ts";

// biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile text an extension must write, not a template
const BASE = "${base_image}";
const engine = dockerfileEngine({ home: "/nonexistent", env: {} }, {});

function check(text: string, kind: "build" | "run", api = "0.10") {
  const warnings: string[] = [];
  try {
    const r = checkDockerfile(engine.parse(text, `${kind}.Dockerfile`), kind, "my/ext", api, (l) =>
      warnings.push(l),
    );
    return { r, warnings };
  } catch (e) {
    const err = e as { code?: string; message: string; hint?: string };
    return { code: err.code, message: err.message, hint: err.hint, warnings };
  }
}

describe("build.Dockerfile", () => {
  it(`ARG base_image then FROM ${BASE}: extends; uncommon instructions are warned about with their line`, () => {
    expect(check(`ARG base_image\nFROM ${BASE}\nRUN true\nEXPOSE 80\n`, "build")).toEqual({
      r: { extend: true },
      warnings: ["build.Dockerfile command EXPOSE on line 4 is not recommended"],
    });
  });

  it("a missing or extra ARG, another base, a second stage: one sentence naming the extension, file and line", () => {
    expect(check(`FROM ${BASE}\n`, "build")).toMatchObject({
      code: "CNB_EXTENSION_INVALID",
      message:
        'extension "my/ext": build.Dockerfile line 1: must start with `ARG base_image` (and no other ARG before FROM)',
      hint: expect.stringContaining("image extension rules"),
    });
    expect(check(`ARG base_image\nARG other\nFROM ${BASE}\n`, "build")).toMatchObject({
      message: expect.stringContaining("build.Dockerfile line 1: must start with `ARG base_image`"),
    });
    expect(check("ARG base_image\nFROM busybox\n", "build")).toMatchObject({
      message: `extension "my/ext": build.Dockerfile line 2: must use \`FROM ${BASE}\``,
    });
    expect(check(`ARG base_image\nFROM ${BASE}\nRUN true\nFROM ${BASE}\n`, "build")).toMatchObject({
      message:
        'extension "my/ext": build.Dockerfile line 4: a second FROM is not allowed (an extension\'s Dockerfile has one stage)',
    });
  });
});

describe("run.Dockerfile", () => {
  it("FROM another image only switches the run image; instructions after FROM extend it", () => {
    expect(check("FROM run/other:1\n", "run").r).toEqual({ withBase: "run/other:1", extend: false });
    expect(check(`ARG base_image\nFROM ${BASE}\nUSER root\n`, "run").r).toEqual({ extend: true });
  });

  it("Buildpack API 0.9 extensions may only switch the run image", () => {
    expect(check("FROM run/other:1\nRUN true\n", "run", "0.9")).toMatchObject({
      code: "CNB_EXTENSION_INVALID",
      message:
        'extension "my/ext": run.Dockerfile line 2: may only hold FROM for Buildpack API 0.9 extensions',
    });
    expect(check("FROM run/other:1\n", "run", "0.9").r).toEqual({ withBase: "run/other:1", extend: false });
  });

  it("no FROM at all is named without a line", () => {
    expect(() =>
      checkDockerfile({ globalArgs: [], stages: [] }, "run", "e", "0.10", () => undefined),
    ).toThrow('extension "e": run.Dockerfile: has no FROM instruction (it needs one stage)');
  });
});
