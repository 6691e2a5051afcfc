/**
 * The engines' step contract (issue 15 §2), without a cluster. A `Pod` is volumes and steps, as an engine's
 * definition gives them (deploy.ts reads them from deploy/); `runPod` runs each step as its own runc container
 * made from the builder's build image: the step's uid, gid and fsGroup, every capability dropped but the ones
 * the step adds, no new privileges, docker's default seccomp refusals, a read-only root where the step asks for
 * one, the host's network (the registry is on 127.0.0.1), fresh host folders for each `emptyDir`, the app
 * checked out into its workspace, the docker config as a read-only secret, berth's single executable where
 * the berth volume is mounted, and a fresh `BERTH_HOME` for each step (state flows only through the volumes
 * and the registry). After each step the root is compared with
 * what it was: a write outside the volumes fails the pod.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import { compileLauncher } from "../../../src/cnb/launch/index.ts";
import { SELF_PATH } from "../../../src/image/index.ts";
import { buildSpec } from "../../../src/runtime/index.ts";
import { berth, spawnBerth } from "../../helpers/cli.ts";
import { berthExecutableFolder } from "../../helpers/executable.ts";
import { tempDir } from "../../helpers/temp.ts";
import { htpasswdLine } from "../../registry/helpers/certs.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

const pexec = promisify(execFile);
const USER = "step-user";
const SECRET = "step-secret-Zq81";
export const BASIC = Buffer.from(`${USER}:${SECRET}`).toString("base64");

/** Where a volume's host folder comes from. */
export type Volume =
  | { kind: "emptyDir" }
  /** The source checkout: the app's files, owned by root (as a clone step running as root leaves them) or `uid`. */
  | { kind: "app"; uid?: number | undefined }
  /** A secret holding docker's config.json with the registry's credentials (mounted read-only). */
  | { kind: "dockerConfig" }
  /**
   * berth, read-only: a runner's folder holding it as `berth` (CI), or with `image` an image volume of
   * `berth image self`'s image (Kubernetes), mounted with the subPath of berth's folder. See `berthPackage`.
   */
  | { kind: "berth"; image?: boolean | undefined };

export interface Mount {
  volume: string;
  path: string;
  readOnly?: boolean | undefined;
  /** The volume's folder to mount instead of its root (Kubernetes' subPath). */
  subPath?: string | undefined;
}

export interface Step {
  name: string;
  /** Default: the image's user. */
  uid?: number | undefined;
  gid?: number | undefined;
  /** Capabilities the step adds (`CHOWN` or `CAP_CHOWN`); every other one is dropped. */
  capAdd: string[];
  readOnlyRoot: boolean;
  env: Record<string, string>;
  args: string[];
  workingDir?: string | undefined;
  mounts: Mount[];
}

export interface Pod {
  volumes: Record<string, Volume>;
  /** The pod's securityContext. */
  fsGroup?: number | undefined;
  runAsNonRoot?: boolean | undefined;
  steps: Step[];
}

export interface StepResult {
  name: string;
  code: number;
  out: string;
}

export interface PodResult {
  steps: StepResult[];
  /** Every step's output. */
  out: string;
  /** The host folder of each volume. */
  volumes: Record<string, string>;
}

export interface Harness {
  work: string;
  /** berth's own BERTH_HOME on the host (to push, pull and run the images built). */
  home: string;
  reg: RegistryHarness;
  /** A docker config folder with the registry's credentials. */
  dockerConfig: string;
  /** The OCI layout holding the build image (`:build`). */
  layout: string;
  /** A launcher for a builder's own /cnb/lifecycle (the step has no gcc). */
  launcherDir: string;
  stop(): Promise<void>;
}

/** A docker-registry with htpasswd auth, a docker config for it, the build image (also the run image, pushed). */
export async function startHarness(prefix: string): Promise<Harness> {
  const work = await tempDir(prefix);
  const home = join(work, "home");
  await mkdir(home, { recursive: true });
  const reg = await startRegistry({ htpasswd: [await htpasswdLine(USER, SECRET)] });
  const dockerConfig = join(work, "docker-config");
  await mkdir(dockerConfig, { recursive: true });
  await writeFile(
    join(dockerConfig, "config.json"),
    JSON.stringify({ auths: { [reg.host]: { auth: BASIC } } }),
  );
  const launcherDir = await makeLauncher(work);
  const layout = join(work, "images");
  await makeBuildImage(work, `oci:${layout}:build`, home, ["chown", "httpd"]);
  const pushed = await berth(["copy", `oci:${layout}:build`, `docker://${reg.host}/run:1`], {
    home,
    env: { DOCKER_CONFIG: dockerConfig },
  });
  if (pushed.code !== 0) throw new Error(`pushing the run image: ${pushed.stderr}`);
  return {
    work,
    home,
    reg,
    dockerConfig,
    layout,
    launcherDir,
    stop: async () => {
      await reg.stop();
    },
  };
}

