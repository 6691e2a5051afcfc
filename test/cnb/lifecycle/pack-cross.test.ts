/**
 * Issue 14, part 3: what pack writes, berth reads, and the other way round (setup shared with pack.test.ts in
 * pack-peer.ts).
 * - A cache image: `pack build --cache-image REG/cache --publish` writes the lifecycle's cache image (its layers
 *   plus the label io.buildpacks.lifecycle.cache.metadata); `berth build --cache-image` restores its cache=true
 *   layer (the buildpack finds the file pack's build wrote and says "reusing"), and pack restores a cache image
 *   berth wrote the same way.
 * - A buildpackage: one made by `pack buildpack package` (an image in the registry and a .cnb file) goes into a
 *   `berth builder create` builder; one made by `berth buildpack package` into a `pack builder create` builder;
 *   each builder builds an app that runs.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { writeBuildpack } from "../helpers.ts";
import { type PackPeer, SAY, startPackPeer } from "./pack-peer.ts";

/** test/keep: a cache=true layer holding the app's index.txt of the build that first made it. */
const KEEP = {
  id: "test/keep",
  build: `L="$CNB_LAYERS_DIR/kept"
if [ -f "$L/stamp" ]; then
  echo "keep: reusing the cache layer of: $(cat "$L/stamp")"
else
  mkdir -p "$L"
  cat /workspace/index.txt > "$L/stamp"
  echo "keep: no cache layer, made one"
fi
printf '[types]\\ncache = true\\n' > "$L.toml"`,
};

/** test/hello: the buildpack that goes into buildpackages; its process prints `hello: <index.txt>`. */
const HELLO = {
  id: "test/hello",
  version: "1.2.3",
  build: `mkdir -p "$CNB_LAYERS_DIR/hello/bin"
printf '#!/bin/sh\\necho "hello: $(cat /workspace/index.txt)"\\n' > "$CNB_LAYERS_DIR/hello/bin/hello"
chmod +x "$CNB_LAYERS_DIR/hello/bin/hello"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/hello.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["hello"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"`,
};

let peer: PackPeer;

beforeAll(async () => {
  peer = await startPackPeer([SAY, KEEP]);
  await writeBuildpack(join(peer.dir, "bps"), HELLO);
  await writeFile(join(peer.dir, "package.toml"), '[buildpack]\nuri = "bps/test_hello-1.2.3"\n');
}, 1_800_000);

afterAll(async () => {
  await peer?.stop();
});

const packBuild = (image: string, builder: string, extra: string[] = []) =>
  peer.packRun([
    "build",
    image,
    "--builder",
    builder,
    "--path",
    peer.app,
    "--publish",
    "--trust-builder",
    "--network",
    "host",
    "--pull-policy",
    "if-not-present",
    ...extra,
  ]);

async function berthBuild(image: string, builder: string, extra: string[] = []): Promise<string> {
  const r = await berth(["build", peer.app, "-t", image, "--builder", builder, "--publish", ...extra], {
    home: peer.home,
  });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout + r.stderr;
}

async function cacheLabel(image: string): Promise<{ buildpacks: { key: string; layers: object }[] }> {
  const cfg = await peer.configOf(image);
  const text = cfg.config.Labels["io.buildpacks.lifecycle.cache.metadata"];
  expect(text, `${image} has no io.buildpacks.lifecycle.cache.metadata label`).toContain('"buildpacks"');
  return JSON.parse(text!);
}

