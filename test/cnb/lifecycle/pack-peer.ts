/**
 * The setup the pack peer tests share (issue 14, part 3): pack (scripts/pack.sh) against a private dockerd, a
 * docker-registry on 127.0.0.1 holding a build image (berth's test build image plus bash) and a run image, sh
 * buildpacks, and the same builder.toml made into a builder by `berth builder create` (with the reference
 * lifecycle's release .tgz) and by `pack builder create`, both published to the registry.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { type Dockerd, startDockerd } from "../../helpers/dockerd.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { type BpSpec, makeBuildImage, writeBuildpack } from "../helpers.ts";
import { withBash } from "../reference/lifecycle.ts";
import { lifecycleTgz, packBinary } from "./helpers.ts";

/** test/say: a launch layer with `say`, which prints `say: <the app's index.txt>`; the default process `web`. */
export const SAY: BpSpec = {
  id: "test/say",
  build: `mkdir -p "$CNB_LAYERS_DIR/say/bin"
printf '#!/bin/sh\\necho "say: $(cat /workspace/index.txt)"\\n' > "$CNB_LAYERS_DIR/say/bin/say"
chmod +x "$CNB_LAYERS_DIR/say/bin/say"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/say.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["say"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"`,
};

export interface PackPeer {
  dir: string;
  home: string;
  /** The OCI layout holding `build` and `run`. */
  layout: string;
  reg: RegistryHarness;
  dockerd: Dockerd;
  pack: string;
  /** The release .tgz of the reference lifecycle (builder.toml's [lifecycle] uri). */
  lifecycle: string;
  /** `REG/base/build:1` and `REG/base/run:1`. */
  buildImage: string;
  runImage: string;
  /** The builders made from the same builder.toml: `REG/berth/builder:1` by berth, `REG/pack/builder:1` by pack. */
  builder: string;
  packBuilder: string;
  /** The app: index.txt. */
  app: string;
  /** pack with this peer's engine and PACK_HOME; returns stdout. */
  packRun(args: string[]): Promise<string>;
  /**
   * A builder.toml for `buildpacks` (uris as given) in `order`, with the registry's build and run images. For
   * berth (`for: "berth"`) the build image is spelled `docker://…`: a bare name in berth's builder.toml names
   * its local store, where pack reads it from its daemon or the registry. For pack, a `docker://` buildpack uri
   * loses its prefix: pack takes `docker://` only for references go-containerregistry parses with the prefix on,
   * which a registry with a port is not, and reads a bare reference as a buildpackage image.
   */
  builderToml(buildpacks: string[], order: string[], for_: "berth" | "pack"): string;
  configOf(image: string): Promise<{ config: { Labels: Record<string, string> } }>;
  /** `berth run --pull always docker://image` prints `say: <text>`. */
  runs(image: string, text: string, prefix?: string): Promise<void>;
  stop(): Promise<void>;
}

/** Start the peer; `buildpacks` (default: test/say) go into the builders in one group, in this order. */
export async function startPackPeer(buildpacks: BpSpec[] = [SAY]): Promise<PackPeer> {
  const dir = await tempDir("berth-pack-peer-");
  const home = join(dir, "home");
  const layout = join(dir, "images");
  const [pack, reg, dockerd] = await Promise.all([packBinary(), startRegistry(), startDockerd()]);
  const packRun = (args: string[]) =>
    run(pack, args, { env: { ...dockerd.env, PACK_HOME: join(dir, "pack-home"), NO_COLOR: "1" } });
  const configOf = async (image: string) => {
    const r = await berth(["inspect", "--config", `docker://${image}`], { home });
    if (r.code !== 0) throw new Error(`inspect ${image}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { config: { Labels: Record<string, string> } };
  };
  const runs = async (image: string, text: string, prefix = "say") => {
    const r = await berth(["run", "--pull", "always", `docker://${image}`], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${prefix}: ${text}\n`);
  };
  const buildImage = `${reg.host}/base/build:1`;
  const runImage = `${reg.host}/base/run:1`;
  const lifecycle = await lifecycleTgz(dir);
  const builderToml = (uris: string[], order: string[], for_: "berth" | "pack") =>
    `description = "made from a test builder.toml"
${uris.map((u) => `[[buildpacks]]\nuri = "${for_ === "pack" ? u.replace(/^docker:\/\//, "") : u}"\n`).join("")}
[[order]]
${order.map((id) => `[[order.group]]\nid = "${id}"\n`).join("")}
[build]
image = "${for_ === "berth" ? "docker://" : ""}${buildImage}"
[[run.images]]
image = "${runImage}"
[lifecycle]
uri = "${lifecycle}"
`;
  const peer: PackPeer = {
    dir,
    home,
    layout,
    reg,
    dockerd,
    pack,
    lifecycle,
    buildImage,
    runImage,
    builder: `${reg.host}/berth/builder:1`,
    packBuilder: `${reg.host}/pack/builder:1`,
    app: join(dir, "app"),
    packRun,
    builderToml,
    configOf,
    runs,
    async stop() {
      await dockerd.stop();
      await reg.stop();
    },
  };
  try {
    await makeBuildImage(dir, `oci:${layout}:build`, home);
    await withBash(dir, `oci:${layout}:build`, `oci:${layout}:run`, home);
    for (const [from, to] of [
      [`oci:${layout}:run`, runImage],
      [`oci:${layout}:build`, buildImage],
    ] as const) {
      const push = await berth(["copy", from, `docker://${to}`], { home });
      if (push.code !== 0) throw new Error(`pushing ${to}: ${push.stderr}`);
    }
    const uris: string[] = [];
    for (const bp of buildpacks) {
      await writeBuildpack(join(dir, "bps"), bp);
      uris.push(`bps/${bp.id.replaceAll("/", "_")}-${bp.version ?? "0.0.1"}`);
    }
    const order = buildpacks.map((b) => b.id);
    await writeFile(join(dir, "builder.toml"), builderToml(uris, order, "berth"));
    await writeFile(join(dir, "pack-builder.toml"), builderToml(uris, order, "pack"));
    const bc = await berth(
      ["builder", "create", peer.builder, "--config", join(dir, "builder.toml"), "--publish"],
      { home },
    );
    if (bc.code !== 0) throw new Error(`builder create: ${bc.stderr}`);
    await packRun([
      "builder",
      "create",
      peer.packBuilder,
      "--config",
      join(dir, "pack-builder.toml"),
      "--publish",
    ]);
    await mkdir(peer.app, { recursive: true });
    await writeFile(join(peer.app, "index.txt"), "built by pack\n");
  } catch (err) {
    await peer.stop().catch(() => undefined);
    throw err;
  }
  return peer;
}
