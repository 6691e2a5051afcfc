/**
 * `berth buildpack package`: buildpackages as images and `.cnb` files, in pack's shape, used by
 * `berth builder create` (image = and uri =) and by `berth build --buildpack`. The packaged buildpack is the
 * default builder's real Procfile buildpack; the stack is a tiny busybox one made in the test.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { startRegistry } from "../../registry/helpers/registry.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";
import { BUILDPACKS, imageConfig, shell } from "./helpers.ts";

let dir: string;
let home: string;
let build: string;
let run: string;
let helloBp: string;

beforeAll(async () => {
  dir = await tempDir("berth-default-builder-pkg-");
  home = join(dir, "home");
  build = `oci:${join(dir, "stack")}:build`;
  run = `oci:${join(dir, "runlayout")}:run`;
  await makeBuildImage(dir, build, home);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  helloBp = await writeBuildpack(join(dir, "bps"), {
    id: "test/hello",
    version: "1.0.0",
    detect: "exit 0",
    build:
      'mkdir -p "$CNB_LAYERS_DIR/hello"\nprintf "[types]\\nlaunch = true\\n" > "$CNB_LAYERS_DIR/hello.toml"\necho hello-built > "$CNB_LAYERS_DIR/hello/stamp"',
    extra: '\n[[targets]]\nos = "linux"\narch = "amd64"\n',
  });
  await writeFile(
    join(dir, "procfile.toml"),
    `[buildpack]\nuri = "${join(BUILDPACKS, "procfile")}"\n\n[[targets]]\nos = "linux"\narch = "amd64"\n`,
  );
  await writeFile(join(dir, "hello.toml"), `[buildpack]\nuri = "${helloBp}"\n`);
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "app", "Procfile"), "web: echo hello from a packaged Procfile buildpack\n");
});

describe("berth buildpack package", () => {
  it("writes an image in pack's shape: one layer per buildpack and the two labels", async () => {
    const r = await berth(["buildpack", "package", "bp/procfile", "--config", join(dir, "procfile.toml")], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Successfully created package 'bp\/procfile' \(berth\/procfile@0\.1\.0, 1 buildpack\)/,
    );
    const cfg = await imageConfig(home, "bp/procfile");
    expect(cfg.os).toBe("linux");
    expect(cfg.architecture).toBe("amd64");
    expect(cfg.rootfs.diff_ids).toHaveLength(1);
    const md = JSON.parse(cfg.config.Labels!["io.buildpacks.buildpackage.metadata"]!);
    expect(md).toEqual({
      id: "berth/procfile",
      name: "Procfile",
      version: "0.1.0",
      description: "processes from a Procfile",
      homepage: "https://github.com/berth-build/berth/tree/main/builders/default/buildpacks/procfile",
      licenses: [{ type: "Apache-2.0", uri: "" }],
      stacks: [{ id: "*" }],
    });
    const layers = JSON.parse(cfg.config.Labels!["io.buildpacks.buildpack.layers"]!);
    expect(layers).toEqual({
      "berth/procfile": {
        "0.1.0": {
          api: "0.10",
          targets: [
            { os: "linux", arch: "amd64" },
            { os: "linux", arch: "arm64" },
          ],
          layerDiffID: cfg.rootfs.diff_ids[0],
          homepage: "https://github.com/berth-build/berth/tree/main/builders/default/buildpacks/procfile",
          name: "Procfile",
        },
      },
    });
    const e = await berth(["export", "bp/procfile", "-o", join(dir, "fs.tar")], { home });
    expect(e.code, e.stderr).toBe(0);
    const listing = await shell(`tar -tvf ${join(dir, "fs.tar")} | awk '{print $1, $2, $6}' | sort -k3`);
    expect(listing).toContain("-rwxr-xr-x 0/0 cnb/buildpacks/berth_procfile/0.1.0/bin/build");
    expect(listing).toContain("-rw-r--r-- 0/0 cnb/buildpacks/berth_procfile/0.1.0/buildpack.toml");
  });

  it("writes a .cnb file (an OCI layout in a tar) with --format file", async () => {
    const cnb = join(dir, "hello.cnb");
    const r = await berth(
      ["buildpack", "package", cnb, "--config", join(dir, "hello.toml"), "--format", "file"],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    const names = (await shell(`tar -tf ${cnb}`)).split("\n");
    expect(names).toContain("oci-layout");
    expect(names).toContain("index.json");
    const cfg = await imageConfig(home, `oci-archive:${cnb}`);
    expect(JSON.parse(cfg.config.Labels!["io.buildpacks.buildpackage.metadata"]!).id).toBe("test/hello");
  });

  it("packages a composite buildpack with its dependencies from a .cnb file and an image", async () => {
    const composite = await writeBuildpack(join(dir, "bps"), {
      id: "test/composite",
      version: "2.0.0",
      order: [
        [
          ["test/hello", "1.0.0"],
          ["berth/procfile", "0.1.0", true],
        ],
      ],
    });
    await writeFile(
      join(dir, "composite.toml"),
      `[buildpack]\nuri = "${composite}"\n\n[[dependencies]]\nuri = "hello.cnb"\n\n[[dependencies]]\nimage = "bp/procfile"\n`,
    );
    const r = await berth(["buildpack", "package", "bp/composite", "--config", join(dir, "composite.toml")], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    const cfg = await imageConfig(home, "bp/composite");
    expect(cfg.rootfs.diff_ids).toHaveLength(3);
    const layers = JSON.parse(cfg.config.Labels!["io.buildpacks.buildpack.layers"]!);
    expect(Object.keys(layers).sort()).toEqual(["berth/procfile", "test/composite", "test/hello"]);
    expect(layers["test/composite"]["2.0.0"].order).toEqual([
      {
        group: [
          { id: "test/hello", version: "1.0.0" },
          { id: "berth/procfile", version: "0.1.0", optional: true },
        ],
      },
    ]);
    // The same procfile layer as in its own package: the layer is reproducible.
    const own = await imageConfig(home, "bp/procfile");
    expect(layers["berth/procfile"]["0.1.0"].layerDiffID).toBe(own.rootfs.diff_ids[0]);
  });

  it("publishes straight to a registry with --publish, and builder create reads it from there", async () => {
    const reg = await startRegistry();
    try {
      const ref = `${reg.host}/bp/procfile:1`;
      const r = await berth(
        ["buildpack", "package", ref, "--config", join(dir, "procfile.toml"), "--publish"],
        { home },
      );
      expect(r.code, r.stderr).toBe(0);
      const local = await imageConfig(home, "bp/procfile");
      const remote = await imageConfig(home, `docker://${ref}`);
      expect(remote.config.Labels).toEqual(local.config.Labels);
      expect(remote.rootfs.diff_ids).toEqual(local.rootfs.diff_ids);
      await writeFile(
        join(dir, "remote-builder.toml"),
        `[[buildpacks]]\nimage = "docker://${ref}"\n\n[[order]]\n[[order.group]]\nid = "berth/procfile"\n\n[build]\nimage = "${build}"\n\n[[run.images]]\nimage = "${run}"\n`,
      );
      const c = await berth(
        [
          "builder",
          "create",
          "--no-lifecycle",
          "remote-builder",
          "--config",
          join(dir, "remote-builder.toml"),
        ],
        {
          home,
        },
      );
      expect(c.code, c.stderr).toBe(0);
      const b = await imageConfig(home, "remote-builder");
      const layers = JSON.parse(b.config.Labels!["io.buildpacks.buildpack.layers"]!);
      expect(layers["berth/procfile"]["0.1.0"].layerDiffID).toBe(local.rootfs.diff_ids[0]);
    } finally {
      await reg.stop();
    }
  });

  it("refuses a composite whose order names a buildpack the package lacks", async () => {
    await writeFile(
      join(dir, "bad.toml"),
      `[buildpack]\nuri = "${join(dir, "bps", "test_composite-2.0.0")}"\n`,
    );
    const r = await berth(["buildpack", "package", "bp/bad", "--config", join(dir, "bad.toml")], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("composite buildpack test/composite@2.0.0 needs test/hello@1.0.0");
  });

  it("is used by berth builder create (image = and uri =) and the builder builds with it", async () => {
    await writeFile(
      join(dir, "builder.toml"),
      `[[buildpacks]]\nimage = "bp/procfile"\n\n[[buildpacks]]\nuri = "hello.cnb"\n\n[[order]]\n[[order.group]]\nid = "test/hello"\n[[order.group]]\nid = "berth/procfile"\n\n[build]\nimage = "${build}"\n\n[[run.images]]\nimage = "${run}"\n`,
    );
    const c = await berth(
      ["builder", "create", "--no-lifecycle", "pkg-builder", "--config", join(dir, "builder.toml")],
      {
        home,
      },
    );
    expect(c.code, c.stderr).toBe(0);
    const b = await berth(["build", join(dir, "app"), "-t", "pkg-app", "--builder", "pkg-builder"], { home });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("berth/procfile 0.1.0");
    expect(b.stderr).toContain("Process web: echo hello from a packaged Procfile buildpack");
    const r = await berth(["run", "pkg-app"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("hello from a packaged Procfile buildpack\n");
  });

  it("is used by berth build --buildpack (an image and a .cnb file)", async () => {
    await writeFile(
      join(dir, "plain.toml"),
      `[[buildpacks]]\nuri = "${helloBp}"\n\n[[order]]\n[[order.group]]\nid = "test/hello"\n\n[build]\nimage = "${build}"\n\n[[run.images]]\nimage = "${run}"\n`,
    );
    const c = await berth(
      ["builder", "create", "--no-lifecycle", "plain-builder", "--config", join(dir, "plain.toml")],
      {
        home,
      },
    );
    expect(c.code, c.stderr).toBe(0);
    const b = await berth(
      [
        "build",
        join(dir, "app"),
        "-t",
        "bp-app",
        "--builder",
        "plain-builder",
        "--buildpack",
        join(dir, "hello.cnb"),
        "--buildpack",
        "bp/procfile",
      ],
      { home },
    );
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("berth/procfile 0.1.0");
    const r = await berth(["run", "bp-app"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("hello from a packaged Procfile buildpack\n");
  });
});
