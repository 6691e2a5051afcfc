/**
 * Issue 14 §2: `berth detect --lifecycle builder` (the builder's lifecycle `detector`, its exit codes),
 * `berth rebase --lifecycle builder` (the lifecycle's `rebaser` on registry images, from a builder or a
 * lifecycle image), and the Platform API negotiation as pack's: the highest API both berth and the lifecycle
 * support reaches the lifecycle as CNB_PLATFORM_API; a lifecycle berth cannot drive is one sentence.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { htpasswdLine } from "../../registry/helpers/certs.ts";
import { startRegistry } from "../../registry/helpers/registry.ts";
import { type LifecycleFixture, labelsOf, lifecycleFixture } from "./fixture.ts";
import { lifecycleImage } from "./helpers.ts";

const pexec = promisify(execFile);
let f: LifecycleFixture;

beforeAll(async () => {
  f = await lifecycleFixture("berth-lc-phases-");
}, 600_000);

afterAll(async () => {
  await f?.cleanup();
});

async function appWith(name: string, files: string[]): Promise<string> {
  const app = join(f.dir, name);
  await mkdir(app, { recursive: true });
  for (const file of files) await writeFile(join(app, file), "x\n");
  return app;
}

/**
 * A builder whose lifecycle.toml lists `apis` and whose binaries are scripts that print the CNB_PLATFORM_API
 * they were given and exit 20.
 */
async function fakeLifecycleBuilder(name: string, apis: string[]): Promise<void> {
  const stage = join(f.dir, `fake-${name.replace(/\W/g, "_")}`);
  await mkdir(join(stage, "lifecycle"), { recursive: true });
  for (const bin of [
    "detector",
    "restorer",
    "analyzer",
    "builder",
    "exporter",
    "launcher",
    "creator",
    "rebaser",
  ]) {
    const file = join(stage, "lifecycle", bin);
    await writeFile(file, `#!/bin/sh\necho "fake ${bin}: CNB_PLATFORM_API=$CNB_PLATFORM_API" >&2\nexit 20\n`);
    await chmod(file, 0o755);
  }
  const toml = `[apis]\n[apis.buildpack]\n  supported = ["0.10"]\n[apis.platform]\n  supported = [${apis.map((a) => `"${a}"`).join(", ")}]\n\n[lifecycle]\n  version = "9.9.9"\n`;
  await writeFile(join(stage, "lifecycle.toml"), toml);
  await writeFile(join(stage, "lifecycle", "lifecycle.toml"), toml);
  const tgz = `${stage}.tgz`;
  await pexec("tar", ["-C", stage, "-czf", tgz, "lifecycle.toml", "lifecycle"]);
  const config = join(stage, "builder.toml");
  await writeFile(
    config,
    f.builderToml.replace(/uri = "[^"]*\.tgz"/, `uri = "${tgz}"`).replaceAll('"bps/', `"${f.dir}/bps/`),
  );
  const bc = await berth(["builder", "create", name, "--config", config], { home: f.home });
  if (bc.code !== 0) throw new Error(`builder create ${name}: ${bc.stderr}`);
}