/** berth's launcher, compiled into the test's folder, for a builder's own /cnb/lifecycle (`builderRoot`). */
async function makeLauncher(work: string): Promise<string> {
  const dir = join(work, "launcher");
  await mkdir(dir, { recursive: true });
  await compileLauncher("gcc", join(dir, "amd64"));
  return dir;
}

/**
 * How berth gets into a step, in one place: a read-only folder at `path` holding only berth's single executable
 * as `berth` (what the deploy/ files name: an image volume's `usr/local/bin`, a runner's /opt/berth), and the
 * host's glibc, read-only, which the busybox build image lacks (a real build image has its own).
 */
async function berthPackage(path: string): Promise<HostMount[]> {
  return [
    { source: await berthExecutableFolder(), destination: path, readonly: true },
    { source: "/lib/x86_64-linux-gnu", destination: "/lib/x86_64-linux-gnu", readonly: true },
    { source: "/lib64", destination: "/lib64", readonly: true },
  ];
}

export interface HostMount {
  source: string;
  destination: string;
  readonly: boolean;
}

/**
 * The hello buildpack: a cache=true layer (says when it came from the cache) and a web process that prints
 * where it was built and, with PORT set, serves that as /built over HTTP (busybox httpd).
 */
const HELLO_BUILD = [
  'if [ -f "$CNB_LAYERS_DIR/deps/marker" ]; then echo "DEPS-FROM-CACHE $(cat "$CNB_LAYERS_DIR/deps/marker")"; else mkdir -p "$CNB_LAYERS_DIR/deps"; echo first-pod > "$CNB_LAYERS_DIR/deps/marker"; fi',
  'printf "[types]\\ncache = true\\n" > "$CNB_LAYERS_DIR/deps.toml"',
  'mkdir -p "$CNB_LAYERS_DIR/web"',
  'echo "built-in $PWD by $(id -u)" > "$CNB_LAYERS_DIR/web/built"',
  'printf "[types]\\nlaunch = true\\n" > "$CNB_LAYERS_DIR/web.toml"',
  'printf "[[processes]]\\ntype = \\"web\\"\\ncommand = [\\"/bin/sh\\", \\"-c\\", \\"cat $CNB_LAYERS_DIR/web/built; echo hello-from-the-step; [ -z \\$PORT ] || exec httpd -f -p 127.0.0.1:\\$PORT -h $CNB_LAYERS_DIR/web\\"]\\ndefault = true\\n" > "$CNB_LAYERS_DIR/launch.toml"',
].join("\n");

/**
 * A step's image: the build image unpacked (its bundle's config.json gives the image's user and env), with the
 * builder's /cnb written into it (`builder`: the hello buildpack, the run image in the registry; `lifecycle`:
 * a /cnb/lifecycle holding the launcher, berth's binary under a lifecycle's name and version).
 */
export async function builderRoot(
  h: Harness,
  name: string,
  o: { builder: boolean; lifecycle?: boolean | undefined },
): Promise<string> {
  const bundle = await unpackRoot(h, name, `${h.layout}:build`);
  if (!o.builder) return bundle;
  const cnb = join(bundle, "rootfs", "cnb");
  const bpDir = await writeBuildpack(join(h.work, `${name}-bps`), {
    id: "test/hello",
    version: "1.0.0",
    build: HELLO_BUILD,
  });
  await mkdir(join(cnb, "buildpacks", "test_hello"), { recursive: true });
  await pexec("cp", ["-a", bpDir, join(cnb, "buildpacks", "test_hello", "1.0.0")]);
  await writeFile(
    join(cnb, "order.toml"),
    '[[order]]\n[[order.group]]\nid = "test/hello"\nversion = "1.0.0"\n',
  );
  await writeFile(join(cnb, "run.toml"), `[[images]]\nimage = "${h.reg.host}/run:1"\n`);
  if (o.lifecycle) {
    await mkdir(join(cnb, "lifecycle"), { recursive: true });
    await pexec("cp", [join(h.launcherDir, "amd64"), join(cnb, "lifecycle", "launcher")]);
    await writeFile(join(cnb, "lifecycle", "lifecycle.toml"), '[lifecycle]\nversion = "0.99.0-test"\n');
  }
  return bundle;
}

/** An image (`LAYOUT:TAG`) unpacked as a bundle for `runPod` (its config.json: the image's user and env). */
export async function unpackRoot(h: Harness, name: string, image: string): Promise<string> {
  const bundle = join(h.work, name);
  await pexec("umoci", ["unpack", "--image", image, bundle]);
  return bundle;
}

