/**
 * buildpack/load.ts: buildpacks from a folder, a /cnb/buildpacks tree, an archive, and an image's
 * io.buildpacks.buildpack.layers, with errors naming the source.
 */
import { execFile } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import {
  loadBuildpacks,
  readBuildpackArchive,
  readBuildpackDir,
  readBuildpacksFromImage,
  scanBuildpacksDir,
} from "../../../src/cnb/buildpack/load.ts";
import { openImage } from "../../../src/cnb/image.ts";
import { appendLayers } from "../../../src/image/index.ts";
import { mutate } from "../../../src/oci/mutate.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";

const tar = promisify(execFile);
const toml = (id: string, version: string) =>
  `api = "0.10"\n[buildpack]\nid = "${id}"\nversion = "${version}"\n`;

let dir: string;
let tmp: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-load-");
  tmp = join(dir, "tmp");
  await mkdir(tmp);
});

async function buildpackDir(at: string, id: string, version: string): Promise<string> {
  await mkdir(at, { recursive: true });
  await writeFile(join(at, "buildpack.toml"), toml(id, version));
  return at;
}

describe("readBuildpackDir and scanBuildpacksDir", () => {
  it("read a folder and every <id>/<version> of a tree, skipping folders without buildpack.toml", async () => {
    const root = join(dir, "buildpacks");
    await buildpackDir(join(root, "b_x", "2.0.0"), "b/x", "2.0.0");
    await buildpackDir(join(root, "a", "1.0.0"), "a", "1.0.0");
    await mkdir(join(root, "a", "junk"));
    const found = await scanBuildpacksDir(root, "builder b");
    expect(found.map((b) => [b.descriptor.buildpack.id, b.source])).toEqual([
      ["a", "builder b (a/1.0.0)"],
      ["b/x", "builder b (b_x/2.0.0)"],
    ]);
    expect(await scanBuildpacksDir(join(dir, "none"), "b")).toEqual([]);
  });

  it("name a folder without buildpack.toml, and refuse a buildpack.toml linked out of the folder", async () => {
    await expect(readBuildpackDir(dir, "src")).rejects.toMatchObject({
      code: "CNB_BUILDPACK_INVALID",
      message: `buildpack at src: ${dir}/buildpack.toml cannot be read: no such file`,
    });
    const outside = await tempDir("berth-cnb-load-out-");
    await writeFile(join(outside, "buildpack.toml"), toml("a", "1.0.0"));
    await mkdir(join(dir, "linked"));
    await symlink(join(outside, "buildpack.toml"), join(dir, "linked", "buildpack.toml"));
    await expect(readBuildpackDir(join(dir, "linked"), "src")).rejects.toMatchObject({ code: "UNSAFE_PATH" });
  });
});

describe("readBuildpackArchive", () => {
  it("reads a buildpack at the top or in the one top folder", async () => {
    await buildpackDir(join(dir, "src", "bp"), "a", "1.0.0");
    await tar("tar", ["-czf", join(dir, "top.tgz"), "-C", join(dir, "src", "bp"), "."]);
    await tar("tar", ["-cf", join(dir, "nested.tar"), "-C", join(dir, "src"), "bp"]);
    expect((await readBuildpackArchive(join(dir, "top.tgz"), tmp)).source).toBe(join(dir, "top.tgz"));
    expect((await readBuildpackArchive(join(dir, "nested.tar"), tmp)).descriptor.buildpack.id).toBe("a");
  });

  it("says when the archive is an OCI layout or holds no buildpack.toml at its top", async () => {
    await mkdir(join(dir, "layout"));
    await writeFile(join(dir, "layout", "oci-layout"), "{}");
    await writeFile(join(dir, "layout", "index.json"), "{}");
    await tar("tar", ["-cf", join(dir, "layout.tar"), "-C", join(dir, "layout"), "."]);
    await expect(readBuildpackArchive(join(dir, "layout.tar"), tmp)).rejects.toMatchObject({
      code: "CNB_BUILDPACK_INVALID",
      message: `buildpack archive ${dir}/layout.tar is an OCI layout`,
    });
    await mkdir(join(dir, "two", "a"), { recursive: true });
    await buildpackDir(join(dir, "two", "b"), "b", "1.0.0");
    await tar("tar", ["-cf", join(dir, "two.tar"), "-C", join(dir, "two"), "."]);
    await expect(readBuildpackArchive(join(dir, "two.tar"), tmp)).rejects.toThrow(
      `buildpack archive ${dir}/two.tar holds no buildpack.toml at its top`,
    );
  });
});

