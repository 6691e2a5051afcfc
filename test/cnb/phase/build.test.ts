/** The build phase on this machine (--isolation host): layers, env files, plans, launch.toml merging, errors. */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { mergeLabels, ProcessMap } from "../../../src/cnb/phase/build.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type BpSpec, memoryLogger, phasePaths, writeBuildpack } from "../helpers.ts";
import {
  BuildpackStore,
  type BuildResult,
  build,
  Env,
  hostExecutor,
  isBerthErrorLike,
  type Plan,
  parseMetadata,
  readBuildpackDir,
} from "../lib.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-build-");
});

async function run(
  specs: BpSpec[],
  plan: Plan = { entries: [] },
  logger = memoryLogger(),
): Promise<BuildResult> {
  const bps = [];
  for (const s of specs) bps.push(await readBuildpackDir(await writeBuildpack(join(dir, "bps"), s)));
  const paths = await phasePaths(dir);
  return build({
    group: { group: specs.map((s) => ({ id: s.id, version: "0.0.1", api: s.api ?? "0.10" })) },
    plan,
    store: new BuildpackStore(bps),
    executor: hostExecutor({ paths }),
    env: Env.forBuild({ PATH: "/usr/bin:/bin" }),
    target: { os: "linux", arch: "amd64", distro: { name: "testos", version: "1.2" } },
    platformApi: "0.13",
    logger,
  });
}

const read = (p: string) => readFile(p, "utf8");

