/**
 * End to end: a tiny build image made in the test, `berth builder create` writing a builder with pack's
 * layout and labels, `berth detect` in the runtime sandbox, and the build phase in the sandbox.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { readTar } from "../../src/layer/index.ts";
import { hostPlatform } from "../../src/oci/platform.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { makeBuildImage, memoryLogger, multiPlatformBuildpackage, writeBuildpack } from "./helpers.ts";
import {
  BUILDER_METADATA_LABEL,
  BUILDPACK_LAYERS_LABEL,
  buildSteps,
  NORMALIZED_MTIME,
  ORDER_LABEL,
  openBuilder,
  openImage,
  openRun,
  targetOf,
  targetOfImage,
} from "./lib.ts";

const pexec = promisify(execFile);

let dir: string;
let home: string;
let layout: string;
const ctx = () => ({ home, env: {} });

beforeAll(async () => {
  dir = await tempDir("berth-cnb-builder-");
  home = join(dir, "home");
  layout = join(dir, "images");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  const bps = join(dir, "buildpacks");
  // hello: provides and requires "world", builds a build layer (env + bin) and a launch-only layer.
  await writeBuildpack(bps, {
    id: "examples/hello",
    version: "0.0.1",
    detect: `test -f hello.txt || exit 100
cat > "$CNB_BUILD_PLAN_PATH" <<'EOF2'
[[provides]]
name = "world"
[[requires]]
name = "world"
[requires.metadata]
planet = "Earth-616"
EOF2`,
    build: `echo "hello build as $(id -u):$(id -g) in $(pwd)"
mkdir -p "$CNB_LAYERS_DIR/tools/bin" "$CNB_LAYERS_DIR/tools/env" "$CNB_LAYERS_DIR/rt/env"
printf '#!/bin/sh\\necho tool says hi\\n' > "$CNB_LAYERS_DIR/tools/bin/hi"
chmod +x "$CNB_LAYERS_DIR/tools/bin/hi"
printf 'yes' > "$CNB_LAYERS_DIR/tools/env/HELLO_TOOLS"
printf '[types]\\nbuild = true\\n' > "$CNB_LAYERS_DIR/tools.toml"
printf 'launch-only' > "$CNB_LAYERS_DIR/rt/env/RT_ONLY"
printf '[types]\\nlaunch = true\\n[metadata]\\nv = "1"\\n' > "$CNB_LAYERS_DIR/rt.toml"
cp "$CNB_BP_PLAN_PATH" "$CNB_LAYERS_DIR/../hello-plan.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<'EOF2'
[[processes]]
type = "web"
command = ["/workspace/run.sh"]
default = true
EOF2`,
  });
  await writeBuildpack(bps, {
    id: "examples/after",
    version: "0.0.2",
    detect: "exit 0",
    build: `env > "$CNB_LAYERS_DIR/../after-env"
hi > "$CNB_LAYERS_DIR/../after-hi"
echo "workspace: $(cat hello.txt)"`,
  });
  await writeBuildpack(bps, { id: "examples/never", version: "1.0.0", detect: "exit 100" });
  await writeFile(
    join(dir, "builder.toml"),
    `description = "berth test builder"

[[buildpacks]]
uri = "buildpacks/examples_hello-0.0.1"

[[buildpacks]]
uri = "./buildpacks/examples_after-0.0.2"

[[buildpacks]]
id = "examples/never"
uri = "buildpacks/examples_never-1.0.0"

[[order]]
[[order.group]]
id = "examples/never"

[[order]]
[[order.group]]
id = "examples/hello"
[[order.group]]
id = "examples/after"
version = "0.0.2"
optional = true

[build]
image = "oci:${layout}:build"

[[build.env]]
name = "BP_FROM_OPERATOR"
value = "op"

[[build.env]]
name = "BP_LIST"
value = "x"
suffix = "append"
delim = ":"

[[run.images]]
image = "example.org/run:1"
mirrors = ["mirror.example.org/run:1"]
`,
  );
  const r = await berth(
    ["builder", "create", "--no-lifecycle", `oci:${layout}:builder`, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "app", "hello.txt"), "hi from the app\n");
});

async function builderLayers(): Promise<
  { path: string; mode: number; uid: number; gid: number; mtime: number; type: string }[][]
> {
  const opened = await openImage(`oci:${layout}:builder`, ctx());
  try {
    const out = [];
    for (const l of opened.image.layers()) {
      const entries = [];
      for await (const e of readTar(await l.uncompressed())) {
        entries.push({
          path: e.header.path,
          mode: e.header.mode,
          uid: e.header.uid,
          gid: e.header.gid,
          mtime: e.header.mtime,
          type: e.header.type,
        });
        for await (const _ of e.body) {
          // drain
        }
      }
      out.push(entries);
    }
    return out;
  } finally {
    await opened.close();
  }
}

describe("berth builder create", () => {
  it("writes pack's labels", async () => {
    const opened = await openImage(`oci:${layout}:builder`, ctx());
    const cfg = opened.image.config!;
    await opened.close();
    const labels = cfg.config!.Labels!;
    expect(cfg.config!.WorkingDir).toBe("/layers");
    const layers = JSON.parse(labels[BUILDPACK_LAYERS_LABEL]!);
    expect(Object.keys(layers).sort()).toEqual(["examples/after", "examples/hello", "examples/never"]);
    expect(layers["examples/hello"]["0.0.1"]).toEqual({
      api: "0.10",
      layerDiffID: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      name: "Test examples/hello",
    });
    expect(cfg.rootfs.diff_ids).toContain(layers["examples/hello"]["0.0.1"].layerDiffID);
    expect(JSON.parse(labels[ORDER_LABEL]!)).toEqual([
      { group: [{ id: "examples/never" }] },
      { group: [{ id: "examples/hello" }, { id: "examples/after", version: "0.0.2", optional: true }] },
    ]);
    const md = JSON.parse(labels[BUILDER_METADATA_LABEL]!);
    expect(Object.keys(md)).toEqual([
      "description",
      "buildpacks",
      "extensions",
      "stack",
      "lifecycle",
      "createdBy",
      "images",
    ]);
    expect(md.description).toBe("berth test builder");
    expect(md.buildpacks).toEqual([
      { id: "examples/hello", name: "Test examples/hello", version: "0.0.1" },
      { id: "examples/after", name: "Test examples/after", version: "0.0.2" },
      { id: "examples/never", name: "Test examples/never", version: "1.0.0" },
    ]);
    expect(md.stack).toEqual({
      runImage: { image: "example.org/run:1", mirrors: ["mirror.example.org/run:1"] },
    });
    expect(md.images).toEqual([{ image: "example.org/run:1", mirrors: ["mirror.example.org/run:1"] }]);
    expect(md.createdBy.name).toBe("berth");
    // --no-lifecycle: the label claims no lifecycle (it claimed lifecycle 0.1.0 and Platform API 0.13 before
    // issue 14, with no /cnb/lifecycle in the builder), as pack's shape with every value null.
    expect(md.lifecycle).toEqual({
      version: null,
      api: { buildpack: null, platform: null },
      apis: {
        buildpack: { deprecated: null, supported: null },
        platform: { deprecated: null, supported: null },
      },
    });
    expect((await builderLayers()).flat().some((e) => e.path.startsWith("cnb/lifecycle"))).toBe(false);
    expect(labels["io.buildpacks.stack.id"]).toBe("io.berth.test");
  });

  it("lays out the files as pack does: owners, modes, mtimes, one layer per buildpack", async () => {
    const layers = await builderLayers();
    const all = layers.flat();
    const find = (p: string) => all.filter((e) => e.path === p).at(-1);
    expect(find("workspace")).toMatchObject({ type: "dir", uid: 1000, gid: 1000, mode: 0o755 });
    expect(find("layers")).toMatchObject({ type: "dir", uid: 1000, gid: 1000, mode: 0o755 });
    for (const p of ["cnb", "cnb/buildpacks", "platform", "platform/env", "cnb/build-config/env"]) {
      expect(find(p)).toMatchObject({ type: "dir", uid: 0, gid: 0, mode: 0o755 });
    }
    const helloLayer = layers.find((l) =>
      l.some((e) => e.path === "cnb/buildpacks/examples_hello/0.0.1/buildpack.toml"),
    )!;
    expect(helloLayer.map((e) => e.path)).toEqual([
      "cnb/buildpacks/examples_hello",
      "cnb/buildpacks/examples_hello/0.0.1",
      "cnb/buildpacks/examples_hello/0.0.1/bin",
      "cnb/buildpacks/examples_hello/0.0.1/bin/build",
      "cnb/buildpacks/examples_hello/0.0.1/bin/detect",
      "cnb/buildpacks/examples_hello/0.0.1/buildpack.toml",
    ]);
    for (const e of helloLayer) {
      expect(e).toMatchObject({ uid: 0, gid: 0, mtime: NORMALIZED_MTIME });
      expect(e.mode).toBe(e.path.endsWith("buildpack.toml") ? 0o644 : 0o755);
    }
    for (const p of [
      "cnb/order.toml",
      "cnb/run.toml",
      "cnb/stack.toml",
      "cnb/build-config/env/BP_FROM_OPERATOR",
      "cnb/build-config/env/BP_LIST.append",
      "cnb/build-config/env/BP_LIST.delim",
    ]) {
      expect(find(p)).toMatchObject({ type: "file", uid: 0, gid: 0, mode: 0o644, mtime: NORMALIZED_MTIME });
    }
  });

  it("writes order.toml with resolved versions, run.toml and stack.toml", async () => {
    const b = await openBuilder(`oci:${layout}:builder`, ctx(), join(dir, "extract-1"));
    await b.close();
    expect(b.order).toEqual([
      { group: [{ id: "examples/never", version: "1.0.0" }] },
      {
        group: [
          { id: "examples/hello", version: "0.0.1" },
          { id: "examples/after", version: "0.0.2", optional: true },
        ],
      },
    ]);
    expect(b.runImages).toEqual([{ image: "example.org/run:1", mirrors: ["mirror.example.org/run:1"] }]);
    expect(await readFile(join(b.cnbDir, "stack.toml"), "utf8")).toContain('image = "example.org/run:1"');
    expect(
      b.store
        .all()
        .map((x) => x.descriptor.buildpack.id)
        .sort(),
    ).toEqual(["examples/after", "examples/hello", "examples/never"]);
    expect(b.info.user).toEqual({ uid: 1000, gid: 1000 });
    expect(await readFile(join(b.buildConfigDir, "env", "BP_LIST.delim"), "utf8")).toBe(":");
  });

  it("skopeo and umoci read the builder", async () => {
    const { stdout } = await pexec("skopeo", ["inspect", `oci:${layout}:builder`]);
    const layers = JSON.parse(JSON.parse(stdout).Labels[BUILDPACK_LAYERS_LABEL]);
    expect(Object.keys(layers).sort()).toEqual(["examples/after", "examples/hello", "examples/never"]);
    await pexec("umoci", ["unpack", "--image", `${layout}:builder`, join(dir, "unpacked")]);
    const st = await stat(
      join(dir, "unpacked", "rootfs", "cnb", "buildpacks", "examples_hello", "0.0.1", "bin", "detect"),
    );
    expect(st.mode & 0o777).toBe(0o755);
  });

  it("--platform also picks the platform of a multi-platform buildpack image it pulls", async () => {
    // examples/arch@1.0.0 packaged twice, for amd64 and arm64, behind one index; the build image says arm64.
    const armBuild = `oci:${layout}:build-arm64`;
    const m = await berth(["mutate", `oci:${layout}:build`, "-t", armBuild, "--platform", "linux/arm64"], {
      home,
    });
    if (m.code !== 0) throw new Error(`mutate failed: ${m.stderr}`);
    const pkgs = await multiPlatformBuildpackage(dir, home);
    await writeFile(
      join(dir, "arch-builder.toml"),
      `[[buildpacks]]\nimage = "${pkgs}"\n\n[[order]]\n[[order.group]]\nid = "examples/arch"\n\n[build]\nimage = "${armBuild}"\n\n[[run.images]]\nimage = "example.org/run:1"\n`,
    );
    // The host's platform (amd64 here) picked the amd64 package before the fix.
    const r = await berth(
      [
        "builder",
        "create",
        "--no-lifecycle",
        "--platform",
        "linux/arm64",
        `oci:${layout}:arch-builder`,
        "--config",
        join(dir, "arch-builder.toml"),
      ],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    const opened = await openImage(`oci:${layout}:arch-builder`, ctx());
    const labels = opened.image.config!.config!.Labels!;
    await opened.close();
    const layers = JSON.parse(labels[BUILDPACK_LAYERS_LABEL]!);
    expect(layers["examples/arch"]["1.0.0"].targets).toEqual([{ os: "linux", arch: "arm64" }]);
  });

  it("names the config file and key on bad input", async () => {
    await writeFile(join(dir, "bad.toml"), `[build]\nimage = "x"\nbogus = 1\n`);
    const r = await berth(
      ["builder", "create", "--no-lifecycle", `oci:${layout}:bad`, "--config", join(dir, "bad.toml")],
      {
        home,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("bad.toml");
    expect(r.stderr).toContain("build.bogus is not a known key");
    await writeFile(
      join(dir, "missing-bp.toml"),
      `[[buildpacks]]\nuri = "nope"\n[build]\nimage = "oci:${layout}:build"\n[[run.images]]\nimage = "r"\n`,
    );
    const m = await berth(
      ["builder", "create", "--no-lifecycle", `oci:${layout}:bad`, "--config", join(dir, "missing-bp.toml")],
      { home },
    );
    expect(m.code).not.toBe(0);
    expect(m.stderr).toContain("buildpacks[0] (nope)");
  });

  it("checks the run images as pack does: the stack id, the platform, a warning for one not found", async () => {
    const create = async (toml: string, extra: string[] = [], build = `oci:${layout}:build`) => {
      await writeFile(join(dir, "run-check.toml"), `[build]\nimage = "${build}"\n${toml}`);
      return berth(
        [
          "builder",
          "create",
          "--no-lifecycle",
          `oci:${layout}:run-check`,
          "--config",
          join(dir, "run-check.toml"),
          ...extra,
        ],
        { home },
      );
    };
    // The build image is also a run image of stack io.berth.test (its label); [stack] id says another.
    const run = `oci:${layout}:build`;
    const stack = await create(`[stack]\nid = "other.stack"\n[[run.images]]\nimage = "${run}"\n`);
    expect(stack.code).not.toBe(0);
    expect(stack.stderr).toContain(
      `run-check.toml: [stack] id "other.stack" does not match run image ${run}, whose io.buildpacks.stack.id is "io.berth.test"`,
    );
    // A mirror not found: a warning; the builder is made.
    const none = `oci:${join(dir, "no-such-layout")}:run`;
    const ok = await create(
      `[stack]\nid = "io.berth.test"\n[[run.images]]\nimage = "${run}"\nmirrors = ["${none}"]\n`,
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`run image ${none} is not accessible`);
    // The run image is for this machine (amd64 or arm64), the builder for the other.
    const other = hostPlatform().architecture === "arm64" ? "amd64" : "arm64";
    const otherBuild = `oci:${layout}:build-${other}`;
    const m = await berth(["mutate", run, "-t", otherBuild, "--platform", `linux/${other}`], { home });
    if (m.code !== 0) throw new Error(`mutate failed: ${m.stderr}`);
    const platform = await create(
      `[[run.images]]\nimage = "${run}"\n`,
      ["--platform", `linux/${other}`],
      otherBuild,
    );
    expect(platform.code).not.toBe(0);
    expect(platform.stderr).toContain(`run-check.toml: run image ${run}:`);
    expect(platform.stderr).toContain(`not linux/${other}`);
  });
});

describe("detect and build in the runtime sandbox", () => {
  it("berth detect prints the group and plan", async () => {
    const r = await berth(["detect", join(dir, "app"), "--builder", `oci:${layout}:builder`], { home });
    expect(r.stderr).toContain("===> DETECTING");
    expect(r.stderr).toContain("2 of 2 buildpacks participating");
    expect(r.stderr).toMatch(/examples\/hello 0\.0\.1\nexamples\/after 0\.0\.2/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[[group]]\nid = "examples/hello"\nversion = "0.0.1"\napi = "0.10"');
    expect(r.stdout).toContain('name = "world"');
    expect(r.stdout).toContain('planet = "Earth-616"');
  });

  it("berth detect --isolation host runs the buildpacks on this machine, with -e and --verbose", async () => {
    const r = await berth(
      [
        "detect",
        join(dir, "app"),
        "-B",
        `oci:${layout}:builder`,
        "--isolation",
        "host",
        "-e",
        "BP_A=1",
        "--verbose",
        "--json",
      ],
      { home },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Timer: Detector ran for");
    expect(r.stderr).toContain("pass: examples/hello@0.0.1");
    const out = JSON.parse(r.stdout);
    expect(out.group.group.map((g: { id: string }) => g.id)).toEqual(["examples/hello", "examples/after"]);
    expect(out.plan.entries[0].requires[0]).toEqual({ name: "world", metadata: { planet: "Earth-616" } });
  });

  it("berth detect fails naming the buildpacks when no group passes", async () => {
    await mkdir(join(dir, "empty-app"), { recursive: true });
    const r = await berth(["detect", join(dir, "empty-app"), "--builder", `oci:${layout}:builder`], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no buildpacks participating");
    expect(r.stderr).toContain("examples/never@1.0.0 (did not pass)");
    expect(r.stderr).toContain("examples/hello@0.0.1 (did not pass)");
  });

  it("buildpacks detect and build inside the build image as the CNB user; env flows as the spec says", async () => {
    const work = join(dir, "sandbox-build");
    await mkdir(work, { recursive: true });
    const logger = memoryLogger();
    const c = await openRun({
      builder: `oci:${layout}:builder`,
      ctx: ctx(),
      appDir: join(dir, "app"),
      workspace: join(work, "workspace"),
      layersDir: join(work, "layers"),
      work,
      env: ["BP_USER=from-platform"],
      asRoot: userInfo().uid === 0,
      logger,
    });
    const paths = c.paths;
    expect(c.executor.kind).toBe("sandbox");
    const target = await targetOf(c, targetOfImage(c.builder.info.image));
    expect(target).toMatchObject({ os: "linux", arch: "amd64", distro: { name: "testos", version: "1.2" } });
    const detected = await buildSteps.detect(c, target);
    const result = await buildSteps.build(c, detected, target);
    const output = logger.outputText();
    expect(output).toContain("hello build as 1000:1000 in /workspace");
    expect(output).toContain("workspace: hi from the app");
    const plan = await readFile(join(paths.layers, "hello-plan.toml"), "utf8");
    expect(plan).toContain('name = "world"');
    expect(plan).toContain('planet = "Earth-616"');
    const env = await readFile(join(paths.layers, "after-env"), "utf8");
    expect(env).toContain("HELLO_TOOLS=yes");
    expect(env).toContain("PATH=/layers/examples_hello/tools/bin:");
    expect(env).not.toContain("RT_ONLY");
    expect(env).toContain("BP_USER=from-platform");
    expect(env).toContain("BP_FROM_OPERATOR=op");
    expect(env).toContain("BP_LIST=x");
    expect(env).toContain("CNB_LAYERS_DIR=/layers/examples_after");
    expect(env).toContain("CNB_TARGET_DISTRO_NAME=testos");
    expect(env).not.toContain("CNB_USER_ID");
    expect(await readFile(join(paths.layers, "after-hi"), "utf8")).toBe("tool says hi\n");
    expect((await stat(join(paths.layers, "examples_hello", "tools", "bin", "hi"))).uid).toBe(1000);
    expect(result.metadata.buildpackDefaultProcessType).toBe("web");
    const md = await readFile(join(paths.layers, "config", "metadata.toml"), "utf8");
    expect(md).toContain('buildpack-default-process-type = "web"');
    expect(md).toContain('command = [ "/workspace/run.sh" ]');
    expect(result.buildpacks[0]!.layers.map((l) => [l.name, l.types])).toEqual([
      ["rt", { build: false, launch: true, cache: false }],
      ["tools", { build: true, launch: false, cache: false }],
    ]);
  });
});
