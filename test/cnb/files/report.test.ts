/** files/report.ts: report.toml, what the export wrote. */
import { describe, expect, it } from "vitest";
import { encodeReport } from "../../../src/cnb/files/report.ts";

describe("report.toml", () => {
  it("writes [image] with the lifecycle's key names", () => {
    expect(
      encodeReport({ tags: ["a:1", "a:latest"], digest: "sha256:d", imageId: "sha256:i", manifestSize: 712 }),
    ).toBe(
      '[image]\ntags = [ "a:1", "a:latest" ]\ndigest = "sha256:d"\nimage-id = "sha256:i"\nmanifest-size = 712\n',
    );
  });
});
