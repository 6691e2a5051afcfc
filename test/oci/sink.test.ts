import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../src/oci/layout/sink.ts";
import { hasCommitted, type ImageSink } from "../../src/oci/sink.ts";
import { tempDir } from "../helpers/temp.ts";

describe("hasCommitted", () => {
  it("finds the no-change check on a layout's sink, and not on a sink without one", async () => {
    const layout = await OciLayout.openOrCreate(join(await tempDir(), "layout"));
    expect(hasCommitted(new LayoutSink(layout, "t"))).toBe(true);
    const plain: ImageSink = {
      hasBlob: async () => false,
      putBlob: async () => "written",
      putManifest: async () => undefined,
      commit: async () => undefined,
      close: async () => undefined,
    };
    expect(hasCommitted(plain)).toBe(false);
  });
});
