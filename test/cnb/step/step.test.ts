/**
 * The build-step contract (issue 15 §1), without Kubernetes: berth runs INSIDE a runc container made from a
 * builder's build image — uid 1000, every capability dropped, no new privileges, a read-only root, fresh host
 * folders for /layers, /workspace and /tmp, the host's network (the registry is on 127.0.0.1) and Node 24
 * from the project's `node` devDependency (with the host's glibc, read-only) — and builds with
 * `berth build --isolation host --publish` against a docker-registry with htpasswd auth. Credentials reach
 * it only through CNB_REGISTRY_AUTH in one test and a mounted DOCKER_CONFIG in the other. The image must
 * run and print its output, report.toml's digest must equal the registry's, and the root must be unchanged.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileLauncher, launcherSourceHash, launcherSourcePath } from "../../../src/cnb/launch/index.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { htpasswdLine } from "../../registry/helpers/certs.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

const pexec = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../../..");
/** Where the step sees the berth package: this checkout's parts, read-only, plus the launcher built for it. */
const PKG = "/berth";
const USER = "step-user";
const SECRET = "step-secret-Zq81";
const BASIC = Buffer.from(`${USER}:${SECRET}`).toString("base64");

let work: string;
let home: string;
let reg: RegistryHarness;
let hostDockerConfig: string;
let layout: string;
let launcherDir: string;

/**
 * The prebuilt launcher a packed berth ships (scripts/build.ts does this at prepack: the step has no gcc), made
 * in this test's folder and mounted at the step's package's dist/launcher: the checkout itself is never written
 * (other tests would find it and skip compiling).
 */
async function makePrebuiltLauncher(): Promise<string> {
  const dir = join(work, "launcher");
  await mkdir(dir, { recursive: true });
  await compileLauncher("gcc", join(dir, "amd64"));
  await writeFile(
    join(dir, "source.sha256"),
    `${launcherSourceHash(await readFile(launcherSourcePath()))}\n`,
  );
  return dir;
}

beforeAll(async () => {
  work = await tempDir("berth-step-");
  home = join(work, "home");
  await mkdir(home, { recursive: true });
  reg = await startRegistry({ htpasswd: [await htpasswdLine(USER, SECRET)] });
  hostDockerConfig = join(work, "docker-config");
  await mkdir(hostDockerConfig, { recursive: true });
  await writeFile(
    join(hostDockerConfig, "config.json"),
    JSON.stringify({ auths: { [reg.host]: { auth: BASIC } } }),
  );
  launcherDir = await makePrebuiltLauncher();
  // The build image (busybox, a cnb user 1000), also the run image, pushed to the registry.
  layout = join(work, "images");
  await makeBuildImage(work, `oci:${layout}:build`, home);
  const pushed = await berth(["copy", `oci:${layout}:build`, `docker://${reg.host}/run:1`], {
    home,
    env: { DOCKER_CONFIG: hostDockerConfig },
  });
  expect(pushed.stderr).toBe(pushed.code === 0 ? pushed.stderr : "");
  expect(pushed.code).toBe(0);
}, 240_000);

afterAll(async () => {
  await reg?.stop();
});

interface Step {
  bundle: string;
  rootfs: string;
  layers: string;
  workspace: string;
  tmp: string;
}

