/** image.ts: opening the images CNB works with, their JSON labels, and applying chosen layers to a folder. */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  applyImageLayers,
  labelJson,
  labelsOf,
  layerIndexOfDiffId,
  type OpenedImage,
  openImage,
} from "../../src/cnb/image.ts";
import { appendLayers } from "../../src/image/index.ts";
import { mutate } from "../../src/oci/mutate.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let ctx: { home: string; env: Record<string, string> };
let opened: OpenedImage;

/** An image of two layers in an OCI layout: /one/file, then /two/file and /one/file again. */
beforeAll(async () => {
  dir = await tempDir("berth-cnb-image-");
  ctx = { home: join(dir, "home"), env: {} };
  const layout = `oci:${join(dir, "layout")}`;
  for (const [i, name] of ["one", "two"].entries()) {
    const tree = join(dir, `tree-${name}`);
    await mkdir(join(tree, name), { recursive: true });
    await writeFile(join(tree, name, "file"), name);
    if (i === 1) {
      await mkdir(join(tree, "one"));
      await writeFile(join(tree, "one", "file"), "two over one");
    }
    await appendLayers(
      parseImageArgument(i === 0 ? "scratch" : `${layout}:one`, { allowScratch: true }),
      [{ source: tree, dest: "/" }],
      parseImageArgument(`${layout}:${name}`),
      ctx,
      { platform: { os: "linux", architecture: "amd64" } },
    );
  }
  opened = await openImage(`${layout}:two`, ctx);
  return () => opened.close();
});

describe("openImage", () => {
  it("opens an image by argument, keeping the text", () => {
    expect(opened.text).toBe(`oci:${join(dir, "layout")}:two`);
    expect(opened.image.layers()).toHaveLength(2);
  });

  it("names the image it cannot read", async () => {
    await expect(openImage(`oci:${join(dir, "layout")}:absent`, ctx)).rejects.toThrow(/absent/);
  });
});

describe("labels", () => {
  it("labelsOf is {} without labels; labelJson parses, is undefined when absent or empty, names the label of bad JSON", () => {
    const bare = mutate(undefined, {});
    expect(labelsOf(bare)).toEqual({});
    const img = mutate(undefined, {
      config: (c) => ({ ...c, Labels: { ok: '{"a":[1]}', empty: "", bad: "{" } }),
    });
    expect(labelsOf(img)).toEqual({ ok: '{"a":[1]}', empty: "", bad: "{" });
    expect(labelJson(img, "ok", "app")).toEqual({ a: [1] });
    expect(labelJson(img, "empty", "app")).toBeUndefined();
    expect(labelJson(img, "absent", "app")).toBeUndefined();
    expect(() => labelJson(img, "bad", "app")).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringMatching(/^app: label bad /) }),
    );
  });
});

describe("layers", () => {
  it("finds a layer by diffID and names the image when there is none", () => {
    const diffIds = opened.image.config!.rootfs.diff_ids;
    expect(layerIndexOfDiffId(opened.image, diffIds[1]!)).toBe(1);
    expect(() => layerIndexOfDiffId(opened.image, `sha256:${"0".repeat(64)}`)).toThrow(
      expect.objectContaining({
        code: "CNB_CONFIG_INVALID",
        message: `image ${opened.image.digest} has no layer with diffID sha256:${"0".repeat(64)}`,
      }),
    );
  });

  it("applies only the chosen layers, in the image's order", async () => {
    const root = join(dir, "root");
    await mkdir(root);
    await applyImageLayers(opened.image, [1], root);
    expect((await readdir(root)).sort()).toEqual(["one", "two"]);
    expect(await readFile(join(root, "two", "file"), "utf8")).toBe("two");
    const both = join(dir, "both");
    await mkdir(both);
    await applyImageLayers(opened.image, [1, 0], both);
    expect(await readFile(join(both, "one", "file"), "utf8")).toBe("two over one");
    await expect(applyImageLayers(opened.image, [5], root)).rejects.toThrow(
      `image ${opened.image.digest} has no layer 5`,
    );
  });
});
