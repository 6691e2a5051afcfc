/**
 * The engines' step contracts (issue 15 §2), each profile read from its deploy/ file and run by the harness
 * (harness.ts): every step its own runc container with the file's user, capabilities and volumes, fresh
 * volumes per "pod", a docker-registry with htpasswd auth on 127.0.0.1. For each: the image runs, report.toml's
 * digest is the registry's, a second pod with empty volumes reuses the cache image's layers, nothing is
 * written outside the volumes, and no step needed a capability it lacks (it would fail).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILDER, githubPod, gitlabPod, readDeploy, shipwrightPod, tektonPod } from "./deploy.ts";
import { BASIC, builderRoot, checkBuilt, type Harness, type Pod, runPod, startHarness } from "./harness.ts";

let h: Harness;

interface K8sStepLike {
  securityContext: { readOnlyRootFilesystem?: boolean };
  env: { name: string; value: string }[];
}

beforeAll(async () => {
  h = await startHarness("berth-engines-");
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

/** Two pods of one profile, fresh volumes each: both build, the second from the first's cache image. */
async function twoPods(
  name: string,
  pod: (repo: string) => Promise<Pod>,
  o: { appDir: string; report: (vols: Record<string, string>) => string },
) {
  const repo = `${name}-app`;
  const first = await runPod(h, await pod(repo), await builderRoot(h, `${name}-1`, { builder: true }));
  expect(first.steps.at(-1)?.code, first.out).toBe(0);
  expect(first.out).not.toContain("DEPS-FROM-CACHE");
  expect(first.out).toContain("Adding cache layer 'test/hello:deps'");
  await checkBuilt(h, {
    report: await readFile(o.report(first.volumes), "utf8"),
    out: first.out,
    repo,
    tag: "1",
    appDir: o.appDir,
  });
  const second = await runPod(h, await pod(repo), await builderRoot(h, `${name}-2`, { builder: true }));
  expect(second.steps.at(-1)?.code, second.out).toBe(0);
  expect(second.out).toContain("DEPS-FROM-CACHE first-pod");
  expect(second.out).toContain("Reusing cache layer 'test/hello:deps'");
  const digest = await checkBuilt(h, {
    report: await readFile(o.report(second.volumes), "utf8"),
    out: second.out,
    repo,
    tag: "1",
    appDir: o.appDir,
  });
  return { first, second, digest };
}

