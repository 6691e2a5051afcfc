/**
 * The builder's pure parts (src/cnb/platform/builder.ts): pack's module info and layer JSON, a buildpack's layer
 * with pack's modes and owners, CNB_USER_ID/CNB_GROUP_ID, order version resolution and validation, and reading a
 * builder's labels. `berth builder create` end to end is test/cnb/builder.test.ts.
 */
import { createReadStream } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { BuildpackStore, type LoadedBuildpack, readBuildpackDir } from "../../../src/cnb/index.ts";
import {
  type BuilderMetadata,
  buildpackLayer,
  cnbUserOf,
  extractBuilder,
  labelRunImages,
  moduleInfo,
  moduleLayerInfo,
  NORMALIZED_MTIME,
  readBuilderInfo,
  readRunImages,
  resolveOrder,
  validateOrder,
} from "../../../src/cnb/platform/builder.ts";
import { readTar } from "../../../src/layer/index.ts";
import { assemble } from "../../../src/oci/assemble.ts";
import type { ImageConfig } from "../../../src/oci/config.ts";
import { ConfinedTree } from "../../../src/util/confined.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeBuildpack } from "../helpers.ts";

let dir: string;
let simple: LoadedBuildpack;
let composite: LoadedBuildpack;
let store: BuildpackStore;
beforeAll(async () => {
  dir = await tempDir("berth-cnb-builder-");
  const bps = join(dir, "bps");
  simple = await readBuildpackDir(
    await writeBuildpack(bps, {
      id: "acme/simple",
      version: "1.2.0",
      extra: `homepage = "https://example.invalid"\n[[buildpack.licenses]]\ntype = "MIT"\n[[targets]]\nos = "linux"\narch = "amd64"\n[[targets.distros]]\nname = "ubuntu"\n`,
    }),
  );
  composite = await readBuildpackDir(
    await writeBuildpack(bps, {
      id: "acme/meta",
      version: "2.0.0",
      order: [[["acme/simple", "1.2.0", true]]],
    }),
  );
  store = new BuildpackStore([simple, composite]);
});

const image = (config: NonNullable<ImageConfig["config"]>) =>
  assemble({ os: "linux", architecture: "amd64", config, rootfs: { type: "layers", diff_ids: [] } }, []);

describe("pack's JSON for modules", () => {
  it("moduleInfo: id and version always, the rest only when set", () => {
    expect(moduleInfo(simple.descriptor)).toEqual({
      id: "acme/simple",
      name: "Test acme/simple",
      version: "1.2.0",
      homepage: "https://example.invalid",
      licenses: [{ type: "MIT", uri: "" }],
    });
  });

  it("moduleLayerInfo: api, targets with os and arch always, the composite's order, the diffID", () => {
    expect(moduleLayerInfo(simple.descriptor, "sha256:d")).toEqual({
      api: "0.10",
      targets: [{ os: "linux", arch: "amd64", distros: [{ name: "ubuntu" }] }],
      layerDiffID: "sha256:d",
      homepage: "https://example.invalid",
      name: "Test acme/simple",
    });
    expect(moduleLayerInfo(composite.descriptor, "sha256:e")).toMatchObject({
      order: [{ group: [{ id: "acme/simple", version: "1.2.0", optional: true }] }],
    });
  });
});

describe("buildpackLayer", () => {
  it("under /cnb/buildpacks/<escaped id>/<version>, root-owned, pack's modes, normalised mtimes", async () => {
    await writeFile(join(simple.dir, "README"), "r");
    await mkdir(join(simple.dir, "lib"), { recursive: true });
    await writeFile(join(simple.dir, "lib", "helper.sh"), "h");
    await chmod(join(simple.dir, "lib", "helper.sh"), 0o700);
    await chmod(join(simple.dir, "bin", "build"), 0o600);
    const l = await buildpackLayer(simple, join(dir, "bp.tar.gz"));
    const entries: [string, string, number, number, number][] = [];
    for await (const e of readTar(createReadStream(l.path).pipe(createGunzip()))) {
      for await (const _ of e.body) {
        // drain
      }
      entries.push([
        e.header.path.replace(/\/$/, ""),
        e.header.type,
        e.header.mode,
        e.header.uid,
        e.header.mtime,
      ]);
    }
    const base = "cnb/buildpacks/acme_simple/1.2.0";
    const byPath = new Map(entries.map((e) => [e[0], e]));
    expect(entries.every((e) => e[0].startsWith("cnb/buildpacks/acme_simple"))).toBe(true);
    expect(entries.every((e) => e[3] === 0 && e[4] === NORMALIZED_MTIME)).toBe(true);
    expect(byPath.get(base)?.[2]).toBe(0o755);
    // bin/build is always executable; an executable file becomes 755, others 644.
    expect(byPath.get(`${base}/bin/build`)?.[2]).toBe(0o755);
    expect(byPath.get(`${base}/lib/helper.sh`)?.[2]).toBe(0o755);
    expect(byPath.get(`${base}/README`)?.[2]).toBe(0o644);
    expect(byPath.get(`${base}/buildpack.toml`)?.[2]).toBe(0o644);
  });
});

describe("cnbUserOf", () => {
  it("numbers from the Env; missing or not a number is named with what the image has", () => {
    expect(cnbUserOf(image({ Env: ["CNB_USER_ID=1000", "CNB_GROUP_ID=1001"] }), "x")).toEqual({
      uid: 1000,
      gid: 1001,
    });
    expect(() => cnbUserOf(image({ Env: ["CNB_USER_ID=cnb"] }), "build image b:1")).toThrow(
      expect.objectContaining({
        code: "CNB_CONFIG_INVALID",
        message:
          "build image b:1 must set CNB_USER_ID and CNB_GROUP_ID to numbers in its Env (it has CNB_USER_ID=cnb, no CNB_GROUP_ID)",
      }),
    );
  });
});

