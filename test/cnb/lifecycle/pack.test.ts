/**
 * Issue 14, part 3: pack as a peer. pack (built from the Go module proxy by scripts/pack.sh) against a private
 * dockerd (test/helpers/dockerd.ts) takes a builder berth made — with the reference lifecycle v0.21.0 berth put
 * in it — from the local registry: `pack builder inspect` reads berth's label, and `pack build` runs that
 * lifecycle and gives an image that runs (pulled back and run by berth). Both ways: berth builds with a
 * `pack builder create` builder made from the same builder.toml (its own engine and --lifecycle builder);
 * `pack inspect` and `pack rebase` take berth-built images, `berth inspect` and `berth rebase` pack-built ones.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth } from "../../helpers/cli.ts";
import { type PackPeer, startPackPeer } from "./pack-peer.ts";

let peer: PackPeer;
let home: string;
let builder: string;
let app: string;
let packBuilder: string;
let reg: PackPeer["reg"];
let packRun: PackPeer["packRun"];
let configOf: PackPeer["configOf"];
let runs: PackPeer["runs"];

beforeAll(async () => {
  peer = await startPackPeer();
  ({ home, builder, app, packBuilder, reg, packRun, configOf, runs } = peer);
  // A second run image: the first plus a layer, for rebase.
  await mkdir(join(peer.dir, "run2", "etc"), { recursive: true });
  await writeFile(join(peer.dir, "run2", "etc", "run-version"), "2\n");
  await appendLayers(
    parseImageArgument(`oci:${peer.layout}:run`),
    [{ source: join(peer.dir, "run2"), dest: "/" }],
    parseImageArgument(`docker://${reg.host}/base/run:2`),
    { home, env: {} },
  );
}, 1_800_000);

async function topLayerOf(image: string): Promise<string> {
  const cfg = await configOf(image);
  return JSON.parse(cfg.config.Labels["io.buildpacks.lifecycle.metadata"]!).runImage.topLayer;
}

afterAll(async () => {
  await peer?.stop();
});

describe("pack with a berth-made builder", () => {
  it("pack builder inspect reads berth's label: the lifecycle berth put in, its APIs, berth as creator", async () => {
    const out = await packRun(["builder", "inspect", builder]);
    expect(out).toContain("Created By:\n  Name: berth");
    expect(out).toMatch(/Lifecycle:\n\s+Version: 0\.21\.0/);
    expect(out).toMatch(
      /Platform APIs:\n\s+Deprecated: \(none\)\n\s+Supported: 0\.7, 0\.8, 0\.9, 0\.10, 0\.11, 0\.12, 0\.13, 0\.14/,
    );
    expect(out).toContain("test/say");
  });

  it("pack build runs the lifecycle berth put in the builder; the image runs", async () => {
    const image = `${reg.host}/pack/app:1`;
    const out = await packRun([
      "build",
      image,
      "--builder",
      builder,
      "--path",
      app,
      "--publish",
      "--trust-builder",
      "--network",
      "host",
      "--pull-policy",
      "if-not-present",
    ]);
    expect(out).toContain("Successfully built image");
    await runs(image, "built by pack");
    const cfg = await configOf(image);
    const md = JSON.parse(cfg.config.Labels["io.buildpacks.build.metadata"]!);
    expect(md.processes.map((p: { type: string }) => p.type)).toEqual(["web"]);
    // The launcher in the image is the one from berth's builder (the reference lifecycle's).
    expect(md.launcher.version).toBe("0.21.0");
  });

  it("berth inspect and berth rebase take the pack-built image", async () => {
    const image = `${reg.host}/pack/app:1`;
    const i = await berth(["inspect", `docker://${image}`], { home });
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toContain("test/say");
    // A run image the app did not record: --force, as the lifecycle's rebaser asks.
    const r = await berth(
      ["rebase", image, "--publish", "--run-image", `${reg.host}/base/run:2`, "--force"],
      {
        home,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const run2 = await configOf(`${reg.host}/base/run:2`);
    expect(await topLayerOf(image)).toBe(
      (run2 as unknown as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.at(-1),
    );
    await runs(image, "built by pack");
  });
});

describe("berth with a pack-made builder, pack with berth-built images", () => {
  it("berth build (its own engine and --lifecycle builder) with a pack builder create builder", async () => {
    await writeFile(join(app, "index.txt"), "built by berth\n");
    // From the store here (pack-cross.test.ts builds with a pack builder straight from the registry).
    const pull = await berth(["copy", `docker://${packBuilder}`, "pack-builder:1"], { home });
    expect(pull.code, pull.stderr).toBe(0);
    for (const [image, extra] of [
      [`${reg.host}/berth/app:1`, []],
      [`${reg.host}/berth/lc:1`, ["--lifecycle", "builder"]],
    ] as const) {
      const b = await berth(
        ["build", app, "-t", image, "--builder", "pack-builder:1", "--publish", ...extra],
        {
          home,
        },
      );
      expect(b.code, b.stdout + b.stderr).toBe(0);
      await runs(image, "built by berth");
    }
  });

  it("pack inspect and pack rebase take the berth-built image", async () => {
    const image = `${reg.host}/berth/app:1`;
    const out = await packRun(["inspect", image]);
    expect(out).toContain("test/say");
    expect(out).toMatch(/Processes:[\s\S]*web \(default\)/);
    await packRun(["rebase", image, "--publish", "--run-image", `${reg.host}/base/run:2`, "--force"]);
    const run2 = await configOf(`${reg.host}/base/run:2`);
    expect(await topLayerOf(image)).toBe(
      (run2 as unknown as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.at(-1),
    );
    await runs(image, "built by berth");
  });
});