describe("berth detect --lifecycle builder", () => {
  it("gives the group and plan berth's engine gives", async () => {
    const ours = await berth(["detect", f.app, "--builder", f.builder, "--json"], { home: f.home });
    expect(ours.code, ours.stderr).toBe(0);
    const theirs = await berth(
      ["detect", f.app, "--builder", f.builder, "--json", "--lifecycle", "builder"],
      {
        home: f.home,
      },
    );
    expect(theirs.code, theirs.stderr).toBe(0);
    expect(theirs.stderr).toContain("Using the builder's lifecycle 0.21.0 (Platform API 0.14)");
    const a = JSON.parse(ours.stdout) as { group: unknown; plan: unknown };
    const b = JSON.parse(theirs.stdout) as { group: unknown; plan: unknown };
    expect(b.group).toEqual(a.group);
    expect(b.plan).toEqual(a.plan);
    expect(b.group).toMatchObject({ group: [{ id: "test/provider" }] });
  });

  it("exits 20 when no group passes and 21 when a buildpack errors, as berth's engine does", async () => {
    for (const [files, code] of [
      [[], 20],
      [["boom"], 21],
    ] as const) {
      const app = await appWith(`detect-${code}`, [...files]);
      const ours = await berth(["detect", app, "--builder", f.builder], { home: f.home });
      const theirs = await berth(["detect", app, "--builder", f.builder, "--lifecycle", "builder"], {
        home: f.home,
      });
      expect(ours.code, ours.stderr).toBe(code);
      expect(theirs.code, theirs.stderr).toBe(code);
      expect(theirs.stdout).toBe("");
      expect(theirs.stderr).toContain(`the lifecycle's detector exited ${code}`);
    }
  });

  it("-e and --env-file reach the detector's platform env", async () => {
    // The provider's detect fails when the platform env holds NOPE.
    const envFile = join(f.dir, "nope.env");
    await writeFile(envFile, "NOPE=1\n");
    for (const flag of [
      ["-e", "NOPE=1"],
      ["--env-file", envFile],
    ]) {
      const r = await berth(["detect", f.app, "--builder", f.builder, "--lifecycle", "builder", ...flag], {
        home: f.home,
      });
      expect(r.code, r.stderr).toBe(20);
    }
  });
});

describe("Platform API negotiation", () => {
  it("the highest API both berth and the lifecycle support reaches it as CNB_PLATFORM_API", async () => {
    await fakeLifecycleBuilder("test/fake-lc:1", ["0.11", "0.12", "0.13"]);
    const r = await berth(["detect", f.app, "--builder", "test/fake-lc:1", "--lifecycle", "builder"], {
      home: f.home,
    });
    expect(r.stderr).toContain("fake detector: CNB_PLATFORM_API=0.13");
    expect(r.code).toBe(20);
    const b = await berth(
      ["build", f.app, "-t", "fake:1", "--builder", "test/fake-lc:1", "--lifecycle", "builder"],
      {
        home: f.home,
      },
    );
    expect(b.stderr).toContain("fake analyzer: CNB_PLATFORM_API=0.13");
    expect(b.code).not.toBe(0);
  });

  it("a lifecycle with no API berth drives is one sentence naming the builder and the APIs", async () => {
    await fakeLifecycleBuilder("test/old-lc:1", ["0.3", "0.4"]);
    for (const args of [
      ["detect", f.app, "--builder", "test/old-lc:1", "--lifecycle", "builder"],
      ["build", f.app, "-t", "old:1", "--builder", "test/old-lc:1", "--lifecycle", "builder"],
    ]) {
      const r = await berth(args, { home: f.home });
      expect(r.code).not.toBe(0);
      const first = r.stderr.split("\n").find((l) => l.startsWith("berth:")) ?? "";
      expect(first).toContain("builder test/old-lc:1 supports Platform API 0.3, 0.4");
      expect(first).toContain("berth drives a lifecycle with 0.12, 0.13, 0.14");
      expect(r.stderr).not.toContain("fake");
    }
  });
});