describe("orders", () => {
  it("resolveOrder fills in the only version present, keeping optional", () => {
    expect(
      resolveOrder([{ group: [{ id: "acme/meta" }, { id: "acme/simple", optional: true }] }], store),
    ).toEqual([
      {
        group: [
          { id: "acme/meta", version: "2.0.0" },
          { id: "acme/simple", version: "1.2.0", optional: true },
        ],
      },
    ]);
  });

  it("validateOrder follows composites; a missing member is named with the composite that needs it", () => {
    expect(() => validateOrder([{ group: [{ id: "acme/meta" }] }], store)).not.toThrow();
    const partial = new BuildpackStore([composite]);
    expect(() => validateOrder([{ group: [{ id: "acme/meta" }] }], partial)).toThrow(
      expect.objectContaining({
        code: "CNB_BUILDPACK_NOT_FOUND",
        message: expect.stringMatching(/^composite buildpack "acme\/meta@2\.0\.0": .*acme\/simple/),
      }),
    );
  });
});

describe("readBuilderInfo", () => {
  it("an image without the layers label is not a builder, said with a hint", () => {
    expect(() => readBuilderInfo(image({}), "busybox")).toThrow(
      expect.objectContaining({
        code: "CNB_CONFIG_INVALID",
        message: "busybox is not a builder: it has no io.buildpacks.buildpack.layers label",
        hint: expect.stringContaining("berth builder create"),
      }),
    );
  });

  it("the labels read back: order as written, the user, the stack id", () => {
    const info = readBuilderInfo(
      image({
        Env: ["CNB_USER_ID=1000", "CNB_GROUP_ID=1000"],
        Labels: {
          "io.buildpacks.buildpack.layers": "{}",
          "io.buildpacks.buildpack.order": JSON.stringify([
            {
              group: [
                { id: "a", optional: false },
                { id: "b", version: "1", optional: true },
              ],
            },
          ]),
          "io.buildpacks.stack.id": "io.x",
        },
      }),
      "b:1",
    );
    expect(info).toMatchObject({
      orderLabel: [{ group: [{ id: "a" }, { id: "b", version: "1", optional: true }] }],
      orderExtensionsLabel: [],
      user: { uid: 1000, gid: 1000 },
      stackId: "io.x",
      layers: {},
    });
    expect(info.metadata).toBeUndefined();
  });
});

describe("the builder's run images, one rule for every source", () => {
  const md = (m: Partial<BuilderMetadata>) => m as BuilderMetadata;
  const stack = { runImage: { image: "legacy/run:1", mirrors: null } };

  it("the label: images (run.toml's), else stack.runImage (stack.toml's)", () => {
    expect(labelRunImages(md({ images: [{ image: "r/run:1", mirrors: ["m/run:1"] }], stack }))).toEqual([
      { image: "r/run:1", mirrors: ["m/run:1"] },
    ]);
    expect(labelRunImages(md({ images: null, stack }))).toEqual([{ image: "legacy/run:1", mirrors: [] }]);
    expect(labelRunImages(md({ images: [], stack: { runImage: { image: "", mirrors: null } } }))).toEqual([]);
    expect(labelRunImages(undefined)).toEqual([]);
  });

  it("the files: /cnb/run.toml, else /cnb/stack.toml, else the label's", async () => {
    const root = await tempDir("berth-cnb-runimages-");
    await mkdir(join(root, "cnb"));
    const tree = new ConfinedTree(root, { owner: "builder b", name: "the builder image", seenAs: "/" });
    const label = [{ image: "label/run:1", mirrors: [] }];
    expect(await readRunImages(tree, "b:", label)).toEqual(label);
    await writeFile(
      join(root, "cnb", "stack.toml"),
      '[run-image]\nimage = "legacy/run:1"\nmirrors = ["m/legacy:1"]\n',
    );
    expect(await readRunImages(tree, "b:", label)).toEqual([
      { image: "legacy/run:1", mirrors: ["m/legacy:1"] },
    ]);
    await writeFile(join(root, "cnb", "run.toml"), '[[images]]\nimage = "r/run:1"\n');
    expect(await readRunImages(tree, "b:", label)).toEqual([{ image: "r/run:1", mirrors: [] }]);
    await writeFile(join(root, "cnb", "run.toml"), "[[images]]\nmirrors = []\n");
    await expect(readRunImages(tree, "b:", label)).rejects.toThrow(
      "b:/cnb/run.toml: images[0].image is required",
    );
  });

  it("extractBuilder of a builder with neither file: the label's stack run image when it has no images", async () => {
    const labels = {
      "io.buildpacks.buildpack.layers": "{}",
      "io.buildpacks.builder.metadata": JSON.stringify({ stack }),
    };
    const info = readBuilderInfo(
      image({ Env: ["CNB_USER_ID=1000", "CNB_GROUP_ID=1000"], Labels: labels }),
      "old",
    );
    // Before one reader served all, extractBuilder read only the label's images: no run image at all.
    const b = await extractBuilder(info, join(await tempDir("berth-cnb-extract-"), "root"));
    expect(b.runImages).toEqual([{ image: "legacy/run:1", mirrors: [] }]);
  });
});