/** The host folder of each volume, fresh (a pod's volumes are its own). */
async function makeVolumes(h: Harness, pod: Pod, dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(pod.volumes)) {
    if (v.kind === "berth") continue;
    if (v.kind === "dockerConfig") {
      out[name] = h.dockerConfig;
      continue;
    }
    const d = join(dir, `vol-${name}`);
    await mkdir(d, { recursive: true });
    if (v.kind === "app") {
      await writeFile(join(d, "index.txt"), "the app\n");
      if (v.uid !== undefined) await pexec("chown", ["-R", `${v.uid}:${v.uid}`, d]);
    }
    // Kubernetes makes an emptyDir 0777; with fsGroup its group is the fsGroup, setgid.
    else if (pod.fsGroup !== undefined) {
      await pexec("chown", [`0:${pod.fsGroup}`, d]);
      await pexec("chmod", ["2777", d]);
    } else await pexec("chmod", ["777", d]);
    out[name] = d;
  }
  return out;
}

/** The bind mounts of a step: its volumes, and a fresh BERTH_HOME of its own where its env names one. */
async function stepMounts(pod: Pod, s: Step, vols: Record<string, string>, dir: string) {
  const mounts: HostMount[] = [];
  for (const m of s.mounts) {
    const v = pod.volumes[m.volume];
    if (!v) throw new Error(`step ${s.name} mounts ${m.volume}, which the pod does not have`);
    if (v.kind === "berth") {
      const folder = v.image ? dirname(SELF_PATH).slice(1) : undefined;
      if (m.subPath !== folder)
        throw new Error(
          `step ${s.name} mounts ${m.volume} with subPath ${m.subPath ?? "(none)"}, not ${folder ?? "(none)"}: no berth there`,
        );
      mounts.push(...(await berthPackage(m.path)));
    } else if (m.subPath !== undefined)
      throw new Error(`step ${s.name}: the harness mounts no subPath of ${m.volume}`);
    else
      mounts.push({
        source: vols[m.volume]!,
        destination: m.path,
        readonly: m.readOnly === true || v.kind === "dockerConfig",
      });
  }
  if (s.env.BERTH_HOME) {
    const fresh = join(dir, `berth-home-${s.name}`);
    await mkdir(fresh, { recursive: true, mode: 0o700 });
    await pexec("chown", [`${s.uid ?? 0}:${s.gid ?? 0}`, fresh]);
    mounts.push({ source: fresh, destination: s.env.BERTH_HOME, readonly: false });
  }
  return mounts;
}

