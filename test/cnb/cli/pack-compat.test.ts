/**
 * Issue 13 §2, behaviours 4, 5, 7, 8 and 9, through the real CLI: `--buildpack` in every form pack takes,
 * ids and versions the lifecycle accepts, rebase safety, detection failure as the lifecycle reports it, and a
 * builder's `[system]` buildpacks; history entries worded as the lifecycle's exporter words them.
 */
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

let dir: string;
let home: string;
let layout: string;
let builder: string;
let bps: string;

/** A buildpack that says it ran (in `$CNB_LAYERS_DIR/../ran` order) and adds a process on `web`. */
const says = (word: string, web = false) => `echo "RAN ${word}"
${web ? `printf '[[processes]]\\ntype = "web"\\ncommand = ["echo", "hello"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"` : ""}`;

async function build(args: string[], opts: { cwd?: string } = {}) {
  return berth(["build", join(dir, "app"), "--builder", builder, ...args], { home, ...opts });
}

beforeAll(async () => {
  dir = await tempDir("berth-cnb-packcompat-");
  home = join(dir, "home");
  layout = join(dir, "layout");
  builder = `oci:${layout}:builder`;
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await busyboxImage(join(dir, "runlayout"), "run", {
    env: ["PATH=/bin"],
    user: "app",
    labels: { "io.buildpacks.base.distro.name": "testos", "io.buildpacks.base.distro.version": "1.2" },
  });
  bps = join(dir, "bps");
  const hello = await writeBuildpack(bps, {
    id: "examples/hello",
    version: "0.0.1",
    build: says("hello", true),
  });
  // Looser than the spec, as pack and the lifecycle take them: `_` in the id, a two-part version.
  const under = await writeBuildpack(bps, { id: "test_under", version: "1.0", build: says("under") });
  const pre = await writeBuildpack(bps, { id: "sys/pre", version: "0.1.0", build: says("system-pre") });
  const post = await writeBuildpack(bps, { id: "sys/post", version: "0.1.0", build: says("system-post") });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${hello}"\n[[buildpacks]]\nuri = "${under}"\n[[buildpacks]]\nuri = "${pre}"\n[[buildpacks]]\nuri = "${post}"\n\n` +
      `[[order]]\n[[order.group]]\nid = "examples/hello"\n[[order.group]]\nid = "test_under"\noptional = true\n\n` +
      `[system.pre]\nbuildpacks = [{ id = "sys/pre", version = "0.1.0" }]\n[system.post]\nbuildpacks = [{ id = "sys/post" }]\n\n` +
      `[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
  );
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  // The warnings of the looser descriptor, not a refusal.
  if (!r.stderr.includes('version "1.0" is not <X>.<Y>.<Z>'))
    throw new Error(`no version warning: ${r.stderr}`);
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "app", "hello.txt"), "the app");
});

describe("ids and versions the lifecycle accepts (5)", () => {
  it("a builder holds test_under@1.0 and the build runs it, with the system buildpacks around the group (9)", async () => {
    const b = await build(["-t", "ids:1"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/RAN system-pre[\s\S]*RAN hello[\s\S]*RAN under[\s\S]*RAN system-post/);
    expect(b.stderr).toContain("4 of 4 buildpacks participating");
    const cfg = JSON.parse((await berth(["inspect", "ids:1", "--config"], { home })).stdout);
    const md = JSON.parse(cfg.config.Labels["io.buildpacks.build.metadata"]);
    expect(md.buildpacks.map((b: { id: string; version: string }) => `${b.id}@${b.version}`)).toEqual([
      "sys/pre@0.1.0",
      "examples/hello@0.0.1",
      "test_under@1.0",
      "sys/post@0.1.0",
    ]);
    // History worded as the lifecycle's exporter (layers/factory.go).
    const createdBy = cfg.history.map((h: { created_by?: string }) => h.created_by);
    expect(createdBy).toContain("Buildpacks Application Launcher");
    expect(createdBy).toContain("Buildpacks Launcher Config");
    expect(createdBy).toContain("Application Layer");
  });

  it("the builder records its system buildpacks as pack does: /cnb/system.toml and the system label", async () => {
    const cfg = JSON.parse((await berth(["inspect", builder, "--config"], { home })).stdout);
    expect(JSON.parse(cfg.config.Labels["io.buildpacks.buildpack.system"])).toEqual({
      pre: { buildpacks: [{ id: "sys/pre", version: "0.1.0" }] },
      post: { buildpacks: [{ id: "sys/post", version: "0.1.0" }] },
    });
    const fs = join(dir, "builder-fs");
    const e = await berth(["export", builder, "-o", join(dir, "builder.tar")], { home });
    expect(e.code, e.stderr).toBe(0);
    await mkdir(fs, { recursive: true });
    const { execFileSync } = await import("node:child_process");
    execFileSync("tar", ["-xf", join(dir, "builder.tar"), "-C", fs, "cnb/system.toml"]);
    const text = await readFile(join(fs, "cnb", "system.toml"), "utf8");
    expect(text).toContain("[[system.pre.buildpacks]]");
    expect(text).toContain('id = "sys/post"');
  });
});

describe("ids and versions that would leave their folder (5, security)", () => {
  it("an id of .. or a version with / is refused by builder create and --buildpack, naming the file", async () => {
    for (const [id, version] of [
      ["..", "0.0.1"],
      ["ok/id", "../../x"],
    ] as const) {
      const root = join(dir, "escape", id === ".." ? "dots" : "ver");
      await mkdir(join(root, "bin"), { recursive: true });
      await writeFile(
        join(root, "buildpack.toml"),
        `api = "0.10"\n[buildpack]\nid = "${id}"\nversion = "${version}"\n`,
      );
      await writeFile(join(root, "bin", "detect"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      await writeFile(join(root, "bin", "build"), "#!/bin/sh\ntouch $CNB_LAYERS_DIR/../escaped\n", {
        mode: 0o755,
      });
      await writeFile(
        join(root, "builder.toml"),
        `[[buildpacks]]\nuri = "${root}"\n[[order]]\n[[order.group]]\nid = "${id}"\n[build]\nimage = "oci:${layout}:build"\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
      );
      const c = await berth(
        [
          "builder",
          "create",
          "--no-lifecycle",
          `oci:${layout}:escape`,
          "--config",
          join(root, "builder.toml"),
        ],
        { home },
      );
      expect(c.code).not.toBe(0);
      expect(c.stderr).toContain("cannot name a folder");
      expect(c.stderr).toContain(join(root, "buildpack.toml"));
      const b = await build(["-t", "escape:1", "--buildpack", root]);
      expect(b.code).not.toBe(0);
      expect(b.stderr).toContain("cannot name a folder");
    }
  });
});

