/** files/report.ts: report.toml, what the export wrote, and its digest read back. */
import { describe, expect, it } from "vitest";
import { encodeReport, reportDigest } from "../../../src/cnb/files/report.ts";

describe("report.toml", () => {
  it("writes [image] with the lifecycle's key names", () => {
    expect(
      encodeReport({ tags: ["a:1", "a:latest"], digest: "sha256:d", imageId: "sha256:i", manifestSize: 712 }),
    ).toBe(
      '[image]\ntags = [ "a:1", "a:latest" ]\ndigest = "sha256:d"\nimage-id = "sha256:i"\nmanifest-size = 712\n',
    );
  });

  it("reads back the image digest; none without one; bad TOML names the file", () => {
    const origin = { file: "report.toml", code: "CNB_REBASE_FAILED" } as const;
    const text = encodeReport({ tags: ["a:1"], digest: "sha256:d", imageId: "", manifestSize: 1 });
    expect(reportDigest(text, origin)).toBe("sha256:d");
    expect(reportDigest("[image]\ntags = []\n", origin)).toBeUndefined();
    expect(() => reportDigest("[image", origin)).toThrow(
      expect.objectContaining({ code: "CNB_REBASE_FAILED", message: expect.stringContaining("report.toml") }),
    );
  });
});
