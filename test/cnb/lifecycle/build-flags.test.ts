/**
 * Issue 14 §2: with `--lifecycle builder`, pack's build flags mean what they mean for pack, each checked by
 * what reaches the builder's lifecycle (the reference lifecycle v0.21.0): `-e`/`--env-file` (the platform env),
 * `--default-process`, `--run-image`, `--previous-image`, `--buildpack` (the order pack's ephemeral builder
 * would hold), project.toml (env, buildpacks, exclude), `--creation-time`, `--report-output-dir`, and
 * `--cache-image` (with --publish, as pack requires); `--sbom-output-dir` is refused.
 * Each test fails when its flag is dropped (build/lifecycle.ts refused `--buildpack`, `--cache-image` and a
 * project.toml group before).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { type LifecycleFixture, labelsOf, lifecycleFixture } from "./fixture.ts";

let f: LifecycleFixture;

const build = (name: string, args: string[], app = f.app, env: Record<string, string> = {}) =>
  berth(["build", app, "-t", name, "--builder", f.builder, "--lifecycle", "builder", ...args], {
    home: f.home,
    env,
  });

beforeAll(async () => {
  f = await lifecycleFixture("berth-lc-flags-");
}, 600_000);

afterAll(async () => {
  await f?.cleanup();
});

describe("berth build --lifecycle builder: pack's flags", () => {
  it("-e and --env-file reach the lifecycle's platform env", async () => {
    const envFile = join(f.dir, "build.env");
    await writeFile(envFile, "FROMFILE=from the file\n");
    const r = await build("env:1", ["-e", "GREETING=hello there", "--env-file", envFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const labels = await labelsOf("env:1", f.home);
    expect(labels["test.greeting"]).toBe("hello there");
    expect(labels["test.fromfile"]).toBe("from the file");
  });

  it("--default-process makes that process the image's default", async () => {
    const r = await build("proc:1", ["--default-process", "other", "--trust-builder"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const run = await berth(["run", "proc:1"], { home: f.home });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("other\n");
  });

  it("--run-image is the run image the app is exported on", async () => {
    const run2 = `${f.reg.host}/base/run2:1`;
    const push = await berth(["copy", `oci:${f.layout}:run`, `docker://${run2}`], { home: f.home });
    expect(push.code, push.stderr).toBe(0);
    const r = await build("runimg:1", ["--run-image", run2]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const md = (await labelsOf("runimg:1", f.home))["io.buildpacks.lifecycle.metadata"] ?? "";
    expect(md).toContain("base/run2");
  });

  it("--previous-image is the image the lifecycle reuses layers from", async () => {
    const first = await build("prevsrc:1", []);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const reuse = /Reusing layer 'test\/provider:say'|Restoring metadata for "test\/provider:say"/;
    const without = await build("noprev:1", []);
    expect(without.code, without.stdout + without.stderr).toBe(0);
    expect(without.stdout + without.stderr).not.toMatch(reuse);
    const r = await build("withprev:1", ["--previous-image", "prevsrc:1"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(reuse);
  });

  it("--buildpack makes the order, with buildpacks from outside the builder (untrusted and trusted)", async () => {
    for (const [name, extra] of [
      ["bp:1", []],
      ["bpt:1", ["--trust-builder"]],
    ] as const) {
      const r = await build(name, ["-b", "test/provider", "-b", f.extraBp, ...extra]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const labels = await labelsOf(name, f.home);
      expect(labels["test.extra"]).toBe("yes");
      expect(labels["test.greeting"]).toBe("unset");
    }
  });

  it("project.toml: its env, its buildpacks and its exclude", async () => {
    const app = join(f.dir, "project-app");
    await mkdir(app, { recursive: true });
    await writeFile(join(app, "index.txt"), "the project\n");
    await writeFile(join(app, "secret.txt"), "left out\n");
    await writeFile(
      join(app, "project.toml"),
      `[project]
id = "test/project"

[build]
exclude = ["secret.txt"]
[[build.env]]
name = "PROJ"
value = "from project.toml"
[[build.buildpacks]]
id = "test/provider"
[[build.buildpacks]]
uri = "${f.extraBp}"
`,
    );
    const r = await build("proj:1", [], app);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const labels = await labelsOf("proj:1", f.home);
    expect(labels["test.proj"]).toBe("from project.toml");
    expect(labels["test.extra"]).toBe("yes");
    expect(labels["test.files"]).toContain("index.txt");
    expect(labels["test.files"]).not.toContain("secret.txt");
  });

  it("--creation-time is the image's created time; --report-output-dir gets the exporter's report", async () => {
    const reports = join(f.dir, "reports");
    const r = await build("created:1", ["--creation-time", "1700000000", "--report-output-dir", reports]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const inspect = await berth(["inspect", "--config", "created:1"], { home: f.home });
    expect((JSON.parse(inspect.stdout) as { created?: string }).created).toBe("2023-11-14T22:13:20Z");
    expect(await readFile(join(reports, "report.toml"), "utf8")).toMatch(/\[image\][\s\S]*digest = "sha256:/);
  });

  it("SOURCE_DATE_EPOCH is the created time, as the lifecycle's exporter reads it; --creation-time wins", async () => {
    const createdOf = async (image: string) =>
      (
        JSON.parse((await berth(["inspect", "--config", image], { home: f.home })).stdout) as {
          created?: string;
        }
      ).created;
    const r = await build("sde:1", [], f.app, { SOURCE_DATE_EPOCH: "1600000000" });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await createdOf("sde:1")).toBe("2020-09-13T12:26:40Z");
    const both = await build("sde:2", ["--creation-time", "1700000000"], f.app, {
      SOURCE_DATE_EPOCH: "1600000000",
    });
    expect(both.code, both.stdout + both.stderr).toBe(0);
    expect(await createdOf("sde:2")).toBe("2023-11-14T22:13:20Z");
  });

  it("--sbom-output-dir is refused, not ignored", async () => {
    const r = await build("sbom:1", ["--sbom-output-dir", join(f.dir, "sbom")]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--sbom-output-dir cannot be used with --lifecycle builder");
  });

  it("--cache-dir is the lifecycle's cache: another image's build restores from it", async () => {
    const cacheDir = join(f.dir, "shared-cache");
    const restored = /Restoring data for "test\/provider:say" from cache/;
    const one = await build("cd1:1", ["--cache-dir", cacheDir]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    const two = await build("cd2:1", ["--cache-dir", cacheDir]);
    expect(two.code, two.stdout + two.stderr).toBe(0);
    expect(two.stdout + two.stderr).toMatch(restored);
  });

  it("--cache-image needs --publish, as pack's", async () => {
    const r = await build("ci:1", ["--cache-image", `${f.reg.host}/app/cache:1`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--cache-image requires --publish with --lifecycle builder");
    expect(r.stderr.trim().split("\n")[0]).not.toContain("\n");
  });

  it("--cache-image with --publish: the lifecycle writes the cache image, and another build restores from it", async () => {
    const cache = `${f.reg.host}/app/cache:1`;
    const one = await build(`${f.reg.host}/app/ci:1`, [
      "--publish",
      "--cache-image",
      cache,
      "--network",
      "host",
    ]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    const inspect = await berth(["inspect", `docker://${cache}`], { home: f.home });
    expect(inspect.code, inspect.stderr).toBe(0);
    // Untrusted: the buildpacks' phases (detector, builder) get no registry credentials, not even in a
    // process environment the buildpacks could read (/proc/PID/environ of the phase, same user).
    const labels = await labelsOf(`docker://${f.reg.host}/app/ci:1`, f.home);
    expect(labels["test.authseen"]).toBe("0");
    // Another image name: its own cache folder is empty, so a restore can only come from the cache image.
    const two = await build(`${f.reg.host}/app/ci2:1`, [
      "--publish",
      "--cache-image",
      cache,
      "--network",
      "host",
      "--trust-builder",
    ]);
    expect(two.code, two.stdout + two.stderr).toBe(0);
    expect(two.stdout + two.stderr).toMatch(/Restoring data for "test\/provider:say" from cache/);
  });
});