/** A step's bundle: the build image unpacked, the builder's /cnb written into it, fresh volumes. */
async function makeStep(name: string, o: { builder: boolean; lifecycle?: boolean }): Promise<Step> {
  const bundle = join(work, name);
  await pexec("umoci", ["unpack", "--image", `${layout}:build`, bundle]);
  const rootfs = join(bundle, "rootfs");
  if (o.builder) {
    const cnb = join(rootfs, "cnb");
    const bpDir = await writeBuildpack(join(work, `${name}-bps`), {
      id: "test/hello",
      version: "1.0.0",
      build: [
        'if [ -f "$CNB_LAYERS_DIR/deps/marker" ]; then echo "DEPS-FROM-CACHE $(cat "$CNB_LAYERS_DIR/deps/marker")"; else mkdir -p "$CNB_LAYERS_DIR/deps"; echo first-pod > "$CNB_LAYERS_DIR/deps/marker"; fi',
        'printf "[types]\\ncache = true\\n" > "$CNB_LAYERS_DIR/deps.toml"',
        'mkdir -p "$CNB_LAYERS_DIR/web"',
        'echo "built-in $PWD by $(id -u)" > "$CNB_LAYERS_DIR/web/built"',
        'printf "[types]\\nlaunch = true\\n" > "$CNB_LAYERS_DIR/web.toml"',
        'printf "[[processes]]\\ntype = \\"web\\"\\ncommand = [\\"/bin/sh\\", \\"-c\\", \\"cat /layers/test_hello/web/built; echo hello-from-the-step\\"]\\ndefault = true\\n" > "$CNB_LAYERS_DIR/launch.toml"',
      ].join("\n"),
    });
    const dest = join(cnb, "buildpacks", "test_hello", "1.0.0");
    await mkdir(join(cnb, "buildpacks", "test_hello"), { recursive: true });
    await pexec("cp", ["-a", bpDir, dest]);
    await writeFile(
      join(cnb, "order.toml"),
      '[[order]]\n[[order.group]]\nid = "test/hello"\nversion = "1.0.0"\n',
    );
    await writeFile(join(cnb, "run.toml"), `[[images]]\nimage = "${reg.host}/run:1"\n`);
    if (o.lifecycle) {
      // A builder that carries a lifecycle: its launcher goes into the image (here berth's binary, under
      // the lifecycle's name and version).
      await mkdir(join(cnb, "lifecycle"), { recursive: true });
      await pexec("cp", [join(launcherDir, "amd64"), join(cnb, "lifecycle", "launcher")]);
      await writeFile(join(cnb, "lifecycle", "lifecycle.toml"), '[lifecycle]\nversion = "0.99.0-test"\n');
    }
  }
  const layers = join(work, `${name}-layers`);
  const workspace = join(work, `${name}-workspace`);
  const tmp = join(work, `${name}-tmp`);
  for (const d of [layers, workspace, tmp]) {
    await mkdir(d, { recursive: true });
    await chown(d, 1000, 1000);
  }
  await writeFile(join(workspace, "index.txt"), "the app\n");
  await chown(join(workspace, "index.txt"), 1000, 1000);
  return { bundle, rootfs, layers, workspace, tmp };
}

const bind = (source: string, destination: string, ro: boolean) => ({
  destination,
  type: "bind",
  source,
  options: ["rbind", ro ? "ro" : "rw", "nosuid", "nodev"],
});