/** Run one step as its own runc container in `bundle`; its output and exit code. */
async function runStep(bundle: string, s: Step, mounts: HostMount[], fsGroup: number | undefined) {
  const image = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as {
    process: { user: { uid: number; gid: number }; env?: string[] };
  };
  const env = { ...Object.fromEntries((image.process.env ?? []).map((e) => e.split(/=(.*)/s, 2))), ...s.env };
  const spec = buildSpec({
    user: {
      uid: s.uid ?? image.process.user.uid,
      gid: s.gid ?? image.process.user.gid,
      additionalGids: fsGroup === undefined ? [] : [fsGroup],
    },
    args: s.args,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd: s.workingDir ?? "/",
    network: "host",
    capDrop: ["ALL"],
    capAdd: s.capAdd.map((c) => (c.startsWith("CAP_") ? c : `CAP_${c}`)),
    hostname: s.name,
    volumes: mounts,
  });
  spec.root.readonly = s.readOnlyRoot;
  spec.process.noNewPrivileges = true;
  const runBundle = join(dirname(bundle), `${bundle.split("/").pop()}-${s.name}`);
  await mkdir(runBundle, { recursive: true });
  spec.root.path = join(bundle, "rootfs");
  await writeFile(join(runBundle, "config.json"), JSON.stringify(spec));
  const id = `berth-step-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const { stdout, stderr } = await pexec("runc", ["run", "--bundle", runBundle, id], {
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

/**
 * Run a pod's steps in order in `bundle` (from `builderRoot`), stopping at the first that fails. Fails the test
 * when a step wrote to the root (anything outside its volumes) or when the pod runs root under runAsNonRoot.
 */
export async function runPod(h: Harness, pod: Pod, bundle: string): Promise<PodResult> {
  const dir = `${bundle}-pod`;
  await mkdir(dir, { recursive: true });
  const volumes = await makeVolumes(h, pod, dir);
  const rootfs = join(bundle, "rootfs");
  const steps: StepResult[] = [];
  const skip = new Set(pod.steps.flatMap((s) => [...s.mounts.map((m) => m.path), s.env.BERTH_HOME ?? ""]));
  for (const p of ["/proc", "/dev", "/sys", "/lib", "/lib64"]) skip.add(p);
  const top = new Set([...skip].map((p) => `/${p.split("/")[1]}`));
  const before = await snapshot(rootfs, top);
  for (const s of pod.steps) {
    if (pod.runAsNonRoot && s.uid === 0) throw new Error(`step ${s.name} runs as root under runAsNonRoot`);
    const r = await runStep(bundle, s, await stepMounts(pod, s, volumes, dir), pod.fsGroup);
    steps.push({ name: s.name, ...r });
    expect(await snapshot(rootfs, top), `step ${s.name} wrote outside its volumes`).toEqual(before);
    if (r.code !== 0) break;
  }
  return { steps, out: steps.map((s) => `[${s.name}] ${s.out}`).join("\n"), volumes };
}

/** Every path under the root with its size and mtime (mount points' contents are not the root's). */
async function snapshot(root: string, skip: Set<string>, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = `${rel}/${e.name}`;
    if (skip.has(p)) continue;
    if (e.isDirectory()) out.push(p, ...(await snapshot(root, skip, p)));
    else {
      const st = await stat(join(root, p)).catch(() => undefined);
      out.push(`${p} ${st?.size ?? "-"} ${st?.mtimeMs ?? "-"}`);
    }
  }
  return out.sort();
}

export async function registryDigest(h: Harness, repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`${h.reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: {
      Authorization: `Basic ${BASIC}`,
      Accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  return r.headers.get("docker-content-digest");
}

/**
 * The contract's checks on a pushed image: `report` (report.toml's text) names it and its digest is the
 * registry's, the secret is in no output, and the image runs: its web process prints where it was built.
 */
export async function checkBuilt(
  h: Harness,
  o: { report: string; out: string; repo: string; tag: string; appDir: string },
): Promise<string> {
  const digest = /digest = "(sha256:[0-9a-f]{64})"/.exec(o.report)?.[1];
  expect(digest, o.report).toBeDefined();
  expect(await registryDigest(h, o.repo, o.tag)).toBe(digest);
  expect(o.report).toContain(`${h.reg.host}/${o.repo}:${o.tag}`);
  expect(o.out).not.toContain(SECRET);
  expect(o.out).not.toContain(BASIC);
  const body = await serveAndGet(h, `docker://${h.reg.host}/${o.repo}:${o.tag}`, "/built");
  expect(body.out).toContain("hello-from-the-step");
  expect(body.http, body.out).toMatch(new RegExp(`^built-in ${o.appDir}/? by 1000\n$`));
  return digest!;
}

/**
 * Run `image` on the host's network with PORT set (its web process serves HTTP on 127.0.0.1:PORT), GET `path`,
 * then stop it: the answer's body ("" when none came before the process ended) and the process's output.
 */
async function serveAndGet(h: Harness, image: string, path: string): Promise<{ http: string; out: string }> {
  const port = await freePort();
  const { child, done } = spawnBerth(["run", "--init", "--network", "host", "-e", `PORT=${port}`, image], {
    home: h.home,
    env: { DOCKER_CONFIG: h.dockerConfig },
  });
  let http = "";
  for (let i = 0; i < 100 && !http && child.exitCode === null; i++) {
    http = await fetch(`http://127.0.0.1:${port}${path}`).then(
      (r) => (r.ok ? r.text() : ""),
      () => "",
    );
    if (!http) await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGTERM");
  const ran = await done;
  return { http, out: ran.stdout + ran.stderr };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * One step running `berth ARGS`: uid 1000, no capabilities, no new privileges, read-only root, fresh /layers,
 * /workspace (the app, the CNB user's) and /tmp, berth at /berth.
 */
export function berthPod(args: string[], env: Record<string, string>, extra: Mount[] = []): Pod {
  return {
    volumes: {
      layers: { kind: "emptyDir" },
      workspace: { kind: "app", uid: 1000 },
      tmp: { kind: "emptyDir" },
      berth: { kind: "berth" },
      docker: { kind: "dockerConfig" },
    },
    steps: [
      {
        name: "build",
        uid: 1000,
        gid: 1000,
        capAdd: [],
        readOnlyRoot: true,
        env: {
          PATH: "/bin",
          HOME: "/tmp/home",
          BERTH_HOME: "/tmp/berth",
          CNB_USER_ID: "1000",
          CNB_GROUP_ID: "1000",
          ...env,
        },
        args: ["/berth/berth", ...args],
        workingDir: "/workspace",
        mounts: [
          { volume: "layers", path: "/layers" },
          { volume: "workspace", path: "/workspace" },
          { volume: "tmp", path: "/tmp" },
          { volume: "berth", path: "/berth", readOnly: true },
          ...extra,
        ],
      },
    ],
  };
}
