/**
 * `berth build --platform` with buildpacks, as pack's (pkg/client/build.go `targetToUse`: --platform, else the
 * builder's): a builder in an OCI index of linux/amd64 and linux/arm64 (each made by `berth builder create` from
 * a busybox build image of its architecture; the arm64 one Debian's arm64 busybox-static) whose run image is an
 * index of the same two. The platform picks the builder's image, the run image's, and so the app image's config;
 * the arm64 builder's buildpacks run under qemu-user-static, as docker runs pack's foreign builder. Several
 * platforms, and a platform the builder lacks, are refused in one sentence, nothing written. With --lifecycle
 * builder the platform picks the image whose lifecycle runs (the amd64 one carries the reference lifecycle).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Store } from "../../../src/oci/store.ts";
import { foreignBusybox, twoPlatformBase } from "../../dockerfile/helpers/multiarch.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { makeBuildImage, multiPlatformBuildpackage, platformIndex, writeBuildpack } from "../helpers.ts";
import { lifecycleTgz } from "../lifecycle/helpers.ts";

let dir: string;
let home: string;
let builder: string;
/** The same two platforms, the amd64 builder carrying the reference lifecycle (for --lifecycle builder). */
let lcBuilder: string;
const LC_RUN = "example.test/platform/run:1";
let run: string;
const app = () => join(dir, "app");

/** `berth build` of the app into `tag` with `builder` for `platform`. */
function buildApp(tag: string, builder: string, platform: string, more: string[] = [], env = {}) {
  return berth(["build", app(), "-t", tag, "-B", builder, "--platform", platform, ...more], { home, env });
}

/** The platform's image of an index (or an image) as `berth inspect --json` shows it. */
async function inspect(ref: string, platform?: string) {
  const r = await berth(["inspect", "--json", ...(platform ? ["--platform", platform] : []), ref], { home });
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as {
    labels: Record<string, string>;
    os: string;
    architecture: string;
    variant?: string;
    layers: { diffId: string }[];
  };
  return {
    platform: [j.os, j.architecture, j.variant].filter(Boolean).join("/"),
    diffIds: j.layers.map((l) => l.diffId),
    labels: j.labels,
  };
}

beforeAll(async () => {
  dir = await tempDir("berth-cnb-platform-");
  home = join(dir, "home");
  const layout = join(dir, "builders");
  const lcLayout = join(dir, "lc-builders");
  const builderCreate = async (name: string, toml: string, flags: string[] = []) => {
    const file = join(dir, `builder-${name.split(":").pop()}-${flags.length}.toml`);
    await writeFile(file, toml);
    const r = await berth(["builder", "create", ...flags, name, "--config", file], { home });
    if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  };
  run = `${await twoPlatformBase(join(dir, "run"))}`;
  const copied = await berth(["copy", "--all", run, LC_RUN], { home });
  if (copied.code !== 0) throw new Error(`copy failed: ${copied.stderr}`);
  const bp = await writeBuildpack(join(dir, "bps"), {
    id: "examples/arch",
    version: "0.0.1",
    build: `echo "building on $(uname -m)"
mkdir -p "$CNB_LAYERS_DIR/arch"
uname -m > "$CNB_LAYERS_DIR/arch/built-on"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/arch.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["uname", "-m"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"
`,
  });
  const arm = await foreignBusybox("arm64");
  for (const arch of ["amd64", "arm64"]) {
    const work = join(dir, `build-${arch}`);
    await mkdir(work, { recursive: true });
    await makeBuildImage(
      work,
      `oci:${layout}:build-${arch}`,
      home,
      ["uname"],
      // the arm64 builder carries a launcher of its own (berth compiles its own for this machine only):
      // busybox, enough to export with; the test runs the arm64 app with --entrypoint
      arch === "arm64" ? { foreign: { architecture: arch, busybox: arm }, launcher: arm } : {},
    );
    const toml = `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "examples/arch"\n\n[build]\nimage = "oci:${layout}:build-${arch}"\n\n[[run.images]]\nimage = "${run}"\n`;
    await builderCreate(`oci:${layout}:${arch}`, toml, ["--no-lifecycle"]);
    // --lifecycle builder: the amd64 builder with the reference lifecycle, the arm64 one without any
    if (arch === "amd64")
      await builderCreate(
        `oci:${lcLayout}:${arch}`,
        // the lifecycle's layout mode names its run image by reference: the index in the store
        `${toml.replace(run, LC_RUN)}\n[lifecycle]\nuri = "${await lifecycleTgz(dir)}"\n`,
      );
    else await berth(["copy", `oci:${layout}:${arch}`, `oci:${lcLayout}:${arch}`], { home });
  }
  await platformIndex(layout, ["amd64", "arm64"], "both");
  await platformIndex(lcLayout, ["amd64", "arm64"], "both");
  builder = `oci:${layout}:both`;
  lcBuilder = `oci:${lcLayout}:both`;
  await mkdir(app(), { recursive: true });
  await writeFile(join(app(), "hello.txt"), "the app");
}, 300_000);