describe("loadBuildpacks", () => {
  const ctx = () => ({ home: join(dir, "home"), env: {} });

  it("takes a relative folder, a file:// URI and an archive path", async () => {
    await buildpackDir(join(dir, "bp"), "a", "1.0.0");
    await tar("tar", ["-czf", join(dir, "bp.tgz"), "-C", join(dir, "bp"), "."]);
    const o = { relativeTo: dir, ctx: ctx(), tmp };
    expect((await loadBuildpacks("bp", o)).map((b) => b.dir)).toEqual([join(dir, "bp")]);
    expect((await loadBuildpacks(`file://${join(dir, "bp")}`, o))[0]?.descriptor.buildpack.id).toBe("a");
    expect((await loadBuildpacks("./bp.tgz", o))[0]?.source).toBe(join(dir, "bp.tgz"));
  });

  it("names a missing path and refuses HTTP downloads with a hint", async () => {
    const o = { relativeTo: dir, ctx: ctx(), tmp };
    await expect(loadBuildpacks("./none", o)).rejects.toMatchObject({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: `buildpack ./none: ${dir}/none does not exist`,
    });
    await expect(loadBuildpacks("https://example.test/bp.tgz", o)).rejects.toMatchObject({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: "buildpack https://example.test/bp.tgz: downloading buildpacks over HTTP is not supported",
      hint: "download the .tgz and give its path, or use a buildpackage image",
    });
  });
});

describe("readBuildpacksFromImage", () => {
  it("extracts the buildpacks the label names, the package's main buildpack first", async () => {
    const tree = join(dir, "tree");
    await buildpackDir(join(tree, "cnb", "buildpacks", "a", "1.0.0"), "a", "1.0.0");
    await buildpackDir(join(tree, "cnb", "buildpacks", "z_main", "2.0.0"), "z/main", "2.0.0");
    const layout = `oci:${join(dir, "layout")}:pkg`;
    const ctx = { home: join(dir, "home"), env: {} };
    await appendLayers(
      parseImageArgument("scratch", { allowScratch: true }),
      [{ source: tree, dest: "/" }],
      parseImageArgument(layout),
      ctx,
      { platform: { os: "linux", architecture: "amd64" } },
    );
    const opened = await openImage(layout, ctx);
    try {
      const diff = opened.image.config!.rootfs.diff_ids[0]!;
      const labels = {
        "io.buildpacks.buildpack.layers": JSON.stringify({
          a: { "1.0.0": { api: "0.10", layerDiffID: diff } },
          "z/main": { "2.0.0": { api: "0.10", layerDiffID: diff } },
        }),
        "io.buildpacks.buildpackage.metadata": JSON.stringify({ id: "z/main", version: "2.0.0" }),
      };
      const pkg = mutate(opened.image, { config: (c) => ({ ...c, Labels: labels }) });
      const loaded = await readBuildpacksFromImage(pkg, "pkg", tmp);
      expect(loaded.map((b) => [b.descriptor.buildpack.id, b.source])).toEqual([
        ["z/main", "pkg (z/main@2.0.0)"],
        ["a", "pkg (a@1.0.0)"],
      ]);
      await expect(readBuildpacksFromImage(opened.image, "plain", tmp)).rejects.toThrow(
        "image plain is neither a buildpackage nor a builder: it has no io.buildpacks.buildpack.layers label",
      );
    } finally {
      await opened.close();
    }
  });
});