describe.skipIf(process.arch !== "x64")(
  "the engines' step contracts (deploy/ files run by the harness)",
  () => {
    const tekton = async (repo: string, change?: (task: Record<string, unknown>) => void) => {
      const task = await readDeploy("tekton/berth-task.yaml");
      change?.(task);
      return tektonPod(task, {
        params: {
          APP_IMAGE: `${h.reg.host}/${repo}:1`,
          BUILDER_IMAGE: BUILDER,
          BERTH_IMAGE: "berth-image",
          CACHE_IMAGE: `${h.reg.host}/${repo}-cache:cache`,
        },
        workspaces: { source: { kind: "app" }, dockerconfig: { kind: "dockerConfig" } },
      });
    };

    it("Tekton: deploy/tekton/berth-task.yaml (prepare as root with CHOWN, build as 1000, results)", async () => {
      const { second, digest } = await twoPods("tekton", (repo) => tekton(repo), {
        appDir: "/workspace/source",
        report: (v) => join(v.layers!, "report.toml"),
      });
      expect(second.steps.map((s) => s.name)).toEqual(["prepare", "build", "results"]);
      expect(await readFile(join(second.volumes["tekton-results"]!, "APP_IMAGE_DIGEST"), "utf8")).toBe(
        digest,
      );
    }, 600_000);

    it("Tekton: the prepare step fails without CHOWN (the harness grants no capability a file does not add)", async () => {
      const pod = await tekton("tekton-nochown", (task) => {
        const steps = (task.spec as { steps: { securityContext: { capabilities: { add?: string[] } } }[] })
          .steps;
        steps[0]!.securityContext.capabilities.add = [];
      });
      const r = await runPod(h, pod, await builderRoot(h, "tekton-nochown", { builder: true }));
      expect(r.steps.map((s) => [s.name, s.code])).toEqual([["prepare", 1]]);
      expect(r.out).toContain("Operation not permitted");
    }, 120_000);

    it("Shipwright: deploy/shipwright/berth-strategy.yaml (one step as 1000, writes under /tmp only)", async () => {
      const strategy = await readDeploy("shipwright/berth-strategy.yaml");
      const { second, digest } = await twoPods(
        "shipwright",
        async (repo) =>
          shipwrightPod(strategy, {
            outputImage: `${h.reg.host}/${repo}:1`,
            params: { "builder-image": BUILDER, "cache-image": `${h.reg.host}/${repo}-cache:cache` },
          }),
        { appDir: "/workspace/source", report: (v) => join(v.tmp!, "report.toml") },
      );
      expect(second.steps.map((s) => s.name)).toEqual(["build-and-push"]);
      expect(await readFile(join(second.volumes["tekton-results"]!, "shp-image-digest"), "utf8")).toBe(
        digest,
      );
    }, 600_000);

    it("the harness fails a step that writes outside its volumes (a strategy with its layers in the CNB user's home)", async () => {
      const strategy = await readDeploy("shipwright/berth-strategy.yaml");
      const step = (strategy.spec as { steps: K8sStepLike[] }).steps[0]!;
      step.securityContext.readOnlyRootFilesystem = false;
      step.env.find((e) => e.name === "CNB_LAYERS_DIR")!.value = "/home/cnb/layers";
      const pod = shipwrightPod(strategy, {
        outputImage: `${h.reg.host}/outside:1`,
        params: { "builder-image": BUILDER },
      });
      await expect(runPod(h, pod, await builderRoot(h, "outside", { builder: true }))).rejects.toThrow(
        "step build-and-push wrote outside its volumes",
      );
    }, 300_000);

    const auth = () => JSON.stringify({ [h.reg.host]: `Basic ${BASIC}` });

    it("a CI runner: deploy/github/berth.yml (root in the build image, no daemon, cache image in the registry)", async () => {
      const workflow = await readDeploy("github/berth.yml");
      const { second, digest } = await twoPods(
        "github",
        async (repo) =>
          githubPod(workflow, "image", {
            "vars.BUILDER_IMAGE": BUILDER,
            "vars.APP_IMAGE": `${h.reg.host}/${repo}:1`,
            "vars.CACHE_IMAGE": `${h.reg.host}/${repo}-cache:cache`,
            "secrets.CNB_REGISTRY_AUTH": auth(),
          }),
        { appDir: "/__w/app/app", report: (v) => join(v.temp!, "layers", "report.toml") },
      );
      expect(await readFile(join(second.volumes.temp!, "github-output"), "utf8")).toBe(`digest=${digest}\n`);
    }, 600_000);

    it("a CI runner: deploy/gitlab/.gitlab-ci.yml (root in the build image, no docker-in-docker)", async () => {
      const ci = await readDeploy("gitlab/.gitlab-ci.yml");
      const { second, digest } = await twoPods(
        "gitlab",
        async (repo) =>
          gitlabPod(ci, "berth-image", {
            BUILDER_IMAGE: BUILDER,
            APP_IMAGE: `${h.reg.host}/${repo}:1`,
            CACHE_IMAGE: `${h.reg.host}/${repo}-cache:cache`,
            CNB_REGISTRY_AUTH: auth(),
          }),
        { appDir: "/builds/group/app", report: (v) => join(v.builds!, ".berth", "layers", "report.toml") },
      );
      expect(await readFile(join(second.volumes.checkout!, "build.env"), "utf8")).toBe(
        `APP_IMAGE_DIGEST=${digest}\n`,
      );
    }, 600_000);
  },
);