/** Run berth in the step: uid 1000, no capabilities, no new privileges, read-only root, host network. */
async function runStep(
  s: Step,
  args: string[],
  env: string[],
  extraMounts: ReturnType<typeof bind>[] = [],
  uid = 1000,
): Promise<{ code: number; out: string }> {
  const config = {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid, gid: uid },
      args: [`${PKG}/node_modules/node/bin/node`, `${PKG}/bin/berth.js`, ...args],
      env: [
        "PATH=/bin",
        "HOME=/tmp/home",
        "BERTH_HOME=/tmp/berth",
        "CNB_USER_ID=1000",
        "CNB_GROUP_ID=1000",
        ...env,
      ],
      cwd: "/workspace",
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }],
    },
    root: { path: "rootfs", readonly: true },
    hostname: "step",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      bind(s.layers, "/layers", false),
      bind(s.workspace, "/workspace", false),
      bind(s.tmp, "/tmp", false),
      // Node 24 and berth from this checkout, with the host's glibc: all read-only.
      ...["bin", "src", "node_modules", "builders", "package.json"].map((p) =>
        bind(join(REPO, p), `${PKG}/${p}`, true),
      ),
      bind(launcherDir, `${PKG}/dist/launcher`, true),
      bind("/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", true),
      bind("/lib64", "/lib64", true),
      ...extraMounts,
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
  await writeFile(join(s.bundle, "config.json"), JSON.stringify(config));
  const id = `berth-step-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const { stdout, stderr } = await pexec("runc", ["run", "--bundle", s.bundle, id], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  } finally {
    await pexec("runc", ["delete", "--force", id]).catch(() => undefined);
  }
}

/** Every path under the root with its size and mtime (mount points' contents are not the root's). */
async function snapshot(root: string, skip: Set<string>, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = `${rel}/${e.name}`;
    if (skip.has(p)) continue;
    out.push(p);
    if (e.isDirectory()) out.push(...(await snapshot(root, skip, p)));
  }
  return out.sort();
}

const MOUNTS = new Set(["/proc", "/dev", "/sys", "/layers", "/workspace", "/tmp", "/lib", "/lib64", PKG]);

async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: {
      Authorization: `Basic ${BASIC}`,
      Accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  return r.headers.get("docker-content-digest");
}

async function checkBuilt(s: Step, out: string, repo: string, reportFile = "report.toml"): Promise<void> {
  const report = await readFile(join(s.layers, reportFile), "utf8");
  const digest = /digest = "(sha256:[0-9a-f]{64})"/.exec(report)?.[1];
  expect(digest, report).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(await registryDigest(repo, "1")).toBe(digest);
  expect(report).toContain(`${reg.host}/${repo}:1`);
  // The secret never shows.
  expect(out).not.toContain(SECRET);
  expect(out).not.toContain(BASIC);
  // The image runs: the launcher (berth's prebuilt one; the step has no gcc) starts the web process.
  const ran = await berth(["run", "--network", "none", `docker://${reg.host}/${repo}:1`], {
    home,
    env: { DOCKER_CONFIG: hostDockerConfig },
  });
  expect(ran.stderr + ran.stdout).toContain("hello-from-the-step");
  expect(ran.stdout).toContain("built-in /workspace by 1000");
  expect(ran.code).toBe(0);
}

