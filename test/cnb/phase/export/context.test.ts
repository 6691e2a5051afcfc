/** `addLayer` (src/cnb/phase/export/context.ts): the image's layers and history grow together, in order. */
import { describe, expect, it } from "vitest";
import { addLayer } from "../../../../src/cnb/phase/export/context.ts";
import type { AssembledLayer } from "../../../../src/oci/assemble.ts";
import { exportContext, exportInputs } from "../../../helpers/cnb-export.ts";

const layer = (n: number): AssembledLayer => ({
  descriptor: {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: `sha256:${String(n).repeat(64)}`,
    size: n,
  },
  diffId: `sha256:${String(n + 1).repeat(64)}`,
  from: { file: `/nowhere/${n}` },
});

describe("addLayer", () => {
  it("appends the layer and a history entry with the context's time, in the order added", async () => {
    const x = await exportContext((await exportInputs({ created: "2026-01-02T03:04:05Z" })).inputs);
    addLayer(x, layer(1), "Application Layer");
    addLayer(x, layer(2), "Buildpacks Application Launcher");
    expect(x.layers).toEqual([layer(1), layer(2)]);
    expect(x.history).toEqual([
      { created: "2026-01-02T03:04:05Z", created_by: "Application Layer" },
      { created: "2026-01-02T03:04:05Z", created_by: "Buildpacks Application Launcher" },
    ]);
  });

  it("a layer with no blob is an internal error naming it, and adds nothing", async () => {
    const x = await exportContext((await exportInputs()).inputs);
    expect(() => addLayer(x, undefined, "Application Layer")).toThrow(
      expect.objectContaining({ code: "INTERNAL", message: "export: layer 'Application Layer' has no blob" }),
    );
    expect(x.layers).toEqual([]);
    expect(x.history).toEqual([]);
  });
});
