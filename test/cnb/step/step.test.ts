/**
 * The build-step contract (issue 15 §1), without Kubernetes: berth runs INSIDE a runc container made from a
 * builder's build image (harness.ts: uid 1000, every capability dropped, no new privileges, docker's seccomp
 * refusals, a read-only root, fresh host folders for /layers, /workspace and /tmp, the host's network, berth
 * at /berth) and builds with `berth build --isolation host --publish` against a docker-registry with htpasswd
 * auth. Credentials reach it only through CNB_REGISTRY_AUTH in one test and a mounted DOCKER_CONFIG in the
 * other. The image must run and print its output, report.toml's digest must equal the registry's, and the
 * root must be unchanged (the harness checks it after every step).
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import {
  BASIC,
  berthPod,
  builderRoot,
  checkBuilt,
  type Harness,
  type Pod,
  type PodResult,
  runPod,
  startHarness,
} from "./harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("berth-step-");
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

async function built(r: PodResult, repo: string, reportFile = "report.toml"): Promise<void> {
  const report = await readFile(join(r.volumes.layers!, reportFile), "utf8");
  await checkBuilt(h, { report, out: r.out, repo, tag: "1", appDir: "/workspace" });
}

const authEnv = () => ({ CNB_REGISTRY_AUTH: JSON.stringify({ [h.reg.host]: `Basic ${BASIC}` }) });

// The step mounts the host's x86-64 glibc for Node and uses the amd64 prebuilt launcher.
describe.skipIf(process.arch !== "x64")(
  "berth build --isolation host inside a build step (runc, uid 1000, no capabilities, read-only root)",
  () => {
    const build = async (name: string, pod: Pod, o: { lifecycle?: boolean } = {}) =>
      runPod(h, pod, await builderRoot(h, name, { builder: true, lifecycle: o.lifecycle }));

    it("builds with the builder on its filesystem and publishes with CNB_REGISTRY_AUTH only", async () => {
      const r = await build(
        "auth-env",
        berthPod(
          ["build", "/workspace", "-t", `${h.reg.host}/app-env:1`, "--publish", "--isolation", "host"],
          authEnv(),
        ),
      );
      expect(r.out).toContain("Successfully built image");
      expect(r.steps[0]?.code, r.out).toBe(0);
      await built(r, "app-env");
    }, 300_000);

    it("publishes with a mounted DOCKER_CONFIG, CNB_* directories from the environment", async () => {
      const r = await build(
        "cfg-step",
        berthPod(
          ["build", "-t", `${h.reg.host}/app-cfg:1`, "--publish", "--isolation", "host"],
          { DOCKER_CONFIG: "/tmp/docker-config", CNB_REPORT_PATH: "/layers/out-report.toml" },
          [{ volume: "docker", path: "/tmp/docker-config" }],
        ),
      );
      expect(r.steps[0]?.code, r.out).toBe(0);
      // CNB_REPORT_PATH is where report.toml went.
      expect(existsSync(join(r.volumes.layers!, "report.toml"))).toBe(false);
      await built(r, "app-cfg", "out-report.toml");
    }, 300_000);

    it("writes an OCI layout to a volume, with the builder's own /cnb/lifecycle/launcher, created at SOURCE_DATE_EPOCH", async () => {
      const r = await build(
        "layout-step",
        berthPod(["build", "-t", "oci:/layers/out:app", "--isolation", "host"], {
          ...authEnv(),
          SOURCE_DATE_EPOCH: "1700000000",
        }),
        { lifecycle: true },
      );
      expect(r.steps[0]?.code, r.out).toBe(0);
      const out = join(r.volumes.layers!, "out");
      const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
      const desc = index.manifests.find(
        (m: { annotations?: Record<string, string> }) =>
          m.annotations?.["org.opencontainers.image.ref.name"] === "app",
      );
      const report = await readFile(join(r.volumes.layers!, "report.toml"), "utf8");
      expect(report).toContain(`digest = "${desc.digest}"`);
      const blob = (d: string) => readFile(join(out, "blobs", "sha256", d.slice(7)), "utf8");
      const manifest = JSON.parse(await blob(desc.digest));
      const config = JSON.parse(await blob(manifest.config.digest));
      const md = JSON.parse(config.config.Labels["io.buildpacks.build.metadata"]);
      expect(md.launcher.version).toBe("0.99.0-test");
      expect(config.created).toBe("2023-11-14T22:13:20Z");
      const ran = await berth(["run", "--network", "none", `oci:${out}:app`], { home: h.home });
      expect(ran.stdout).toContain("hello-from-the-step");
      expect(ran.code).toBe(0);
    }, 300_000);

    it("a second pod with empty volumes restores the cache from CNB_CACHE_IMAGE", async () => {
      const pod = berthPod(
        ["build", "-t", `${h.reg.host}/app-cached:1`, "--publish", "--isolation", "host"],
        {
          ...authEnv(),
          CNB_CACHE_IMAGE: `${h.reg.host}/app-cache:cache`,
          CNB_PREVIOUS_IMAGE: `${h.reg.host}/app-cached:1`,
        },
      );
      const first = await build("pod-1", pod);
      expect(first.steps[0]?.code, first.out).toBe(0);
      expect(first.out).not.toContain("DEPS-FROM-CACHE");
      expect(first.out).toContain("Adding cache layer 'test/hello:deps'");
      const second = await build("pod-2", pod);
      expect(second.steps[0]?.code, second.out).toBe(0);
      expect(second.out).toContain("DEPS-FROM-CACHE first-pod");
      expect(second.out).toContain("Reusing cache layer 'test/hello:deps'");
      await built(second, "app-cached");
    }, 300_000);

    it("refuses in one sentence when there is no builder on the filesystem and none is given", async () => {
      const pod = berthPod(
        ["build", "/workspace", "-t", `${h.reg.host}/none:1`, "--publish", "--isolation", "host"],
        {},
      );
      const r = await runPod(h, pod, await builderRoot(h, "no-builder", { builder: false }));
      expect(r.steps[0]?.code).not.toBe(0);
      expect(r.out).toContain("no builder on this filesystem: /cnb/order.toml or /cnb/buildpacks is missing");
      expect(r.out).toContain("hint:");
    }, 120_000);
  },
);

describe("the sandbox where it cannot run", () => {
  it("names what is missing and points at --isolation host", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "index.txt"), "x\n");
    const r = await berth(["build", dir, "-t", "app:1", "--builder", `oci:${h.layout}:build`], {
      home: h.home,
      env: { PATH: join(dir, "no-runtime-here") },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("the build sandbox cannot run here: no OCI runtime found");
    expect(r.stderr).toContain("--isolation host");
  });
});
