/**
 * The builder berth runs inside (`berth build --isolation host` in a build step): the build image's own
 * filesystem, read where the lifecycle's `creator` reads it — `/cnb/buildpacks`, `/cnb/order.toml`,
 * `/cnb/run.toml` (else the legacy `/cnb/stack.toml`), `/cnb/system.toml`, `/cnb/build-config` and
 * `/cnb/lifecycle/launcher` when the builder carries a lifecycle. Nothing is extracted: the buildpacks run
 * from where they are. The builder has no image here; `info.image` is an empty image standing for this
 * machine (its platform, no layers, no labels).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../../errors.ts";
import type { ImageConfig } from "../../oci/config.ts";
import { digestBytes } from "../../oci/digest.ts";
import { Image } from "../../oci/image.ts";
import type { Manifest } from "../../oci/manifest.ts";
import { MediaType } from "../../oci/mediatype.ts";
import { hostPlatform } from "../../oci/platform.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { scanBuildpacksDir } from "../buildpack/load.ts";
import { BuildpackStore } from "../buildpack/store.ts";
import { parseOrder } from "../files/order.ts";
import { type OpenedBuilder, readRunImages } from "./builder.ts";
import { lifecycleVersionOf } from "./lifecycle.ts";
import { NO_SYSTEM, parseSystemToml } from "./system.ts";

export interface LocalBuilderOptions {
  /** The root the builder's `/cnb` lives under (default `/`). */
  root?: string;
  /** The CNB user: CNB_USER_ID/CNB_GROUP_ID, else berth's own user. */
  user: { uid: number; gid: number };
}

/** What names this builder in messages. */
export const LOCAL_BUILDER_NAME = "the builder on this filesystem (/cnb)";

/** Whether `root` looks like a builder: `/cnb/order.toml` and `/cnb/buildpacks`. */
function hasLocalBuilder(root = "/"): boolean {
  return existsSync(join(root, "cnb", "order.toml")) && existsSync(join(root, "cnb", "buildpacks"));
}

/** Read the builder berth runs inside. */
export async function openLocalBuilder(o: LocalBuilderOptions): Promise<OpenedBuilder> {
  const rootDir = o.root ?? "/";
  const cnbDir = join(rootDir, "cnb");
  const name = LOCAL_BUILDER_NAME;
  if (!hasLocalBuilder(rootDir)) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `no builder on this filesystem: ${join(cnbDir, "order.toml")} or ${join(cnbDir, "buildpacks")} is missing`,
      {
        hint: "run berth --isolation host inside a builder's build image (the step image), or give --builder",
      },
    );
  }
  const buildpacksDir = join(cnbDir, "buildpacks");
  const store = new BuildpackStore(await scanBuildpacksDir(buildpacksDir, name));
  const root = new ConfinedTree(rootDir, { owner: name, name: "the build image", seenAs: "/" });
  const orderText = (await root.readText("cnb/order.toml")) ?? "";
  const orders = parseOrder(orderText, "/cnb/order.toml");
  const systemText = await root.readText("cnb/system.toml");
  const system = systemText !== undefined ? parseSystemToml(systemText, "/cnb/system.toml") : NO_SYSTEM;
  const runImages = await readRunImages(root, "", []);
  const extensionsDir = join(cnbDir, "extensions");
  if (orders.orderExtensions.length) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      "/cnb/order.toml has [[order-extensions]]: image extensions need the sandbox, which --isolation host does not use",
      { hint: "build with a builder without extensions, or in the sandbox (without --isolation host)" },
    );
  }
  const launcher = join(cnbDir, "lifecycle", "launcher");
  const lifecycleToml = await root.readText("cnb/lifecycle/lifecycle.toml");
  const launcherVersion = lifecycleToml
    ? lifecycleVersionOf(lifecycleToml, "/cnb/lifecycle/lifecycle.toml")
    : undefined;
  return {
    info: {
      image: hostImage(),
      name,
      metadata: undefined,
      layers: {},
      orderLabel: [],
      orderExtensionsLabel: [],
      user: o.user,
      stackId: undefined,
    },
    cnbDir,
    buildpacksDir,
    buildConfigDir: join(cnbDir, "build-config"),
    store,
    order: orders.order,
    system,
    runImages,
    extensionsDir,
    extensions: new BuildpackStore([]),
    orderExtensions: [],
    ...(existsSync(launcher) ? { launcherPath: launcher, launcherVersion: launcherVersion ?? "" } : {}),
    close: async () => undefined,
  };
}

/** An empty image of this machine's platform, standing for the build image berth runs in. */
function hostImage(): Image {
  const p = hostPlatform();
  const config: ImageConfig = {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
  };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: digestBytes(rawConfig), size: rawConfig.length },
    layers: [],
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  return new Image(
    { mediaType: MediaType.OciManifest, digest: digestBytes(rawManifest), size: rawManifest.length },
    rawManifest,
    manifest,
    rawConfig,
    config,
    {
      openBlob: () =>
        Promise.reject(new BerthError("INTERNAL", "the builder on this filesystem has no image blobs")),
    },
  );
}
