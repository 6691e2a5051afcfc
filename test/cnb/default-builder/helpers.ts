/**
 * Part 3 test helpers: a BERTH_HOME whose stack cache is shared by every run (debootstrap once per machine),
 * example apps copied to a temp folder, and apps started with `berth run -p` and asked over HTTP on 127.0.0.1.
 */
import { execFile, spawn } from "node:child_process";
import { cp, lstat, mkdir, readlink, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";

const pexec = promisify(execFile);
const BIN = resolve(import.meta.dirname, "../../../src/cli/bin.ts");
const EXAMPLES = resolve(import.meta.dirname, "../../../examples");
/** Small apps of each package manager, the default builder's tests' own. */
const APPS = resolve(import.meta.dirname, "apps");
export const BUILDPACKS = resolve(import.meta.dirname, "../../../builders/default/buildpacks");

/** Trees and layers made by debootstrap, kept across test runs (override with BERTH_TEST_STACK_CACHE). */
export const SHARED_STACK_CACHE =
  process.env.BERTH_TEST_STACK_CACHE ?? join(tmpdir(), "berth-test-stack-cache");

/** A BERTH_HOME under `dir` whose cache/stack is the shared one. */
export async function homeWithSharedStack(dir: string): Promise<string> {
  const home = join(dir, "home");
  await mkdir(join(home, "cache"), { recursive: true });
  await mkdir(SHARED_STACK_CACHE, { recursive: true });
  await symlink(SHARED_STACK_CACHE, join(home, "cache", "stack"));
  return home;
}

/** Copy an example app to `dir/<name>`. */
export async function copyExample(name: string, dir: string): Promise<string> {
  const dest = join(dir, name);
  await cp(join(EXAMPLES, name), dest, { recursive: true });
  return dest;
}

export async function has(tool: string): Promise<boolean> {
  try {
    await pexec("sh", ["-c", `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

export async function shell(cmd: string, cwd?: string): Promise<string> {
  const r = await pexec("sh", ["-c", cmd], { ...(cwd ? { cwd } : {}), maxBuffer: 64 * 1024 * 1024 });
  return r.stdout;
}

/** The image config, as `berth inspect --config` prints it. */
export async function imageConfig(
  home: string,
  image: string,
): Promise<{
  config: { Env?: string[]; User?: string; Labels?: Record<string, string>; Entrypoint?: string[] };
  os: string;
  architecture: string;
  rootfs: { diff_ids: string[] };
}> {
  const r = await berth(["inspect", image, "--config"], { home });
  if (r.code !== 0) throw new Error(`inspect ${image}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export interface RunningApp {
  /** The HTTP answer to GET / (the first that came). */
  body: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Kill every container of this BERTH_HOME (apps as PID 1 may ignore SIGTERM). */
export async function killContainers(home: string): Promise<void> {
  const root = join(home, "run", "state");
  const ids = (await shell(`runc --root ${root} list -q 2>/dev/null || true`)).split("\n").filter(Boolean);
  for (const id of ids) await shell(`runc --root ${root} kill ${id} KILL 2>/dev/null || true`);
}

/**
 * `berth run -e PORT=… -e HOST=0.0.0.0 -p 127.0.0.1:PORT:PORT IMAGE`, then GET / until it answers (up to
 * `waitMs`): the container has a private network, so its server is reached through the published port.
 */
export async function startApp(
  home: string,
  image: string,
  port: number,
  extra: string[] = [],
  waitMs = 60_000,
): Promise<RunningApp> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      "run",
      "-e",
      `PORT=${port}`,
      "-e",
      "HOST=0.0.0.0",
      "-p",
      `127.0.0.1:${port}:${port}`,
      ...extra,
      image,
    ],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, BERTH_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<void>((r) => child.on("close", () => r()));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const stop = async () => {
    await killContainers(home);
    if (!done) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + waitMs;
  let lastError = "";
  while (Date.now() < deadline && !done) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      return { body, output: () => out, stop };
    } catch (err) {
      lastError = String((err as Error).cause ?? err);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await stop();
  throw new Error(`${image} did not answer on 127.0.0.1:${port} (${lastError}); its output:\n${out}`);
}

/** The sha of a buildpack layer in an app image's io.buildpacks.lifecycle.metadata. */
export function layerSha(
  labels: Record<string, string> | undefined,
  bp: string,
  layer: string,
): string | undefined {
  const md = JSON.parse(labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}") as {
    buildpacks?: { key: string; layers?: Record<string, { sha?: string }> }[];
  };
  return md.buildpacks?.find((b) => b.key === bp)?.layers?.[layer]?.sha;
}

/**
 * Extract `members` (paths without the leading /, e.g. `workspace`) of an image's filesystem (`berth export`) under
 * `dir` and return the folder: for looking at app images on the tiny run image, which has no shell, cat or ls.
 */
export async function exportedTree(
  home: string,
  image: string,
  dir: string,
  members: string[],
): Promise<string> {
  const root = join(dir, `tree-${image.replace(/[^A-Za-z0-9]/g, "_")}-${Date.now()}`);
  await mkdir(root, { recursive: true });
  const r = await berth(["export", image, "-o", `${root}.tar`], { home });
  if (r.code !== 0) throw new Error(`export ${image}: ${r.stderr}`);
  await shell(`tar -xf ${root}.tar -C ${root} --no-same-owner ${members.join(" ")}`);
  await shell(`rm -f ${root}.tar`);
  return root;
}

/**
 * `path` (absolute, inside the image) of a tree `exportedTree` extracted, with the symlinks of its folders followed
 * inside the tree (as in the container: /workspace/node_modules -> /layers/…); the last component is not followed.
 */
export async function pathInTree(root: string, path: string): Promise<string> {
  const parts = path.split("/").filter(Boolean);
  let at = "/";
  for (let i = 0; i < parts.length; i++) {
    const next = join(at, parts[i]!);
    if (i === parts.length - 1) return join(root, next);
    const st = await lstat(join(root, next));
    if (st.isSymbolicLink()) {
      const target = await readlink(join(root, next));
      at = target.startsWith("/") ? target : join(at, target);
    } else {
      at = next;
    }
  }
  return join(root, at);
}

/** Copy a test app (test/cnb/default-builder/apps/<name>) to `dir/<as>`. */
export async function copyApp(dir: string, name: string, as = name): Promise<string> {
  const dest = join(dir, as);
  await cp(join(APPS, name), dest, { recursive: true });
  return dest;
}

/** `berth build APP -t IMAGE …` with the default builder, expected to succeed. */
async function buildApp(home: string, app: string, image: string, extra: string[] = []) {
  const r = await berth(["build", app, "-t", image, ...extra], { home });
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  return r;
}

/** Start IMAGE on `port`, return its answer to GET /, stop it. */
async function answerOf(home: string, image: string, port: number): Promise<string> {
  const app = await startApp(home, image, port);
  try {
    return app.body;
  } finally {
    await app.stop();
  }
}

/**
 * One test file's temp folder and BERTH_HOME on the shared stack (made before its tests, containers killed and
 * everything removed after), with the default-builder steps bound to them.
 */
export class DefaultBuilderSuite {
  dir = "";
  home = "";
  private port: number;

  constructor(prefix: string, basePort: number) {
    this.port = basePort + Math.floor(Math.random() * 300);
    beforeAll(async () => {
      this.dir = await tempDir(prefix);
      this.home = await homeWithSharedStack(this.dir);
    }, 900_000);
    afterAll(async () => {
      await killContainers(this.home);
    });
  }

  build = (app: string, image: string, extra: string[] = []) => buildApp(this.home, app, image, extra);
  answer = (image: string) => answerOf(this.home, image, ++this.port);
  copy = (name: string, as?: string) => copyApp(this.dir, name, as);
}
