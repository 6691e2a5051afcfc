/**
 * berth as one self-contained executable (issue 15 §1): run from a folder with no checkout, no node_modules and
 * no Node on PATH, it prints its version and help, copies between an OCI layout and the registry on 127.0.0.1,
 * and builds with `--isolation host` inside a build image (berth run: uid 1000, no capabilities, the host's
 * network for the registry) where only the executable is mounted (no gcc: the launcher is its asset). Then
 * `berth image self`: the image runs berth (version, a copy between two repositories of the registry), has the
 * same digest for the same SOURCE_DATE_EPOCH, and on a build image it is the step image of the same build.
 */
import { existsSync } from "node:fs";
import { chown, copyFile, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBuildImage, writeBuildpack } from "../cnb/helpers.ts";
import { berth, type RunResult } from "../helpers/cli.ts";
import { berthExecutable, berthExecutableFolder, berthStepImage } from "../helpers/executable.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

let work: string;
let home: string;
let exe: string;
let reg: RegistryHarness;
let layout: string;
/** The builder's /cnb (one buildpack, the registry's run image), mounted read-only into the step. */
let cnb: string;

const digestOf = async (dir: string, tag: string): Promise<string> =>
  (
    JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    }
  ).manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag)!.digest;

async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  return r.headers.get("docker-content-digest");
}

const ok = (r: RunResult) => expect(r.code, r.stderr + r.stdout).toBe(0);

beforeAll(async () => {
  work = await tempDir("berth-executable-");
  home = join(work, "home");
  await mkdir(home, { recursive: true });
  // A copy in a folder of its own: nothing of the checkout beside it.
  await mkdir(join(work, "bin"));
  exe = join(work, "bin", "berth");
  await copyFile(await berthExecutable(), exe);
  reg = await startRegistry();
  layout = join(work, "images");
  await makeBuildImage(work, `oci:${layout}:build`, home);
  ok(await berth(["copy", `oci:${layout}:build`, `docker://${reg.host}/run:1`], { home }));
  cnb = join(work, "cnb");
  const bp = await writeBuildpack(join(work, "bps"), {
    id: "test/hello",
    version: "1.0.0",
    build: [
      'mkdir -p "$CNB_LAYERS_DIR/web"',
      'echo "built by $(id -u)" > "$CNB_LAYERS_DIR/web/built"',
      'printf "[types]\\nlaunch = true\\n" > "$CNB_LAYERS_DIR/web.toml"',
      'printf "[[processes]]\\ntype = \\"web\\"\\ncommand = [\\"/bin/sh\\", \\"-c\\", \\"cat /layers/test_hello/web/built\\"]\\ndefault = true\\n" > "$CNB_LAYERS_DIR/launch.toml"',
    ].join("\n"),
  });
  await mkdir(join(cnb, "buildpacks", "test_hello"), { recursive: true });
  await cp(bp, join(cnb, "buildpacks", "test_hello", "1.0.0"), { recursive: true });
  await writeFile(
    join(cnb, "order.toml"),
    '[[order]]\n[[order.group]]\nid = "test/hello"\nversion = "1.0.0"\n',
  );
  await writeFile(join(cnb, "run.toml"), `[[images]]\nimage = "${reg.host}/run:1"\n`);
}, 600_000);

afterAll(async () => {
  await reg?.stop();
});

