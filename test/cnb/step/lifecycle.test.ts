/**
 * The lifecycle's own path through the harness (issue 15 §2): a builder carrying the reference lifecycle
 * v0.21.0 (test/cnb/lifecycle/fixture.ts), its phases run as the engines run them, each its own runc
 * container from the builder image: Tekton's `buildpacks-phases` (a root prepare step with CHOWN, then
 * analyzer, detector, restorer, builder, exporter as uid 1000 with a docker config secret) and kpack's build
 * pod (init containers as the CNB user under runAsNonRoot and fsGroup, HOME=/builder/home holding the
 * credentials prepare copied from the secret). The image runs, report.toml's digest is the registry's, and a
 * second pod where berth builds in the same builder image (berth's path) reuses the lifecycle's cache image.
 * kpack runs its own lifecycle: berth's path for kpack is not applicable (kpack has no step for another tool).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { type LifecycleFixture, lifecycleFixture } from "../lifecycle/fixture.ts";
import {
  BASIC,
  berthPod,
  type Harness,
  type Mount,
  type Pod,
  registryDigest,
  runPod,
  type Step,
  startHarness,
  unpackRoot,
} from "./harness.ts";

let h: Harness;
let f: LifecycleFixture;
let builder: string;

beforeAll(async () => {
  h = await startHarness("berth-lc-step-");
  f = await lifecycleFixture("berth-lc-step-fx-", undefined, {
    reg: h.reg,
    env: { DOCKER_CONFIG: h.dockerConfig },
  });
  builder = `${join(h.work, "builder-layout")}:builder`;
  const c = await berth(["copy", f.builder, `oci:${builder}`], { home: f.home });
  if (c.code !== 0) throw new Error(`copying the builder: ${c.stderr}`);
}, 600_000);

afterAll(async () => {
  await f?.cleanup();
  await h?.stop();
});

/** The five phases as both engines run them (Platform API 0.12), as uid 1000 with `mounts` and `env`. */
function phases(o: {
  repo: string;
  env: Record<string, string>;
  mounts: Mount[];
  readOnlyRoot: boolean;
}): Step[] {
  const app = `${h.reg.host}/${o.repo}:1`;
  const cache = `-cache-image=${h.reg.host}/${o.repo}-cache:cache`;
  const phase = (name: string, args: string[]): Step => ({
    name,
    uid: 1000,
    gid: 1000,
    capAdd: [],
    readOnlyRoot: o.readOnlyRoot,
    env: { CNB_PLATFORM_API: "0.12", ...o.env },
    args: [`/cnb/lifecycle/${name}`, ...args],
    mounts: o.mounts,
  });
  return [
    phase("analyzer", [
      "-layers=/layers",
      `-run-image=${h.reg.host}/base/run:1`,
      cache,
      `-previous-image=${app}`,
      app,
    ]),
    phase("detector", ["-app=/workspace", "-layers=/layers", "-platform=/platform"]),
    phase("restorer", ["-layers=/layers", cache]),
    phase("builder", ["-app=/workspace", "-layers=/layers", "-platform=/platform"]),
    phase("exporter", ["-app=/workspace", "-layers=/layers", cache, "-report=/layers/report.toml", app]),
  ];
}

/** Tekton's buildpacks-phases: prepare (root, CHOWN) hands the volumes to 1000; the phases read DOCKER_CONFIG. */
function tektonPhases(repo: string): Pod {
  const mounts: Mount[] = [
    { volume: "layers", path: "/layers" },
    { volume: "platform", path: "/platform" },
    { volume: "source", path: "/workspace" },
    { volume: "tmp", path: "/tmp" },
    { volume: "dockerconfig", path: "/docker-config" },
  ];
  return {
    volumes: {
      layers: { kind: "emptyDir" },
      platform: { kind: "emptyDir" },
      tmp: { kind: "emptyDir" },
      source: { kind: "app" },
      dockerconfig: { kind: "dockerConfig" },
    },
    steps: [
      {
        name: "prepare",
        uid: 0,
        gid: 0,
        capAdd: ["CHOWN"],
        readOnlyRoot: true,
        env: {},
        args: ["/bin/sh", "-c", "chown -R 1000:1000 /layers /workspace"],
        mounts,
      },
      ...phases({ repo, env: { DOCKER_CONFIG: "/docker-config" }, mounts, readOnlyRoot: true }),
    ],
  };
}