describe("berth build --platform (buildpacks)", () => {
  /** A build for `platform` (tagged app:ARCH): the buildpack ran on `machine`, the app image is the platform's on its run image. */
  async function buildFor(platform: string, machine: string): Promise<string> {
    const tag = `app:${platform.split("/")[1]}`;
    const b = await buildApp(tag, builder, platform);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain(`building on ${machine}`);
    const image = await inspect(tag);
    expect(image.platform).toBe(platform);
    const base = await inspect(run, platform);
    expect(image.diffIds.slice(0, base.diffIds.length)).toEqual(base.diffIds);
    return tag;
  }

  it("linux/amd64: the builder's and the run image's amd64 images; the app image is linux/amd64 and runs", async () => {
    const tag = await buildFor("linux/amd64", "x86_64");
    const r = await berth(["run", tag], { home });
    expect(r.stdout).toBe("x86_64\n");
  });

  it("linux/arm64: the arm64 builder's buildpacks run under qemu-user-static; the app image is linux/arm64 on the arm64 run image", async () => {
    const tag = await buildFor("linux/arm64", "aarch64");
    const r = await berth(["run", "--entrypoint", "/bin/cat", tag, "/layers/examples_arch/arch/built-on"], {
      home,
    });
    expect(r.stdout, r.stderr).toBe("aarch64\n");
  });

  it("--buildpack from an index: the platform's buildpackage (its [[targets]] match the run image's)", async () => {
    const pkg = await multiPlatformBuildpackage(join(dir, "pkg"), home);
    for (const [platform, arch] of [
      ["linux/arm64", "arm64"],
      ["linux/amd64", "amd64"],
    ] as const) {
      const b = await buildApp(`bp:${arch}`, builder, platform, ["-b", pkg]);
      expect(b.code, b.stderr).toBe(0);
      const image = await inspect(`bp:${arch}`);
      expect(image.platform).toBe(platform);
      const md = JSON.parse(image.labels["io.buildpacks.build.metadata"]!) as {
        buildpacks: { id: string; version: string }[];
      };
      expect(md.buildpacks).toEqual([expect.objectContaining({ id: "examples/arch", version: "1.0.0" })]);
    }
  });

  it("--lifecycle builder: the builder's lifecycle of the platform's image runs; the arm64 image, which has none, is refused", async () => {
    const b = await buildApp("lc:amd64", lcBuilder, "linux/amd64", ["--lifecycle", "builder"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("Using the builder's lifecycle 0.21.0");
    expect(b.stderr).toContain("building on x86_64");
    const image = await inspect("lc:amd64");
    expect(image.platform).toBe("linux/amd64");
    const base = await inspect(LC_RUN, "linux/amd64");
    expect(image.diffIds.slice(0, base.diffIds.length)).toEqual(base.diffIds);
    expect((await berth(["run", "lc:amd64"], { home })).stdout).toBe("x86_64\n");
    const arm = await buildApp("lc:arm64", lcBuilder, "linux/arm64", ["--lifecycle", "builder"]);
    expect(arm.code).not.toBe(0);
    expect(arm.stderr).toContain(
      `builder ${lcBuilder} carries no lifecycle (its io.buildpacks.builder.metadata label claims none), so --lifecycle builder cannot run it`,
    );
  });

  it("several platforms: one sentence, exit 2, nothing written", async () => {
    const b = await buildApp("app:several", builder, "linux/amd64,linux/arm64");
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(
      "--platform linux/amd64,linux/arm64 names 2 platforms; a buildpacks build makes one image, for one platform",
    );
    expect(b.stderr).toContain("give one (--platform linux/amd64) and build once per platform");
    await expect((await Store.open(home)).resolve("app:several")).rejects.toThrow(/no image/);
  });

  it("a platform the builder (or --run-image) lacks: one sentence naming it and its platforms, nothing written", async () => {
    const b = await buildApp("app:s390x", builder, "linux/s390x");
    expect(b.code).toBe(3);
    expect(b.stderr).toContain(
      `the builder ${builder} has no image for linux/s390x (it has linux/amd64, linux/arm64)`,
    );
    expect(b.stderr).toContain("give --platform one of its platforms, or a builder made for linux/s390x");
    await expect((await Store.open(home)).resolve("app:s390x")).rejects.toThrow(/no image/);
    // a --run-image of another platform, the same way
    const armRun = run.replace(/:base$/, ":arm64");
    const r = await buildApp("app:armrun", builder, "linux/amd64", ["--run-image", armRun]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `berth: the run image ${armRun} has no image for linux/amd64 (it has linux/arm64)`,
    );
    expect(r.stderr).toContain("give --platform one of its platforms, or a run image made for linux/amd64");
    await expect((await Store.open(home)).resolve("app:armrun")).rejects.toThrow(/no image/);
  });

  it("a foreign builder on a machine without qemu-user-static: one sentence naming the package, exit 7, nothing written", async () => {
    const empty = join(dir, "no-qemu");
    await mkdir(join(empty, "binfmts"), { recursive: true });
    await mkdir(join(empty, "binfmt_misc"), { recursive: true });
    const env = { BERTH_QEMU_BINFMTS: join(empty, "binfmts"), BERTH_BINFMT_MISC: join(empty, "binfmt_misc") };
    const b = await buildApp("app:noqemu", builder, "linux/arm64", [], env);
    expect(b.code, b.stderr).toBe(7);
    expect(b.stderr).toContain(
      `cannot run linux/arm64 binaries on this amd64 machine: qemu-user-static is not installed (there is no ${env.BERTH_QEMU_BINFMTS}/qemu-aarch64)`,
    );
    expect(b.stderr).not.toContain("building on");
    await expect((await Store.open(home)).resolve("app:noqemu")).rejects.toThrow(/no image/);
  });
});