describe("a cache image written by one, read by the other", () => {
  it("pack writes the cache image, berth build --cache-image restores its layers", async () => {
    const { reg } = peer;
    const cache = `${reg.host}/cache/by-pack:1`;
    await writeFile(join(peer.app, "index.txt"), "pack's build\n");
    const first = await packBuild(`${reg.host}/pack/cached:1`, peer.packBuilder, ["--cache-image", cache]);
    expect(first).toContain("keep: no cache layer, made one");
    const md = await cacheLabel(cache);
    expect(md.buildpacks.map((b) => b.key)).toContain("test/keep");

    await writeFile(join(peer.app, "index.txt"), "berth's build\n");
    const out = await berthBuild(`${reg.host}/berth/cached:1`, peer.builder, ["--cache-image", cache]);
    expect(out).toContain("keep: reusing the cache layer of: pack's build");
    await peer.runs(`${reg.host}/berth/cached:1`, "berth's build");
  });

  it("berth writes the cache image, pack build --cache-image restores its layers", async () => {
    const { reg } = peer;
    const cache = `${reg.host}/cache/by-berth:1`;
    await writeFile(join(peer.app, "index.txt"), "berth's first build\n");
    const first = await berthBuild(`${reg.host}/berth/cached:2`, peer.builder, ["--cache-image", cache]);
    expect(first).toContain("keep: no cache layer, made one");
    const md = await cacheLabel(cache);
    expect(md.buildpacks.map((b) => b.key)).toContain("test/keep");

    await writeFile(join(peer.app, "index.txt"), "pack's build\n");
    const out = await packBuild(`${reg.host}/pack/cached:2`, peer.packBuilder, ["--cache-image", cache]);
    expect(out).toContain("keep: reusing the cache layer of: berth's first build");
    await peer.runs(`${reg.host}/pack/cached:2`, "pack's build");
  });
});

describe("a buildpackage made by one, in the other's builder", () => {
  it("pack buildpack package (an image and a .cnb file) in a berth builder create builder", async () => {
    const { reg, dir } = peer;
    const pkg = `${reg.host}/bp/hello-by-pack:1`;
    await peer.packRun(["buildpack", "package", pkg, "--config", join(dir, "package.toml"), "--publish"]);
    const cnb = join(dir, "hello-by-pack.cnb");
    await peer.packRun([
      "buildpack",
      "package",
      cnb,
      "--config",
      join(dir, "package.toml"),
      "--format",
      "file",
    ]);
    await writeFile(join(peer.app, "index.txt"), "a pack buildpackage\n");
    for (const [name, uri] of [
      ["image", `docker://${pkg}`],
      ["file", cnb],
    ] as const) {
      const toml = join(dir, `berth-with-pack-bp-${name}.toml`);
      await writeFile(toml, peer.builderToml([uri], ["test/hello"], "berth"));
      const builder = `${reg.host}/berth/with-pack-bp-${name}:1`;
      const bc = await berth(["builder", "create", builder, "--config", toml, "--publish"], {
        home: peer.home,
      });
      expect(bc.code, bc.stderr).toBe(0);
      const image = `${reg.host}/berth/hello-${name}:1`;
      await berthBuild(image, builder);
      await peer.runs(image, "a pack buildpackage", "hello");
      // pack builds with that berth builder too.
      const packImage = `${reg.host}/pack/hello-${name}:1`;
      await packBuild(packImage, builder);
      await peer.runs(packImage, "a pack buildpackage", "hello");
    }
  });

  it("berth buildpack package in a pack builder create builder", async () => {
    const { reg, dir } = peer;
    const pkg = `${reg.host}/bp/hello-by-berth:1`;
    const p = await berth(["buildpack", "package", pkg, "--config", join(dir, "package.toml"), "--publish"], {
      home: peer.home,
      cwd: dir,
    });
    expect(p.code, p.stderr).toBe(0);
    const toml = join(dir, "pack-with-berth-bp.toml");
    await writeFile(toml, peer.builderToml([`docker://${pkg}`], ["test/hello"], "pack"));
    const builder = `${reg.host}/pack/with-berth-bp:1`;
    await peer.packRun(["builder", "create", builder, "--config", toml, "--publish"]);
    const info = await peer.packRun(["builder", "inspect", builder]);
    expect(info).toMatch(/test\/hello\s+1\.2\.3/);
    await writeFile(join(peer.app, "index.txt"), "a berth buildpackage\n");
    const image = `${reg.host}/pack/hello-berth-bp:1`;
    await packBuild(image, builder);
    await peer.runs(image, "a berth buildpackage", "hello");
    // berth builds with that pack builder too.
    const berthImage = `${reg.host}/berth/hello-berth-bp:1`;
    await berthBuild(berthImage, `docker://${builder}`);
    await peer.runs(berthImage, "a berth buildpackage", "hello");
  });
});
