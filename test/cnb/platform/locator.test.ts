/** `--buildpack` as pack locates it (src/cnb/platform/locator.ts): id locators, builder buildpacks, paths, and the order. */
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { BuildpackStore, readBuildpackDir } from "../../../src/cnb/index.ts";
import {
  type LocateOptions,
  locateBuildpack,
  orderFromBuildpackArgs,
  parseIdLocator,
} from "../../../src/cnb/platform/locator.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeBuildpack } from "../helpers.ts";

let dir: string;
let o: LocateOptions & { warnings: string[] };
beforeEach(async () => {
  dir = await tempDir("berth-cnb-locator-");
  const builderBps = join(dir, "builder-bps");
  const store = new BuildpackStore([
    await readBuildpackDir(await writeBuildpack(builderBps, { id: "b/one", version: "1.0.0" })),
    await readBuildpackDir(await writeBuildpack(builderBps, { id: "b/two", version: "1.0.0" })),
    await readBuildpackDir(await writeBuildpack(builderBps, { id: "b/two", version: "2.0.0" })),
  ]);
  const warnings: string[] = [];
  await mkdir(join(dir, "cnb-buildpacks"));
  await mkdir(join(dir, "tmp"));
  o = {
    builderOrder: [
      { group: [{ id: "b/one", version: "1.0.0" }] },
      { group: [{ id: "b/two", version: "2.0.0" }] },
    ],
    store,
    buildpacksDir: join(dir, "cnb-buildpacks"),
    cwd: dir,
    ctx: { home: join(dir, "home"), env: {} },
    tmp: join(dir, "tmp"),
    warn: (l) => warnings.push(l),
    warnings,
  };
});

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: { code?: string; message: string; hint?: string }) => ({
      code: e.code,
      message: e.message,
      hint: e.hint,
    }),
  );

describe("parseIdLocator", () => {
  it("ID[@VERSION] with the prefixes pack ignores", () => {
    expect(parseIdLocator("paketo-buildpacks/node-engine@1.2.3")).toEqual({
      id: "paketo-buildpacks/node-engine",
      version: "1.2.3",
    });
    expect(parseIdLocator("urn:cnb:builder:a/b")).toEqual({ id: "a/b" });
    expect(parseIdLocator("from=builder:a/b@0.0.1-alpha")).toEqual({ id: "a/b", version: "0.0.1-alpha" });
    expect(parseIdLocator("urn:cnb:registry:ns/x@1.0")).toEqual({ id: "ns/x", version: "1.0" });
  });

  it("an empty version or a second '@' is not a version", () => {
    expect(parseIdLocator("a/b@")).toEqual({ id: "a/b" });
    expect(parseIdLocator("a@1@2")).toEqual({ id: "a" });
  });
});

describe("locateBuildpack", () => {
  it("a builder buildpack by urn, by from=builder: and by bare id; one version needs no version", async () => {
    expect(await locateBuildpack("urn:cnb:builder:b/one", o)).toEqual({ id: "b/one", version: "1.0.0" });
    expect(await locateBuildpack("from=builder:b/two@1.0.0", o)).toEqual({ id: "b/two", version: "1.0.0" });
    expect(await locateBuildpack("b/two@2.0.0", o)).toEqual({ id: "b/two", version: "2.0.0" });
  });

  it("a builder buildpack the builder lacks: the sentence names it, the hint lists what the builder holds", async () => {
    expect(await codeOf(locateBuildpack("urn:cnb:builder:b/one@9.9.9", o))).toEqual({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: "--buildpack urn:cnb:builder:b/one@9.9.9: the builder has no buildpack b/one@9.9.9",
      hint: "the builder holds b/one@1.0.0, b/two@1.0.0, b/two@2.0.0",
    });
  });

  it("the buildpack registry is refused with a hint", async () => {
    const r = await codeOf(locateBuildpack("urn:cnb:registry:ns/x@1.0", o));
    expect(r).toMatchObject({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: "--buildpack urn:cnb:registry:ns/x@1.0: berth does not reach the buildpack registry",
    });
  });

  it("a relative path that does not exist names the resolved path", async () => {
    expect(await codeOf(locateBuildpack("./nowhere", o))).toMatchObject({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: `--buildpack ./nowhere: ${join(dir, "nowhere")} does not exist`,
    });
  });

  it("a folder relative to cwd is copied into the builder's buildpacks and added to its store", async () => {
    await writeBuildpack(join(dir, "mine"), { id: "me/local", version: "0.1.0" });
    const ref = await locateBuildpack("mine/me_local-0.1.0", o);
    expect(ref).toEqual({ id: "me/local", version: "0.1.0" });
    expect(o.store.versionsOf("me/local")).toEqual(["0.1.0"]);
    expect(o.store.lookup("me/local").dir).toBe(join(dir, "cnb-buildpacks", "me_local", "0.1.0"));
    expect(
      (await readBuildpackDir(join(dir, "cnb-buildpacks", "me_local", "0.1.0"))).descriptor.buildpack.id,
    ).toBe("me/local");
  });

  it("a path wins over a builder buildpack of the same name (pack's order)", async () => {
    expect(await locateBuildpack("b/one", o)).toEqual({ id: "b/one", version: "1.0.0" });
    await rename(
      await writeBuildpack(join(dir, "b"), { id: "other", version: "3.0.0" }),
      join(dir, "b", "one"),
    );
    expect(await locateBuildpack("b/one", o)).toEqual({ id: "other", version: "3.0.0" });
  });
});

describe("orderFromBuildpackArgs", () => {
  it("from=builder expands to the builder's groups, with the buildpacks before and after it", async () => {
    await writeBuildpack(join(dir, "x"), { id: "pre", version: "1.0.0" });
    await writeBuildpack(join(dir, "x"), { id: "post", version: "1.0.0" });
    const order = await orderFromBuildpackArgs(["x/pre-1.0.0", "from=builder", "x/post-1.0.0"], o);
    expect(order.map((g) => g.group.map((m) => `${m.id}@${m.version}`))).toEqual([
      ["pre@1.0.0", "b/one@1.0.0", "post@1.0.0"],
      ["pre@1.0.0", "b/two@2.0.0", "post@1.0.0"],
    ]);
  });

  it("without from=builder the arguments make one group; twice from=builder is a usage error", async () => {
    expect(await orderFromBuildpackArgs(["b/one", "b/two@1.0.0"], o)).toEqual([
      {
        group: [
          { id: "b/one", version: "1.0.0" },
          { id: "b/two", version: "1.0.0" },
        ],
      },
    ]);
    expect(await codeOf(orderFromBuildpackArgs(["from=builder", "from=builder"], o))).toMatchObject({
      code: "USAGE",
      message: "--buildpack from=builder: buildpacks from builder can only be defined once",
    });
  });
});
