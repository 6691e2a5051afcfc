/**
 * `berth build --publish`, `--cache-image` and `berth rebase --publish` against a real local registry
 * (docker-registry on 127.0.0.1), asserted from the registry's own request log: a second build with nothing
 * changed uploads no blob, a cache image restores into a build from a fresh BERTH_HOME, and a rebase moves
 * only manifests and configs (run-image layers mounted or already there, app layers never downloaded or
 * uploaded).
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import {
  type RegistryHarness,
  type RegistryRequest,
  startRegistry,
} from "../../registry/helpers/registry.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

let dir: string;
let home: string;
let layout: string;
let reg: RegistryHarness;
let builder: string;

interface Manifest {
  config: { digest: string };
  layers: { digest: string }[];
}

/** The manifest and config of a registry image, through berth. */
async function remote(ref: string, h = home): Promise<{ digest: string; manifest: Manifest }> {
  const raw = await berth(["inspect", "--raw", `docker://${ref}`], { home: h });
  expect(raw.code, raw.stderr).toBe(0);
  const j = await berth(["inspect", "--json", `docker://${ref}`], { home: h });
  expect(j.code, j.stderr).toBe(0);
  return { digest: JSON.parse(j.stdout).digest, manifest: JSON.parse(raw.stdout) };
}

/** Requests that start, continue or finish a blob upload (a mount is a POST with `mount=`). */
const uploads = (rs: RegistryRequest[]) => rs.filter((r) => r.uri.includes("/blobs/uploads/"));
const blobGets = (rs: RegistryRequest[]) =>
  rs.filter((r) => r.method === "GET" && /\/blobs\/sha256:/.test(r.uri));
/** Digests uploaded by a monolithic or final PUT (`?digest=`). */
const putDigests = (rs: RegistryRequest[]) =>
  rs
    .filter((r) => r.method === "PUT" && r.uri.includes("/blobs/uploads/"))
    .map((r) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.uri)?.[1] ?? ""));

beforeAll(async () => {
  dir = await tempDir("berth-cnb2-registry-");
  reg = await startRegistry();
  home = join(dir, "home");
  layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  const runLayout = join(dir, "runlayout");
  await busyboxImage(runLayout, "run", { env: ["PATH=/bin"], user: "app" });
  await busyboxImage(runLayout, "run2", { env: ["PATH=/bin"], user: "app" }, [
    [{ path: "etc/run-image-version", content: "2\n" }],
  ]);
  for (const [tag, to] of [
    ["run", "run:1"],
    ["run2", "run:2"],
  ] as const) {
    const c = await berth(["copy", `oci:${runLayout}:${tag}`, `docker://${reg.host}/base/${to}`], { home });
    if (c.code !== 0) throw new Error(`pushing the run image failed: ${c.stderr}`);
  }
  const bps = join(dir, "bps");
  const bp = await writeBuildpack(bps, {
    id: "examples/hello",
    version: "0.0.1",
    build: `set -e
L="$CNB_LAYERS_DIR/hello"
if [ -f "$L/stamp" ]; then echo "layer restored: $(cat "$L/stamp")"; else mkdir -p "$L/bin" "$L/env.launch"; echo "built once" > "$L/stamp"; fi
printf '#!/bin/sh\\necho "hello $GREETING from $(cat /workspace/hello.txt)"\\n' > "$L/bin/hello"
chmod 755 "$L/bin/hello"
printf 'berth' > "$L/env.launch/GREETING"
printf '[types]\\nlaunch = true\\ncache = true\\n' > "$CNB_LAYERS_DIR/hello.toml"
C="$CNB_LAYERS_DIR/deps"
if [ -f "$C/data" ]; then echo "cache restored: $(cat "$C/data")"; else mkdir -p "$C"; echo "deps v1" > "$C/data"; fi
printf '[types]\\ncache = true\\n' > "$CNB_LAYERS_DIR/deps.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["hello"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"
`,
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "examples/hello"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${reg.host}/base/run:1"\n`,
  );
  builder = `oci:${layout}:builder`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "app", "hello.txt"), "the app");
}, 180_000);
afterAll(async () => {
  await reg?.stop();
});

const build = (target: string, extra: string[] = [], h = home) =>
  berth(["build", join(dir, "app"), "-t", target, "--builder", builder, "--publish", ...extra], { home: h });