describe("berth rebase --lifecycle builder", () => {
  let app: string;
  let run2: string;

  beforeAll(async () => {
    app = `${f.reg.host}/app/rb:1`;
    const b = await berth(
      [
        "build",
        f.app,
        "-t",
        app,
        "--builder",
        f.builder,
        "--lifecycle",
        "builder",
        "--publish",
        "--trust-builder",
      ],
      { home: f.home },
    );
    if (b.code !== 0) throw new Error(`build: ${b.stderr}`);
    // A new run image: the old one plus a layer.
    const extra = join(f.dir, "run2-layer");
    await mkdir(extra, { recursive: true });
    await writeFile(join(extra, "run2.txt"), "the new run image\n");
    run2 = `${f.reg.host}/base/run:2`;
    const a = await berth(["append", `oci:${f.layout}:run`, extra, "-t", `docker://${run2}`], {
      home: f.home,
    });
    if (a.code !== 0) throw new Error(`append: ${a.stderr}`);
  }, 300_000);

  const runImageOf = async (image: string) =>
    JSON.parse((await labelsOf(`docker://${image}`, f.home))["io.buildpacks.lifecycle.metadata"] ?? "{}") as {
      runImage?: { topLayer?: string };
    };

  it("needs --publish: the rebaser has no OCI layout mode", async () => {
    const r = await berth(["rebase", "rb:1", "--lifecycle", "builder", "-B", f.builder], { home: f.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--lifecycle builder rebases rb:1 in its registry");
    expect(r.stderr).toContain("hint:");
  });

  it("the builder's rebaser moves the app onto the new run image (--force: one the app does not name), and it runs", async () => {
    const before = await runImageOf(app);
    const args = ["rebase", app, "--publish", "--lifecycle", "builder", "-B", f.builder, "--run-image", run2];
    // --network reaches the rebaser: in its default private network the registry on the host's loopback is out
    // of reach, so it fails before its own checks; with the host's it gets to them.
    const unreachable = await berth([...args, "-q", "--force"], { home: f.home });
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toContain("the lifecycle's rebaser failed");
    // The lifecycle's own check (Platform API 0.12+): the app names run:1 only.
    const refused = await berth([...args, "--network", "host", "-q"], { home: f.home });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("please provide -force to override");
    const r = await berth([...args, "--network", "host", "-q", "--force"], { home: f.home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const after = await runImageOf(app);
    expect(after.runImage?.topLayer).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(after.runImage?.topLayer).not.toBe(before.runImage?.topLayer);
    const run = await berth(["run", "--pull", "always", `docker://${app}`], { home: f.home });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("say: the app\n");
  });

  it("a lifecycle image's rebaser (--lifecycle-image), with the Platform API negotiated", async () => {
    await lifecycleImage("test/lifecycle:0.21.0", f.home);
    const r = await berth(
      [
        "rebase",
        app,
        "--publish",
        "--lifecycle",
        "builder",
        "--lifecycle-image",
        "test/lifecycle:0.21.0",
        "--run-image",
        `${f.reg.host}/base/run:1`,
        "--network",
        "host",
        "--force",
      ],
      { home: f.home },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Using the lifecycle 0.21.0's rebaser (Platform API 0.14)");
    expect(r.stderr).toMatch(/Rebased .*app\/rb:1 with the lifecycle 0\.21\.0 \(sha256:/);
  });

  it("on a registry that wants credentials: berth's, as CNB_REGISTRY_AUTH, never printed", async () => {
    const secret = "s3cret-for-the-rebaser";
    const auth = await startRegistry({ htpasswd: [await htpasswdLine("alice", secret)] });
    try {
      const env = { DOCKER_CONFIG: join(f.dir, "docker-config") };
      const login = await berth(["login", auth.host, "-u", "alice", "--password-stdin"], {
        home: f.home,
        env,
        input: `${secret}\n`,
      });
      expect(login.code, login.stderr).toBe(0);
      for (const [from, to] of [
        [app, `${auth.host}/app/rb:1`],
        [run2, `${auth.host}/base/run:2`],
      ]) {
        const c = await berth(["copy", `docker://${from}`, `docker://${to}`], { home: f.home, env });
        expect(c.code, c.stderr).toBe(0);
      }
      const args = [
        "rebase",
        `${auth.host}/app/rb:1`,
        "--publish",
        "--lifecycle",
        "builder",
        "-B",
        f.builder,
      ];
      const r = await berth(
        [...args, "--run-image", `${auth.host}/base/run:2`, "--network", "host", "--force"],
        { home: f.home, env },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(r.stdout + r.stderr).not.toContain(Buffer.from(`alice:${secret}`).toString("base64"));
      // Without them the rebaser is refused by the registry.
      const anon = await berth(
        [...args, "--run-image", `${auth.host}/base/run:2`, "--network", "host", "--force"],
        { home: f.home, env: { DOCKER_CONFIG: join(f.dir, "no-config") } },
      );
      expect(anon.code).not.toBe(0);
    } finally {
      await auth.stop();
    }
  });

  it("--builder and --network only with --lifecycle builder", async () => {
    const r = await berth(["rebase", "rb:1", "-B", f.builder], { home: f.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--builder only matters with --lifecycle builder");
  });
});