/**
 * kpack's build pod: runAsNonRoot, fsGroup 1000, HOME=/builder/home; its prepare init container (as the CNB
 * user) puts the registry secret's docker config in $HOME/.docker, where the phases find it.
 */
function kpackPod(repo: string): Pod {
  const mounts: Mount[] = [
    { volume: "layers-dir", path: "/layers" },
    { volume: "platform-dir", path: "/platform" },
    { volume: "workspace-dir", path: "/workspace" },
    { volume: "home-dir", path: "/builder/home" },
    { volume: "secret-volume-reg", path: "/var/build-secrets/reg" },
  ];
  const env = { HOME: "/builder/home" };
  return {
    fsGroup: 1000,
    runAsNonRoot: true,
    volumes: {
      "layers-dir": { kind: "emptyDir" },
      "platform-dir": { kind: "emptyDir" },
      "home-dir": { kind: "emptyDir" },
      "workspace-dir": { kind: "app", uid: 1000 },
      "secret-volume-reg": { kind: "dockerConfig" },
    },
    steps: [
      {
        name: "prepare",
        uid: 1000,
        gid: 1000,
        capAdd: [],
        readOnlyRoot: false,
        env,
        args: [
          "/bin/sh",
          "-c",
          "mkdir -p $HOME/.docker && cp /var/build-secrets/reg/config.json $HOME/.docker/",
        ],
        mounts,
      },
      ...phases({ repo, env, mounts, readOnlyRoot: false }),
    ],
  };
}

/** berth in the same builder image (berth's path), its cache and previous image the lifecycle's. */
function berthStep(repo: string): Pod {
  return berthPod(["build", "--isolation", "host", "--publish", "-t", `${h.reg.host}/${repo}:1`], {
    HOME: "/tmp",
    CNB_REGISTRY_AUTH: JSON.stringify({ [h.reg.host]: `Basic ${BASIC}` }),
    CNB_CACHE_IMAGE: `${h.reg.host}/${repo}-cache:cache`,
    CNB_PREVIOUS_IMAGE: `${h.reg.host}/${repo}:1`,
  });
}

async function checkImage(report: string, repo: string): Promise<void> {
  const digest = /digest = "(sha256:[0-9a-f]{64})"/.exec(report)?.[1];
  expect(digest, report).toBeDefined();
  expect(await registryDigest(h, repo, "1")).toBe(digest);
  const ran = await berth(["run", "--network", "none", `docker://${h.reg.host}/${repo}:1`], {
    home: h.home,
    env: { DOCKER_CONFIG: h.dockerConfig },
  });
  expect(ran.stdout, ran.stderr).toContain("say: the app");
  expect(ran.code).toBe(0);
}

describe.skipIf(process.arch !== "x64")("the reference lifecycle's phases as the engines run them", () => {
  for (const [engine, pod] of [
    ["Tekton buildpacks-phases", tektonPhases],
    ["kpack's build pod", kpackPod],
  ] as const) {
    it(`${engine}: one container per phase; then berth reuses the lifecycle's cache image`, async () => {
      const repo = engine.startsWith("kpack") ? "kpack-app" : "phases-app";
      const r = await runPod(h, pod(repo), await unpackRoot(h, `${repo}-1`, builder));
      expect(r.steps.map((s) => [s.name, s.code]).at(-1), r.out).toEqual(["exporter", 0]);
      expect(r.out).not.toContain(BASIC);
      await checkImage(
        await readFile(
          join(r.volumes[engine.startsWith("kpack") ? "layers-dir" : "layers"]!, "report.toml"),
          "utf8",
        ),
        repo,
      );
      const b = await runPod(h, berthStep(repo), await unpackRoot(h, `${repo}-2`, builder));
      expect(b.steps[0]?.code, b.out).toBe(0);
      expect(b.out).toContain('Restoring metadata for "test/provider:say" from app image');
      expect(b.out).toContain('Restoring data for "test/provider:say" from cache');
      await checkImage(await readFile(join(b.volumes.layers!, "report.toml"), "utf8"), repo);
    }, 600_000);
  }
});