describe("berth as one executable", () => {
  it("prints its version and help with no checkout, node_modules or Node on PATH", async () => {
    const env = { PATH: join(work, "nothing-here") };
    const version = await berth(["--version"], { home, cwd: work, env, executable: exe });
    ok(version);
    expect(version.stdout).toBe("0.1.0\n");
    const help = await berth(["--help"], { home, cwd: work, env, executable: exe });
    ok(help);
    expect(help.stdout).toBe((await berth(["--help"], { home })).stdout);
    expect(help.stdout).toContain("image");
  });

  it("copies an OCI layout to the registry on 127.0.0.1 and back", async () => {
    const o = { home, cwd: work, env: { PATH: join(work, "nothing-here") }, executable: exe };
    ok(await berth(["copy", `oci:${layout}:build`, `docker://${reg.host}/copied/app:1`], o));
    const back = join(work, "back");
    ok(await berth(["copy", `docker://${reg.host}/copied/app:1`, `oci:${back}:app`], o));
    const digest = await digestOf(layout, "build");
    expect(await registryDigest("copied/app", "1")).toBe(digest);
    expect(await digestOf(back, "app")).toBe(digest);
  });
  it("runs a container in the background: its supervisor is the executable again, not Node", async () => {
    const o = { home, cwd: work, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, executable: exe };
    const started = await berth(
      ["run", "-d", "--network", "none", `oci:${layout}:build`, "echo", "from-the-background"],
      o,
    );
    ok(started);
    const id = started.stdout.trim();
    let logs = "";
    for (let i = 0; i < 100 && !logs.includes("from-the-background"); i++) {
      logs = (await berth(["logs", id], o)).stdout;
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(logs).toContain("from-the-background");
    ok(await berth(["rm", "-f", id], o));
  });
});

/** A step: `berth build --isolation host --publish` in `image` as uid 1000 with no capabilities. */
async function buildInStep(
  image: string,
  name: string,
  berthArgs: { entrypoint: string; mounts: string[] },
): Promise<RunResult> {
  const layers = join(work, `${name}-layers`);
  const workspace = join(work, `${name}-workspace`);
  for (const d of [layers, workspace]) {
    await mkdir(d, { recursive: true });
    await chown(d, 1000, 1000);
  }
  await writeFile(join(workspace, "index.txt"), "the app\n");
  const env = ["PATH=/bin", "HOME=/tmp", "BERTH_HOME=/tmp/berth", "CNB_USER_ID=1000", "CNB_GROUP_ID=1000"];
  return berth(
    [
      "run",
      "--network",
      "host",
      "--cap-drop",
      "ALL",
      "-u",
      "1000:1000",
      "-w",
      "/workspace",
      ...env.flatMap((e) => ["-e", e]),
      ...[
        `${cnb}:/cnb:ro`,
        `${layers}:/layers`,
        `${workspace}:/workspace`,
        // glibc for berth (the busybox build image has none), read-only
        "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
        "/lib64:/lib64:ro",
        ...berthArgs.mounts,
      ].flatMap((v) => ["-v", v]),
      "--entrypoint",
      berthArgs.entrypoint,
      image,
      "build",
      "/workspace",
      "-t",
      `${reg.host}/${name}:1`,
      "--publish",
      "--isolation",
      "host",
    ],
    { home },
  );
}

async function checkBuilt(r: RunResult, name: string): Promise<void> {
  expect(r.stdout + r.stderr).toContain("Successfully built image");
  ok(r);
  const report = await readFile(join(work, `${name}-layers`, "report.toml"), "utf8");
  expect(report).toContain(`digest = "${await registryDigest(name, "1")}"`);
  const ran = await berth(["run", "--network", "none", `docker://${reg.host}/${name}:1`], { home });
  expect(ran.stdout).toContain("built by 1000");
  ok(ran);
}

describe.skipIf(process.arch !== "x64")("a build step with berth's executable", () => {
  it("builds and publishes with --isolation host, only the executable mounted (no Node, no gcc)", async () => {
    const r = await buildInStep(`oci:${layout}:build`, "exe-step", {
      entrypoint: "/berth/berth",
      mounts: [`${await berthExecutableFolder()}:/berth:ro`],
    });
    await checkBuilt(r, "exe-step");
  }, 300_000);
});

describe.skipIf(process.arch !== "x64")("berth image self", () => {
  let image: string;

  beforeAll(async () => {
    image = join(work, "berth-image");
    const r = await berth(["image", "self", `oci:${image}:a`, "--executable", exe], {
      home,
      env: { SOURCE_DATE_EPOCH: "1700000000" },
    });
    ok(r);
  }, 300_000);

  it("is reproducible: the same SOURCE_DATE_EPOCH gives the same digest (also made by the executable itself), another one another", async () => {
    const again = await berth(["image", "self", `oci:${image}:b`, "--executable", exe], {
      home,
      env: { SOURCE_DATE_EPOCH: "1700000000" },
    });
    ok(again);
    expect(await digestOf(image, "b")).toBe(await digestOf(image, "a"));
    // run as the executable, berth puts itself in: the same bytes, the same image
    const itself = await berth(["image", "self", `oci:${image}:d`], {
      home,
      env: { SOURCE_DATE_EPOCH: "1700000000" },
      executable: exe,
    });
    ok(itself);
    expect(await digestOf(image, "d")).toBe(await digestOf(image, "a"));
    ok(
      await berth(["image", "self", `oci:${image}:c`, "--executable", exe], {
        home,
        env: { SOURCE_DATE_EPOCH: "1700000001" },
      }),
    );
    expect(await digestOf(image, "c")).not.toBe(await digestOf(image, "a"));
  }, 300_000);

  it("runs berth as user 1000: its version, and a copy between two repositories of the registry", async () => {
    const inspected = await berth(["inspect", "--json", `oci:${image}:a`], { home });
    ok(inspected);
    const config = JSON.parse(inspected.stdout) as { user: string; entrypoint: string[] };
    expect([config.user, config.entrypoint]).toEqual(["1000:1000", ["/usr/local/bin/berth"]]);
    const version = await berth(["run", "--network", "none", `oci:${image}:a`, "--version"], { home });
    ok(version);
    expect(version.stdout).toBe("0.1.0\n");
    ok(await berth(["copy", `oci:${layout}:build`, `docker://${reg.host}/from/app:1`], { home }));
    const copied = await berth(
      [
        "run",
        "--network",
        "host",
        `oci:${image}:a`,
        "copy",
        `docker://${reg.host}/from/app:1`,
        `docker://${reg.host}/to/app:1`,
      ],
      { home },
    );
    ok(copied);
    expect(await registryDigest("to/app", "1")).toBe(await digestOf(layout, "build"));
  }, 300_000);

  it("on a build image, is the step image of an --isolation host build", async () => {
    const step = join(work, "step-image");
    await berthStepImage(`oci:${layout}:build`, `oci:${step}:1`, home);
    const r = await buildInStep(`oci:${step}:1`, "image-step", {
      entrypoint: "/usr/local/bin/berth",
      mounts: [],
    });
    await checkBuilt(r, "image-step");
  }, 300_000);

  it("names the missing executable in one sentence and writes nothing", async () => {
    const out = join(work, "never");
    const r = await berth(["image", "self", `oci:${out}:x`, "--executable", join(work, "no-such-berth")], {
      home,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`--executable ${join(work, "no-such-berth")} does not exist`);
    expect(existsSync(out)).toBe(false);
  });
});