describe("berth build --publish against a registry", () => {
  it("the first build mounts the run image's layers; the second with nothing changed uploads no blob, same digest", async () => {
    const target = `${reg.host}/team/app:1`;
    const runImage = await remote(`${reg.host}/base/run:1`);
    await reg.markLog();
    const b = await build(target, ["--run-image", `${reg.host}/base/run:1`]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain(`Successfully built image '${target}'`);
    const first = await reg.requests();
    // The run image's layers are mounted (or found), never downloaded.
    const runLayers = new Set(runImage.manifest.layers.map((l) => l.digest));
    expect(blobGets(first).filter((r) => [...runLayers].some((d) => r.uri.endsWith(d)))).toEqual([]);
    expect(putDigests(first).filter((d) => runLayers.has(d))).toEqual([]);
    const one = await remote(target);
    expect(one.manifest.layers.slice(0, runLayers.size).map((l) => l.digest)).toEqual([...runLayers]);

    await reg.markLog();
    const again = await build(target, ["--run-image", `${reg.host}/base/run:1`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("Reusing layer 'examples/hello:hello'");
    expect(again.stderr).not.toContain("Adding layer");
    const second = await reg.requests();
    expect(uploads(second)).toEqual([]);
    expect(second.filter((r) => r.method === "PATCH")).toEqual([]);
    // Nothing is downloaded either: reuse is decided from the manifest and config. The one exception is the
    // launch SBOM layer, which the restore brings back from the previous image as the lifecycle's does.
    const cfg = await berth(["inspect", "--config", `docker://${target}`], { home });
    const config = JSON.parse(cfg.stdout) as {
      rootfs: { diff_ids: string[] };
      config: { Labels: Record<string, string> };
    };
    const sbomSha = (
      JSON.parse(config.config.Labels["io.buildpacks.lifecycle.metadata"]!) as { sbom: { sha: string } }
    ).sbom.sha;
    const sbomBlob = one.manifest.layers[config.rootfs.diff_ids.indexOf(sbomSha)]!.digest;
    expect(
      blobGets(second).filter((r) =>
        one.manifest.layers.some((l) => l.digest !== sbomBlob && r.uri.endsWith(l.digest)),
      ),
    ).toEqual([]);
    expect((await remote(target)).digest).toBe(one.digest);
  }, 180_000);

  it("--cache-image: the cache goes to the registry and a build from a fresh BERTH_HOME restores from it", async () => {
    const target = `${reg.host}/team/cached:1`;
    const cacheRef = `${reg.host}/team/cached-cache:latest`;
    const b = await build(target, ["--cache-image", cacheRef]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).not.toContain("cache restored");
    expect(b.stderr).toContain("Adding cache layer 'examples/hello:deps'");
    const built = await remote(target);
    const cache = await remote(cacheRef);
    expect(cache.manifest.layers.length).toBe(2);

    const fresh = join(dir, "home-fresh");
    await reg.markLog();
    const again = await build(target, ["--cache-image", cacheRef], fresh);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("cache restored: deps v1");
    expect(again.stderr).toContain("layer restored: built once");
    expect(again.stderr).toContain("Reusing cache layer 'examples/hello:deps'");
    const rs = await reg.requests();
    // The cache layers came down once each (restore); nothing unchanged went up.
    expect(uploads(rs)).toEqual([]);
    expect((await remote(cacheRef, fresh)).digest).toBe(cache.digest);
    expect((await remote(target, fresh)).digest).toBe(built.digest);

    // A build from yet another fresh home without the cache image has nothing to restore.
    const none = await build(target, [], join(dir, "home-none"));
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).not.toContain("cache restored");
  }, 180_000);
});

describe("a cache image whose blob the registry lost", () => {
  it("is a cache miss for that layer with a warning, never a failed build; the next cache holds the blob again", async () => {
    const target = `${reg.host}/team/lost:1`;
    const cacheRef = `${reg.host}/team/lost-cache:latest`;
    const b = await build(target, ["--cache-image", cacheRef]);
    expect(b.code, b.stderr).toBe(0);
    const cache = await remote(cacheRef);
    const app = await remote(target);
    const cacheOnly = cache.manifest.layers.filter(
      (l) => !app.manifest.layers.some((a) => a.digest === l.digest),
    );
    expect(cacheOnly.length).toBe(1);
    // Another writer's cache replaced it, or a GC: the blob data is gone while the manifest still names it.
    for (const l of cacheOnly) {
      const hex = l.digest.slice(7);
      await rm(join(reg.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex), {
        recursive: true,
        force: true,
      });
    }
    const again = await build(target, ["--cache-image", cacheRef], join(dir, "home-lost"));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("treated as a cache miss");
    expect(again.stderr).not.toContain("cache restored: deps v1");
    // The cache written by that build is whole: a third build restores from it.
    const third = await build(target, ["--cache-image", cacheRef], join(dir, "home-lost-2"));
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain("cache restored: deps v1");
  }, 240_000);
});

describe("builds sharing one cache image", () => {
  it("three at once, of different apps and of the same app, round after round: all succeed and each result runs", async () => {
    const cacheRef = `${reg.host}/team/shared-cache:latest`;
    for (const n of ["b", "c"]) {
      await mkdir(join(dir, `app-${n}`), { recursive: true });
      await writeFile(join(dir, `app-${n}`, "hello.txt"), `app ${n}`);
    }
    const failures: string[] = [];
    for (let round = 0; round < 2; round++) {
      const rs = await Promise.all(
        [
          ["app", "same-1"],
          ["app", "same-2"],
          [`app-b`, "other-b"],
          [`app-c`, "other-c"],
        ].map(([app, name], k) =>
          berth(
            [
              "build",
              join(dir, app!),
              "-t",
              `${reg.host}/team/${name}:1`,
              "--builder",
              builder,
              "--publish",
              "--cache-image",
              cacheRef,
            ],
            { home: join(dir, `home-shared-${round}-${k}`) },
          ),
        ),
      );
      for (const r of rs) if (r.code !== 0) failures.push(r.stderr.trim().split("\n").slice(-3).join("\n"));
    }
    expect(failures).toEqual([]);
    for (const [name, text] of [
      ["same-2", "the app"],
      ["other-c", "app c"],
    ] as const) {
      const pulled = await berth(["copy", `docker://${reg.host}/team/${name}:1`, `${name}:1`], { home });
      expect(pulled.code, pulled.stderr).toBe(0);
      const run = await berth(["run", `${name}:1`], { home });
      expect(run.stdout, run.stderr).toBe(`hello berth from ${text}\n`);
    }
  }, 600_000);
});

describe("berth rebase --publish against a registry", () => {
  it("puts the new run image's layers under the unchanged app layers; no app-layer blob moves", async () => {
    const target = `${reg.host}/team/rebased:1`;
    const b = await build(target, []);
    expect(b.code, b.stderr).toBe(0);
    const before = await remote(target);
    const run1 = await remote(`${reg.host}/base/run:1`);
    const run2 = await remote(`${reg.host}/base/run:2`);
    const appLayers = before.manifest.layers.slice(run1.manifest.layers.length).map((l) => l.digest);
    expect(appLayers.length).toBeGreaterThan(2);

    await reg.markLog();
    // run:2 is not the run image the app recorded (run:1): the lifecycle wants -force and then warns.
    const refused = await berth(["rebase", target, "--publish", "--run-image", `${reg.host}/base/run:2`], {
      home,
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("please provide -force to override");
    await reg.markLog();
    const r = await berth(
      ["rebase", target, "--publish", "--run-image", `${reg.host}/base/run:2`, "--force"],
      {
        home,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `new base image '${reg.host}/base/run:2' not found in existing run image metadata`,
    );
    const rs = await reg.requests();
    const after = await remote(target);
    expect(after.digest).not.toBe(before.digest);
    expect(after.manifest.layers.map((l) => l.digest)).toEqual([
      ...run2.manifest.layers.map((l) => l.digest),
      ...appLayers,
    ]);
    // No app-layer blob downloaded or uploaded.
    expect(blobGets(rs).filter((q) => appLayers.some((d) => q.uri.endsWith(d)))).toEqual([]);
    expect(putDigests(rs).filter((d) => appLayers.includes(d))).toEqual([]);
    expect(rs.filter((q) => q.method === "PATCH")).toEqual([]);
    // Run-image layers are mounted or already present: never downloaded, never uploaded.
    const runLayers = run2.manifest.layers.map((l) => l.digest);
    expect(blobGets(rs).filter((q) => runLayers.some((d) => q.uri.endsWith(d)))).toEqual([]);
    expect(putDigests(rs).filter((d) => runLayers.includes(d))).toEqual([]);
    // Only the new config went up as a blob.
    expect(putDigests(rs)).toEqual([after.manifest.config.digest]);

    // The rebased app still runs, on the new run image.
    const pulled = await berth(["copy", `docker://${target}`, "rebased:1"], { home });
    expect(pulled.code, pulled.stderr).toBe(0);
    const run = await berth(["run", "rebased:1"], { home });
    expect(run.stdout, run.stderr).toBe("hello berth from the app\n");
    const v = await berth(["run", "--entrypoint", "cat", "rebased:1", "/etc/run-image-version"], { home });
    expect(v.stdout, v.stderr).toBe("2\n");
  }, 180_000);
});

describe("berth build with a builder in a registry", () => {
  it("--builder docker://REF: the builder is read from the registry while the sandbox runs (the source stays open)", async () => {
    // A fresh BERTH_HOME: the build image's layers are read from the registry, after the builder is extracted.
    // Before the fix this failed with "The client is destroyed" (openBuilder closed the registry source).
    const h = join(dir, "home-remote-builder");
    const ref = `${reg.host}/team/builder:1`;
    const push = await berth(["copy", builder, `docker://${ref}`], { home });
    expect(push.code, push.stderr).toBe(0);
    const r = await berth(
      ["build", join(dir, "app"), "-t", "from-remote-builder:1", "--builder", `docker://${ref}`],
      { home: h },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("destroyed");
    const run = await berth(["run", "from-remote-builder:1"], { home: h });
    expect(run.stdout, run.stderr).toBe("hello berth from the app\n");
  }, 180_000);
});