describe("--buildpack as pack takes it (4)", () => {
  it("ID@VERSION with a / in the id, and urn:cnb:builder:ID, name the builder's buildpacks", async () => {
    const a = await build(["-t", "bp:1", "--buildpack", "examples/hello@0.0.1"]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toContain("RAN hello");
    expect(a.stderr).not.toContain("RAN under");
    const u = await build([
      "-t",
      "bp:2",
      "--buildpack",
      "urn:cnb:builder:examples/hello",
      "-b",
      "test_under@1.0",
    ]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stderr).toMatch(/RAN hello[\s\S]*RAN under/);
    const missing = await build(["-t", "bp:3", "--buildpack", "urn:cnb:builder:examples/nope"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("the builder has no buildpack examples/nope");
  });

  it("a relative path is resolved against the current directory, and from=builder brings the builder's order", async () => {
    await writeBuildpack(join(dir, "local"), { id: "local/extra", version: "0.2.0", build: says("extra") });
    // The app is elsewhere: pack resolves ./local/... against the current directory, not the app.
    const r = await build(
      ["-t", "rel:1", "--buildpack", "./local/local_extra-0.2.0", "--buildpack", "from=builder"],
      {
        cwd: dir,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/RAN extra[\s\S]*RAN hello[\s\S]*RAN under/);
    // bin/build as a relative link into the buildpack (as many real buildpacks ship it) still runs.
    const linked = await writeBuildpack(join(dir, "local"), { id: "local/linked", version: "0.1.0" });
    await mkdir(join(linked, "lib"), { recursive: true });
    await writeFile(join(linked, "lib", "build.sh"), `#!/bin/sh\n${says("linked")}\n`, { mode: 0o755 });
    await rm(join(linked, "bin", "build"));
    await symlink("../lib/build.sh", join(linked, "bin", "build"));
    const l = await build(["-t", "rel:3", "--buildpack", "local/local_linked-0.1.0"], { cwd: dir });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).toContain("RAN linked");
    // A .tgz, also relative to the current directory.
    const { execFileSync } = await import("node:child_process");
    execFileSync("tar", [
      "-czf",
      join(dir, "local", "extra.tgz"),
      "-C",
      join(dir, "local", "local_extra-0.2.0"),
      ".",
    ]);
    const t = await build(["-t", "rel:2", "--buildpack", "local/extra.tgz"], { cwd: dir });
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toContain("RAN extra");
    expect(t.stderr).not.toContain("RAN hello");
  });

  it("a composite buildpackage (.cnb) runs from its entrypoint, whose order expands", async () => {
    const one = await writeBuildpack(join(dir, "pkg"), {
      id: "aa/one",
      version: "1.0.0",
      build: says("one", true),
    });
    const two = await writeBuildpack(join(dir, "pkg"), {
      id: "bb/two",
      version: "1.0.0",
      build: says("two"),
    });
    const meta = await writeBuildpack(join(dir, "pkg"), {
      id: "zz/meta",
      version: "3.0.0",
      order: [
        [
          ["aa/one", "1.0.0"],
          ["bb/two", "1.0.0"],
        ],
      ],
    });
    await writeFile(
      join(dir, "pkg", "package.toml"),
      `[buildpack]\nuri = "${meta}"\n[[dependencies]]\nuri = "${one}"\n[[dependencies]]\nuri = "${two}"\n`,
    );
    const p = await berth(
      [
        "buildpack",
        "package",
        join(dir, "pkg", "meta.cnb"),
        "--format",
        "file",
        "--config",
        join(dir, "pkg", "package.toml"),
      ],
      { home },
    );
    expect(p.code, p.stderr).toBe(0);
    const r = await build(["-t", "cnb:1", "--buildpack", "pkg/meta.cnb"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/RAN one[\s\S]*RAN two/);
    // The builder's system buildpacks stay around the group (pack leaves them in too).
    expect(r.stderr).toContain("4 of 4 buildpacks participating");
    // The same file under another name: pack looks inside (an OCI layout tar), so does berth.
    await writeFile(join(dir, "pkg", "meta.bin"), await readFile(join(dir, "pkg", "meta.cnb")));
    const bin = await build(["-t", "cnb:2", "--buildpack", "pkg/meta.bin"], { cwd: dir });
    expect(bin.code, bin.stderr).toBe(0);
    expect(bin.stderr).toMatch(/RAN one[\s\S]*RAN two/);
    // The buildpackage as an image in the store, named bare (pack: an image reference).
    const img = await berth(
      ["buildpack", "package", "pkgs/meta:3", "--config", join(dir, "pkg", "package.toml")],
      {
        home,
      },
    );
    expect(img.code, img.stderr).toBe(0);
    const fromImage = await build(["-t", "cnb:4", "--buildpack", "pkgs/meta:3"]);
    expect(fromImage.code, fromImage.stderr).toBe(0);
    expect(fromImage.stderr).toMatch(/RAN one[\s\S]*RAN two/);
    // The composite's folder with a package.toml naming its dependencies (pack fetches them too).
    await writeFile(
      join(meta, "package.toml"),
      `[buildpack]\nuri = "."\n[[dependencies]]\nuri = "../aa_one-1.0.0"\n[[dependencies]]\nuri = "../bb_two-1.0.0"\n`,
    );
    const folder = await build(["-t", "cnb:3", "--buildpack", "pkg/zz_meta-3.0.0"], { cwd: dir });
    expect(folder.code, folder.stderr).toBe(0);
    expect(folder.stderr).toMatch(/RAN one[\s\S]*RAN two/);
  });
});

describe("--buildpack docker://REF: a buildpackage in a registry (4)", () => {
  let reg: RegistryHarness;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  it("docker://, docker:/ and docker: all name the registry image, whose entrypoint joins the group", async () => {
    const extra = await writeBuildpack(join(dir, "reg"), {
      id: "reg/extra",
      version: "0.3.0",
      build: says("reg-extra"),
    });
    await writeFile(join(dir, "reg", "package.toml"), `[buildpack]\nuri = "${extra}"\n`);
    const ref = `${reg.host}/bps/extra:1`;
    const p = await berth(
      ["buildpack", "package", ref, "--publish", "--config", join(dir, "reg", "package.toml")],
      {
        home,
      },
    );
    expect(p.code, p.stderr).toBe(0);
    for (const [i, form] of [`docker://${ref}`, `docker:/${ref}`, `docker:${ref}`].entries()) {
      const r = await build(["-t", `reg:${i}`, "--buildpack", form, "--buildpack", "from=builder"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/RAN reg-extra[\s\S]*RAN hello/);
    }
  });
});

describe("detection failure as the lifecycle reports it (8)", () => {
  let failing: string;
  let broken: string;
  beforeAll(async () => {
    const no = await writeBuildpack(join(dir, "fail"), {
      id: "examples/no",
      version: "0.0.1",
      detect: 'echo "no package.json here"; exit 100',
    });
    const err = await writeBuildpack(join(dir, "fail"), {
      id: "examples/broken",
      version: "0.0.1",
      detect: 'echo "detect blew up"; exit 3',
    });
    failing = `oci:${layout}:failing`;
    await writeFile(
      join(dir, "failing.toml"),
      `[[buildpacks]]\nuri = "${no}"\n[[buildpacks]]\nuri = "${err}"\n\n[[order]]\n[[order.group]]\nid = "examples/no"\n\n` +
        `[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
    );
    const r = await berth(
      ["builder", "create", "--no-lifecycle", failing, "--config", join(dir, "failing.toml")],
      { home },
    );
    if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
    broken = `oci:${layout}:broken`;
    await writeFile(
      join(dir, "broken.toml"),
      (await readFile(join(dir, "failing.toml"), "utf8")).replace(
        'id = "examples/no"\n\n',
        'id = "examples/broken"\n\n',
      ),
    );
    const b = await berth(
      ["builder", "create", "--no-lifecycle", broken, "--config", join(dir, "broken.toml")],
      { home },
    );
    if (b.code !== 0) throw new Error(`builder create failed: ${b.stderr}`);
  });

  it("berth build: each buildpack's output and the lifecycle's lines without -v; exit 1 as pack", async () => {
    const r = await berth(["build", join(dir, "app"), "-t", "nope:1", "--builder", failing], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("======== Output: examples/no@0.0.1 ========");
    expect(r.stderr).toContain("no package.json here");
    expect(r.stderr).toContain("======== Results ========");
    expect(r.stderr).toContain("fail: examples/no@0.0.1");
    expect(r.stderr).toContain("No buildpack groups passed detection.");
    expect(r.stderr).toContain("Please check that you are running against the correct path.");
  });

  it("berth detect exits with the platform's codes: 20 when no group passed, 21 when a buildpack errored", async () => {
    const fail = await berth(["detect", join(dir, "app"), "--builder", failing], { home });
    expect(fail.code).toBe(20);
    expect(fail.stderr).toContain("No buildpack groups passed detection.");
    const derr = await berth(["detect", join(dir, "app"), "--builder", broken], { home });
    expect(derr.code).toBe(21);
    const err = await berth(
      ["build", join(dir, "app"), "-t", "nope:2", "--builder", failing, "-b", "examples/broken"],
      {
        home,
      },
    );
    expect(err.code).toBe(1);
    expect(err.stderr).toContain("======== Output: examples/broken@0.0.1 ========");
    expect(err.stderr).toContain("detect blew up");
    expect(err.stderr).toContain("err:  examples/broken@0.0.1 (3)");
    expect(err.stderr).toContain("No buildpack groups passed detection.");
  });
});

describe("rebase safety (7)", () => {
  let runName: string;
  beforeAll(async () => {
    runName = `oci:${join(dir, "runlayout")}:run`;
    const b = await build(["-t", "reb:1"]);
    if (b.code !== 0) throw new Error(b.stderr);
  });

  const lifecycleMd = async (image: string) => {
    const cfg = JSON.parse((await berth(["inspect", image, "--config"], { home })).stdout);
    return JSON.parse(cfg.config.Labels["io.buildpacks.lifecycle.metadata"]);
  };

  it("a run image for another distro is refused without --force, then rebased with the lifecycle's warning", async () => {
    const other = `oci:${join(dir, "runlayout")}:run-other-distro`;
    const m = await berth(
      ["mutate", runName, "-t", other, "--label", "io.buildpacks.base.distro.name=otheros"],
      { home },
    );
    expect(m.code, m.stderr).toBe(0);
    // The target check comes first (lc phase/rebaser.go); with --force the name check warns too.
    const r = await berth(["rebase", "reb:1", "--run-image", other], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unable to satisfy target os/arch constraints");
    expect(r.stderr).toContain("please provide -force to override");
    const f = await berth(["rebase", "reb:1", "--run-image", other, "--force"], { home });
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toContain("unable to satisfy target os/arch constraints");
  });

  it("an app marked io.buildpacks.rebasable=false is refused without --force, which warns", async () => {
    const m = await berth(
      ["mutate", "reb:1", "-t", "reb:norebase", "--label", "io.buildpacks.rebasable=false"],
      {
        home,
      },
    );
    expect(m.code, m.stderr).toBe(0);
    const r = await berth(["rebase", "reb:norebase", "--run-image", runName], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("app image is not marked as rebasable; please provide -force to override");
    const f = await berth(["rebase", "reb:norebase", "--run-image", runName, "--force"], { home });
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toContain("Warning: app image is not marked as rebasable");
  });

  it("a run image for another architecture is refused", async () => {
    const arm = `oci:${join(dir, "runlayout")}:run-arm`;
    const m = await berth(["mutate", runName, "-t", arm, "--platform", "linux/arm64"], { home });
    expect(m.code, m.stderr).toBe(0);
    const r = await berth(["rebase", "reb:1", "--run-image", arm], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('"arch":"arm64"');
  });

  it("a run image not in the app's run-image metadata is refused; --force warns and records it", async () => {
    const elsewhere = `oci:${join(dir, "elsewhere")}:run`;
    const c = await berth(["copy", runName, elsewhere], { home });
    expect(c.code, c.stderr).toBe(0);
    await berth(["build", join(dir, "app"), "--builder", builder, "-t", "reb:2"], { home });
    const r = await berth(["rebase", "reb:2", "--run-image", elsewhere], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`new base image '${elsewhere}' not found in existing run image metadata`);
    const f = await berth(["rebase", "reb:2", "--run-image", elsewhere, "--force"], { home });
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toContain(`new base image '${elsewhere}' not found in existing run image metadata`);
    const md = await lifecycleMd("reb:2");
    expect(md.runImage.image).toBe(elsewhere);
    expect(md.runImage.mirrors).toBeUndefined();
    expect(md.stack.runImage.image).toBe(elsewhere);
    expect(md.runImage.reference).toMatch(/sha256:/);
  });
});
