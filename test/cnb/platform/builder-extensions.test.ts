/**
 * Image extensions in builders (src/cnb/platform/builder-extensions.ts): builder.toml's [[extensions]] loaded from
 * folders and checked against the id they claim, [[order-extensions]] resolved, one layer per extension with
 * its label entry, the metadata list, and the label read back against the builder's layers.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readBuilderInfo } from "../../../src/cnb/platform/builder.ts";
import { parseBuilderConfig } from "../../../src/cnb/platform/builder-config.ts";
import {
  addExtensionLayers,
  extensionInfos,
  extensionLayerIndexes,
  loadBuilderExtensions,
} from "../../../src/cnb/platform/builder-extensions.ts";
import { type AssembledLayer, assemble } from "../../../src/oci/assemble.ts";
import { tempDir } from "../../helpers/temp.ts";
import { memoryLogger } from "../helpers.ts";

let dir: string;

async function writeExtension(name: string, id: string, version: string): Promise<void> {
  const root = join(dir, name);
  await mkdir(join(root, "bin"), { recursive: true });
  await writeFile(
    join(root, "extension.toml"),
    `api = "0.10"\n[extension]\nid = "${id}"\nversion = "${version}"\n`,
  );
  await writeFile(join(root, "bin", "detect"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await writeFile(join(root, "bin", "generate"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
}

const config = (extensions: string, order = "") =>
  parseBuilderConfig(
    `${extensions}${order}[build]\nimage = "b:1"\n[[run.images]]\nimage = "r:1"\n`,
    join(dir, "builder.toml"),
  );

beforeAll(async () => {
  dir = await tempDir("berth-cnb-builder-ext-");
  await writeExtension("zed", "acme/zed", "1.0.0");
  await writeExtension("curl", "acme/curl", "0.1.0");
});

const BOTH = `[[extensions]]\nuri = "zed"\n[[extensions]]\nid = "acme/curl"\nuri = "curl"\n`;

describe("loadBuilderExtensions", () => {
  it("loads each uri relative to builder.toml; the order gets versions and the extension flag", async () => {
    const exts = await loadBuilderExtensions(
      config(BOTH, `[[order-extensions]]\n[[order-extensions.group]]\nid = "acme/curl"\n`),
      join(dir, "tmp"),
      memoryLogger(),
    );
    expect(exts.loaded.map((e) => e.descriptor.buildpack.id)).toEqual(["acme/zed", "acme/curl"]);
    expect(exts.orderExtensions).toEqual([
      { group: [{ id: "acme/curl", version: "0.1.0", extension: true }] },
    ]);
  });

  it("bad input names the builder config and the entry", async () => {
    const file = join(dir, "builder.toml");
    await expect(
      loadBuilderExtensions(config(`[[extensions]]\nid = "acme/other"\nuri = "zed"\n`), dir, memoryLogger()),
    ).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: `builder config ${file}: extensions[0] (zed): holds extension acme/zed@1.0.0, not acme/other`,
    });
    await expect(
      loadBuilderExtensions(config(`[[extensions]]\nimage = "ext:1"\n`), dir, memoryLogger()),
    ).rejects.toMatchObject({
      message: `builder config ${file}: extensions[0] (ext:1): extension images are not supported`,
    });
    await expect(
      loadBuilderExtensions(
        config(BOTH, `[[order-extensions]]\n[[order-extensions.group]]\nid = "acme/none"\n`),
        dir,
        memoryLogger(),
      ),
    ).rejects.toMatchObject({
      message: expect.stringMatching(`^builder config ${file}: order-extensions: .*acme/none`),
    });
  });
});

describe("extension layers and labels", () => {
  it("one layer per extension sorted by id@version; the label names each diffID, which reads back as a layer index", async () => {
    const exts = await loadBuilderExtensions(config(BOTH), join(dir, "tmp"), memoryLogger());
    const base = assemble(
      { os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } },
      [],
    );
    const added: { layer: AssembledLayer; diffId: string; createdBy: string }[] = [];
    const label = await addExtensionLayers(
      base,
      exts,
      dir,
      (l, createdBy) =>
        added.push({
          layer: {
            descriptor: { mediaType: l.mediaType, digest: l.digest, size: l.size },
            diffId: l.diffId,
            from: { file: l.path },
          },
          diffId: l.diffId,
          createdBy,
        }),
      memoryLogger(),
    );
    expect(added.map((a) => a.createdBy)).toEqual([
      "berth builder create: extension acme/curl@0.1.0",
      "berth builder create: extension acme/zed@1.0.0",
    ]);
    expect(label).toEqual({
      "acme/curl": { "0.1.0": { api: "0.10", layerDiffID: added[0]!.diffId } },
      "acme/zed": { "1.0.0": { api: "0.10", layerDiffID: added[1]!.diffId } },
    });
    const builderImage = (layers: AssembledLayer[]) =>
      assemble(
        {
          os: "linux",
          architecture: "amd64",
          config: {
            Env: ["CNB_USER_ID=1000", "CNB_GROUP_ID=1000"],
            Labels: {
              "io.buildpacks.buildpack.layers": "{}",
              "io.buildpacks.extension.layers": JSON.stringify(label),
            },
          },
          rootfs: { type: "layers", diff_ids: [] },
        },
        layers,
      );
    // Layers in the other order: curl (first in the label) is the builder's second layer.
    expect(
      extensionLayerIndexes(readBuilderInfo(builderImage([added[1]!.layer, added[0]!.layer]), "b:1")),
    ).toEqual([1, 0]);
    expect(() => extensionLayerIndexes(readBuilderInfo(builderImage([added[1]!.layer]), "b:1"))).toThrow(
      `builder b:1: no layer has diffID ${added[0]!.diffId} named in io.buildpacks.extension.layers`,
    );
  });

  it("the metadata list: earlier builder's entries kept, new ones added once; none is null", async () => {
    const exts = await loadBuilderExtensions(config(BOTH), join(dir, "tmp"), memoryLogger());
    expect(extensionInfos(undefined, exts)?.map((e) => `${e.id}@${e.version}`)).toEqual([
      "acme/zed@1.0.0",
      "acme/curl@0.1.0",
    ]);
    const none = await loadBuilderExtensions(config(""), dir, memoryLogger());
    expect(extensionInfos(undefined, none)).toBeNull();
  });
});
