/** files/labels.ts: the lifecycle's JSON labels read with errors naming the image and the label. */
import { describe, expect, it } from "vitest";
import { LABEL, type LayersMetadata, parseJsonLabel } from "../../../src/cnb/files/labels.ts";

describe("parseJsonLabel", () => {
  it("reads a JSON object; a missing or empty label is undefined", () => {
    expect(parseJsonLabel<LayersMetadata>('{"app":[{"sha":"sha256:a"}]}', LABEL.lifecycle, "app:1")).toEqual({
      app: [{ sha: "sha256:a" }],
    });
    expect(parseJsonLabel(undefined, LABEL.lifecycle, "app:1")).toBeUndefined();
    expect(parseJsonLabel("", LABEL.lifecycle, "app:1")).toBeUndefined();
  });

  it("names the image and label of bad JSON and of JSON that is not an object", () => {
    expect(() => parseJsonLabel("{", LABEL.build, "app:1")).toThrow(
      expect.objectContaining({
        code: "CONFIG_INVALID",
        message: expect.stringMatching(/^app:1: label io\.buildpacks\.build\.metadata /),
      }),
    );
    expect(() => parseJsonLabel("[1]", LABEL.build, "app:1")).toThrow(
      "app:1: label io.buildpacks.build.metadata is not a JSON object",
    );
    expect(() => parseJsonLabel("null", LABEL.build, "app:1")).toThrow(/is not a JSON object$/);
  });
});
