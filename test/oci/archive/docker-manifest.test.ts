import { describe, expect, it } from "vitest";
import { parseDockerManifest } from "../../../src/oci/archive/docker-manifest.ts";
import { errorOf } from "../../helpers/oci.ts";

const parse = (doc: unknown) => parseDockerManifest(Buffer.from(JSON.stringify(doc)), "in.tar");

describe("parseDockerManifest", () => {
  it("reads entries, keeping unknown fields and defaulting RepoTags and Layers to empty", () => {
    const out = parse([
      { Config: "c.json", RepoTags: ["a:1"], Layers: ["l/layer.tar"], LayerSources: { x: 1 }, Extra: true },
      { Config: "d.json", RepoTags: null, Layers: null },
    ]);
    expect(out).toEqual([
      { Config: "c.json", RepoTags: ["a:1"], Layers: ["l/layer.tar"], LayerSources: { x: 1 }, Extra: true },
      { Config: "d.json", RepoTags: [], Layers: [] },
    ]);
  });

  it.each([
    [{ Config: "c" }, "manifest.json must be a JSON array"],
    [[1], "manifest.json[0] must be an object"],
    [[{ Config: "" }], "manifest.json[0].Config must be a file name"],
    [[{ Config: "c" }, { Layers: [] }], "manifest.json[1].Config must be a file name"],
    [[{ Config: "c", RepoTags: "a:1" }], "manifest.json[0].RepoTags must be an array of strings"],
    [[{ Config: "c", RepoTags: [1] }], "manifest.json[0].RepoTags must be an array of strings"],
    [[{ Config: "c", Layers: [""] }], "manifest.json[0].Layers must be an array of file names"],
    [[{ Config: "c", Layers: {} }], "manifest.json[0].Layers must be an array of file names"],
  ])("refuses %j: %s", async (doc, why) => {
    const err = await errorOf(() => parse(doc));
    expect(err.code).toBe("ARCHIVE_INVALID");
    expect(err.message).toBe(`archive in.tar: ${why}`);
    expect(err.details).toEqual({ archive: "in.tar", entry: "manifest.json" });
  });

  it("refuses bytes that are not JSON, naming the archive's manifest.json", async () => {
    const err = await errorOf(() => parseDockerManifest(Buffer.from("[{"), "in.tar"));
    expect(err.code).toBe("ARCHIVE_INVALID");
    expect(err.message).toMatch(/^archive in\.tar: manifest\.json /);
  });
});
