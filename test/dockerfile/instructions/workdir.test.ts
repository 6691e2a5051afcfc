/** WORKDIR: the config's working directory and the layer making it (src/dockerfile/instructions/workdir.ts). */
import { describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp.ts";
import { failureOf } from "../helpers/failure.ts";
import { layerEntries, scratchBuild } from "../helpers/scratch.ts";

describe("WORKDIR", () => {
  it("resolves against the previous one; a layer per WORKDIR but /, its directories the USER's", async () => {
    const dir = await tempDir();
    const { image } = await scratchBuild(
      dir,
      dir,
      "FROM scratch\nARG SUB=c\nWORKDIR /a/b\nWORKDIR /\nUSER 1000:100\nWORKDIR ../x/$SUB\n",
    );
    expect(image.config?.config?.WorkingDir).toBe("/x/c");
    expect(image.layers()).toHaveLength(2);
    expect(await layerEntries(image, 0)).toEqual(["a dir 755 0:0", "a/b dir 755 0:0"]);
    expect(await layerEntries(image, 1)).toEqual(["x dir 755 1000:100", "x/c dir 755 1000:100"]);
    expect(image.config?.history?.map((h) => h.created_by)).toEqual([
      "ARG SUB=c",
      "WORKDIR /a/b",
      "WORKDIR /",
      "USER 1000:100",
      "WORKDIR /x/c",
    ]);
  });

  it("an existing directory gets an empty layer; an empty path is refused", async () => {
    const dir = await tempDir();
    const { image } = await scratchBuild(dir, dir, "FROM scratch\nWORKDIR /w\nWORKDIR /w\n");
    expect(await layerEntries(image, 1)).toEqual([]);
    const f = await failureOf(scratchBuild(dir, dir, 'FROM scratch\nWORKDIR ""\n'));
    expect([f.code, f.message]).toEqual([
      "DOCKERFILE_SYNTAX",
      `Dockerfile:2: WORKDIR "": WORKDIR needs a path`,
    ]);
  });
});