// The step mounts the host's x86-64 glibc for Node and uses the amd64 prebuilt launcher.
describe.skipIf(process.arch !== "x64")(
  "berth build --isolation host inside a build step (runc, uid 1000, no capabilities, read-only root)",
  () => {
    it("builds with the builder on its filesystem and publishes with CNB_REGISTRY_AUTH only", async () => {
      const s = await makeStep("auth-env", { builder: true });
      const before = await snapshot(s.rootfs, MOUNTS);
      const r = await runStep(
        s,
        ["build", "/workspace", "-t", `${reg.host}/app-env:1`, "--publish", "--isolation", "host"],
        [`CNB_REGISTRY_AUTH={"${reg.host}":"Basic ${BASIC}"}`],
      );
      expect(r.out).toContain("Successfully built image");
      expect(r.code, r.out).toBe(0);
      expect(await snapshot(s.rootfs, MOUNTS)).toEqual(before);
      await checkBuilt(s, r.out, "app-env");
    }, 300_000);

    it("publishes with a mounted DOCKER_CONFIG, CNB_* directories from the environment", async () => {
      const s = await makeStep("cfg-step", { builder: true });
      const before = await snapshot(s.rootfs, MOUNTS);
      const r = await runStep(
        s,
        ["build", "-t", `${reg.host}/app-cfg:1`, "--publish", "--isolation", "host"],
        ["DOCKER_CONFIG=/tmp/docker-config", "CNB_REPORT_PATH=/layers/out-report.toml"],
        [bind(hostDockerConfig, "/tmp/docker-config", true)],
      );
      expect(r.code, r.out).toBe(0);
      expect(await snapshot(s.rootfs, MOUNTS)).toEqual(before);
      // CNB_REPORT_PATH is where report.toml went.
      expect(existsSync(join(s.layers, "report.toml"))).toBe(false);
      await checkBuilt(s, r.out, "app-cfg", "out-report.toml");
    }, 300_000);

    it("writes an OCI layout to a volume, with the builder's own /cnb/lifecycle/launcher", async () => {
      const s = await makeStep("layout-step", { builder: true, lifecycle: true });
      const before = await snapshot(s.rootfs, MOUNTS);
      const r = await runStep(
        s,
        ["build", "-t", "oci:/layers/out:app", "--isolation", "host"],
        [`CNB_REGISTRY_AUTH={"${reg.host}":"Basic ${BASIC}"}`],
      );
      expect(r.code, r.out).toBe(0);
      expect(await snapshot(s.rootfs, MOUNTS)).toEqual(before);
      const out = join(s.layers, "out");
      const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
      const desc = index.manifests.find(
        (m: { annotations?: Record<string, string> }) =>
          m.annotations?.["org.opencontainers.image.ref.name"] === "app",
      );
      const report = await readFile(join(s.layers, "report.toml"), "utf8");
      expect(report).toContain(`digest = "${desc.digest}"`);
      const blob = (d: string) => readFile(join(out, "blobs", "sha256", d.slice(7)), "utf8");
      const manifest = JSON.parse(await blob(desc.digest));
      const config = JSON.parse(await blob(manifest.config.digest));
      const md = JSON.parse(config.config.Labels["io.buildpacks.build.metadata"]);
      expect(md.launcher.version).toBe("0.99.0-test");
      const ran = await berth(["run", "--network", "none", `oci:${out}:app`], { home });
      expect(ran.stdout).toContain("hello-from-the-step");
      expect(ran.code).toBe(0);
    }, 300_000);

    it("a second pod with empty volumes restores the cache from CNB_CACHE_IMAGE", async () => {
      const env = [
        `CNB_REGISTRY_AUTH={"${reg.host}":"Basic ${BASIC}"}`,
        `CNB_CACHE_IMAGE=${reg.host}/app-cache:cache`,
        `CNB_PREVIOUS_IMAGE=${reg.host}/app-cached:1`,
      ];
      const args = ["build", "-t", `${reg.host}/app-cached:1`, "--publish", "--isolation", "host"];
      const first = await runStep(await makeStep("pod-1", { builder: true }), args, env);
      expect(first.code, first.out).toBe(0);
      expect(first.out).not.toContain("DEPS-FROM-CACHE");
      expect(first.out).toContain("Adding cache layer 'test/hello:deps'");
      const s = await makeStep("pod-2", { builder: true });
      const second = await runStep(s, args, env);
      expect(second.code, second.out).toBe(0);
      expect(second.out).toContain("DEPS-FROM-CACHE first-pod");
      expect(second.out).toContain("Reusing cache layer 'test/hello:deps'");
      await checkBuilt(s, second.out, "app-cached");
    }, 300_000);

    it("refuses in one sentence when there is no builder on the filesystem and none is given", async () => {
      const s = await makeStep("no-builder", { builder: false });
      const r = await runStep(
        s,
        ["build", "/workspace", "-t", `${reg.host}/none:1`, "--publish", "--isolation", "host"],
        [],
      );
      expect(r.code).not.toBe(0);
      expect(r.out).toContain("no builder on this filesystem: /cnb/order.toml or /cnb/buildpacks is missing");
      expect(r.out).toContain("hint:");
    }, 120_000);
  },
);

describe("the sandbox where it cannot run", () => {
  it("names what is missing and points at --isolation host", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "index.txt"), "x\n");
    const r = await berth(["build", dir, "-t", "app:1", "--builder", `oci:${layout}:build`], {
      home,
      env: { PATH: join(dir, "no-runtime-here") },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("the build sandbox cannot run here: no OCI runtime found");
    expect(r.stderr).toContain("--isolation host");
  });
});