describe("build", () => {
  it("runs bin/build with its arguments and env, and the filtered plan", async () => {
    const logger = memoryLogger();
    const r = await run(
      [
        {
          id: "example/first",
          build: `
echo "args=$1 $2 $3"
test "$CNB_LAYERS_DIR" = "$1"
test "$CNB_PLATFORM_DIR" = "$2"
test "$CNB_BP_PLAN_PATH" = "$3"
test -f "$CNB_BUILDPACK_DIR/buildpack.toml"
test "$CNB_TARGET_OS/$CNB_TARGET_ARCH/$CNB_TARGET_DISTRO_NAME/$CNB_TARGET_DISTRO_VERSION" = linux/amd64/testos/1.2
cp "$3" "$1/../plan-first.toml"
cat > "$1/build.toml" <<'EOF2'
[[unmet]]
name = "shared"
EOF2`,
        },
        { id: "second", build: `cp "$3" "$1/../plan-second.toml"` },
      ],
      {
        entries: [
          {
            providers: [{ id: "example/first", version: "0.0.1" }],
            requires: [{ name: "own", metadata: { v: "1" } }],
          },
          {
            providers: [
              { id: "example/first", version: "0.0.1" },
              { id: "second", version: "0.0.1" },
            ],
            requires: [{ name: "shared" }],
          },
        ],
      },
      logger,
    );
    expect(logger.text()).toContain("===> BUILDING");
    expect(logger.outputText()).toMatch(/args=.*layers\/example_first .*platform .*plan\.toml/);
    const first = await read(join(dir, "layers", "plan-first.toml"));
    expect(first).toContain('name = "own"');
    expect(first).toContain('name = "shared"');
    // "shared" was unmet by the first buildpack, so it reaches the second; "own" does not.
    const second = await read(join(dir, "layers", "plan-second.toml"));
    expect(second).toContain('name = "shared"');
    expect(second).not.toContain('name = "own"');
    expect(r.buildpacks.map((b) => b.layersDir)).toEqual([
      join(dir, "layers", "example_first"),
      join(dir, "layers", "second"),
    ]);
  });

  it("a build layer's env and bin reach the next buildpack; a launch-only layer's do not", async () => {
    await run([
      {
        id: "provider",
        build: `
mkdir -p "$1/tool/bin" "$1/tool/lib" "$1/tool/env" "$1/tool/env.build" "$1/runtime/env" "$1/runtime/bin"
printf '#!/bin/sh\\necho tool-ran\\n' > "$1/tool/bin/mytool"; chmod +x "$1/tool/bin/mytool"
printf 'from-tool' > "$1/tool/env/TOOL_HOME.override"
printf 'build-only' > "$1/tool/env.build/BUILD_ONLY"
printf 'a' > "$1/tool/env/LIST.append"
printf ',' > "$1/tool/env/LIST.delim"
printf 'launch-value' > "$1/runtime/env/RUNTIME_ONLY"
printf '[types]\\nbuild = true\\ncache = true\\n[metadata]\\nversion = "1"\\n' > "$1/tool.toml"
printf '[types]\\nlaunch = true\\n' > "$1/runtime.toml"`,
      },
      {
        id: "consumer",
        build: `
env > "$1/../consumer-env"
mytool > "$1/../consumer-tool"`,
      },
    ]);
    const env = await read(join(dir, "layers", "consumer-env"));
    expect(env).toContain("TOOL_HOME=from-tool");
    expect(env).toContain("BUILD_ONLY=build-only");
    expect(env).toContain("LIST=a");
    expect(env).toMatch(new RegExp(`PATH=${join(dir, "layers", "provider", "tool", "bin")}:/usr/bin:/bin`));
    expect(env).toContain(`LD_LIBRARY_PATH=${join(dir, "layers", "provider", "tool", "lib")}`);
    expect(env).toContain(`LIBRARY_PATH=${join(dir, "layers", "provider", "tool", "lib")}`);
    expect(env).not.toContain("RUNTIME_ONLY");
    expect(env).not.toContain("runtime/bin");
    expect(await read(join(dir, "layers", "consumer-tool"))).toBe("tool-ran\n");
  });

  it("reads layer types and metadata; a layer with no types becomes <layer>.ignore", async () => {
    const r = await run([
      {
        id: "layers",
        build: `
mkdir -p "$1/cached" "$1/scratch"
printf '[types]\\ncache = true\\nlaunch = true\\n[metadata]\\nkey = "value"\\n' > "$1/cached.toml"
printf '[metadata]\\nnothing = true\\n' > "$1/scratch.toml"
printf '[metadata]\\nsha = "abc"\\n' > "$1/store.toml"`,
      },
    ]);
    const layers = r.buildpacks[0]!.layers;
    expect(layers.map((l) => [l.name, l.types, l.hasContents])).toEqual([
      ["cached", { build: false, launch: true, cache: true }, true],
      ["scratch", { build: false, launch: false, cache: false }, false],
    ]);
    expect(layers[0]!.metadata).toEqual({ key: "value" });
    expect(r.buildpacks[0]!.store).toEqual({ sha: "abc" });
    expect(await stat(join(dir, "layers", "layers", "scratch.ignore")).then((s) => s.isDirectory())).toBe(
      true,
    );
  });

  it("merges launch.toml: the last default process wins, a later same-type non-default clears it, last label wins", async () => {
    const logger = memoryLogger();
    const r = await run(
      [
        {
          id: "one",
          build: `cat > "$1/launch.toml" <<'EOF2'
[[labels]]
key = "color"
value = "red"
[[labels]]
key = "one"
value = "1"
[[processes]]
type = "web"
command = ["node", "server.js"]
args = ["--port", "8080"]
default = true
[[processes]]
type = "worker"
command = ["node", "worker.js"]
[[slices]]
paths = ["public/*"]
EOF2`,
        },
        {
          id: "two",
          build: `cat > "$1/launch.toml" <<'EOF2'
[[labels]]
key = "color"
value = "blue"
[[processes]]
type = "worker"
command = ["./worker"]
default = true
working-dir = "/workspace/sub"
EOF2`,
        },
        {
          id: "three",
          build: `cat > "$1/launch.toml" <<'EOF2'
[[processes]]
type = "web"
command = ["./web"]
EOF2`,
        },
      ],
      undefined,
      logger,
    );
    expect(r.metadata.buildpackDefaultProcessType).toBe("worker");
    expect(r.metadata.processes.map((p) => [p.type, p.command, p.buildpackId])).toEqual([
      ["web", ["./web"], "three"],
      ["worker", ["./worker"], "two"],
    ]);
    expect(r.metadata.labels).toEqual([
      { key: "color", value: "blue" },
      { key: "one", value: "1" },
    ]);
    expect(r.metadata.slices).toEqual([{ paths: ["public/*"] }]);
    const md = parseMetadata(await read(join(dir, "layers", "config", "metadata.toml")), "metadata.toml");
    expect(md.buildpackDefaultProcessType).toBe("worker");
    expect(md.processes[1]).toMatchObject({ type: "worker", workingDir: "/workspace/sub", direct: true });
    expect(md.buildpacks.map((b) => b.id)).toEqual(["one", "two", "three"]);
  });

  it("a later non-default process of the default's type leaves no default, with a warning", async () => {
    const logger = memoryLogger();
    const r = await run(
      [
        {
          id: "a",
          build: `printf '[[processes]]\\ntype = "web"\\ncommand = ["a"]\\ndefault = true\\n' > "$1/launch.toml"`,
        },
        { id: "b", build: `printf '[[processes]]\\ntype = "web"\\ncommand = ["b"]\\n' > "$1/launch.toml"` },
      ],
      undefined,
      logger,
    );
    expect(r.metadata.buildpackDefaultProcessType).toBeUndefined();
    expect(logger.text()).toContain("redefining the following default process type");
  });

  it("copies SBOM files to <layers>/sbom/{launch,build,cache}", async () => {
    await run([
      {
        id: "sbom/bp",
        build: `
mkdir -p "$1/dep"
printf '[types]\\nlaunch = true\\ncache = true\\n' > "$1/dep.toml"
echo '{"dep":1}' > "$1/dep.sbom.cdx.json"
echo '{"launch":1}' > "$1/launch.sbom.spdx.json"
echo '{"build":1}' > "$1/build.sbom.syft.json"`,
      },
    ]);
    const sbom = join(dir, "layers", "sbom");
    expect(await read(join(sbom, "launch", "sbom_bp", "dep", "sbom.cdx.json"))).toContain("dep");
    expect(await read(join(sbom, "cache", "sbom_bp", "dep", "sbom.cdx.json"))).toContain("dep");
    expect(await read(join(sbom, "launch", "sbom_bp", "sbom.spdx.json"))).toContain("launch");
    expect(await read(join(sbom, "build", "sbom_bp", "sbom.syft.json"))).toContain("build");
  });

  it("[types] at the top level of a layer toml is an error naming the buildpack and file", async () => {
    const err = await run([{ id: "toplevel", build: `printf 'launch = true\\n' > "$1/mylayer.toml"` }]).catch(
      (e) => e,
    );
    expect(isBerthErrorLike(err, "CNB_BUILD_INVALID")).toBe(true);
    expect(err.message).toContain('buildpack "toplevel@0.0.1"');
    expect(err.message).toContain("mylayer.toml");
    expect(err.message).toContain("[types] table");
  });

  it("a process type containing / is an error naming the buildpack and file", async () => {
    const err = await run([
      {
        id: "slash",
        build: `printf '[[processes]]\\ntype = "web/bad"\\ncommand = ["x"]\\n' > "$1/launch.toml"`,
      },
    ]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_BUILD_INVALID")).toBe(true);
    expect(err.message).toContain('buildpack "slash@0.0.1"');
    expect(err.message).toContain("launch.toml");
    expect(err.message).toContain('"web/bad"');
  });

  it("rejects direct in Buildpack API ≥0.9, two defaults in one buildpack, and an unknown unmet name", async () => {
    const direct = await run([
      {
        id: "d",
        build: `printf '[[processes]]\\ntype = "web"\\ncommand = ["x"]\\ndirect = true\\n' > "$1/launch.toml"`,
      },
    ]).catch((e) => e);
    expect(direct.message).toContain("direct");
    const two = await run([
      {
        id: "t",
        build: `printf '[[processes]]\\ntype = "a"\\ncommand = ["x"]\\ndefault = true\\n[[processes]]\\ntype = "b"\\ncommand = ["y"]\\ndefault = true\\n' > "$1/launch.toml"`,
      },
    ]).catch((e) => e);
    expect(two.message).toContain("second default process");
    const unmet = await run([
      { id: "u", build: `printf '[[unmet]]\\nname = "nope"\\n' > "$1/build.toml"` },
    ]).catch((e) => e);
    expect(unmet.message).toContain('unmet.name "nope"');
  });

  it("a failing bin/build stops the build with the buildpack named", async () => {
    const err = await run([{ id: "fails", build: "echo oh no; exit 7" }]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_BUILD_FAILED")).toBe(true);
    expect(err.message).toContain('buildpack "fails@0.0.1" failed: bin/build exited with status 7');
  });
});

describe("ProcessMap and mergeLabels (lc processMap)", () => {
  const proc = (type: string, isDefault = false, buildpackId = "bp") => ({
    type,
    command: [type],
    args: [],
    direct: false,
    default: isDefault,
    buildpackId,
  });

  it("the list is sorted by type with default cleared; the last default wins; a redefinition without default clears it", () => {
    const m = new ProcessMap();
    expect(m.add([proc("web", true), proc("worker")])).toBeUndefined();
    expect(m.add([proc("cli", true, "later")])).toBeUndefined();
    expect(m.defaultType).toBe("cli");
    expect(m.list().map((p) => [p.type, p.default, p.buildpackId])).toEqual([
      ["cli", false, "later"],
      ["web", false, "bp"],
      ["worker", false, "bp"],
    ]);
    expect(m.add([proc("cli", false, "last")])).toBe(
      "Warning: redefining the following default process type with a process not marked as default: cli",
    );
    expect(m.defaultType).toBeUndefined();
  });

  it("labels: the last value of a key wins, keys in first-seen order", () => {
    expect(
      mergeLabels([
        { key: "a", value: "1" },
        { key: "b", value: "2" },
        { key: "a", value: "3" },
      ]),
    ).toEqual([
      { key: "a", value: "3" },
      { key: "b", value: "2" },
    ]);
  });
});
