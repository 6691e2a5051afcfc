/**
 * The reference CNB lifecycle (github.com/buildpacks/lifecycle) as a test peer: `scripts/reference-lifecycle.sh`
 * builds it from the Go module proxy into `${BERTH_TEST_CACHE:-/var/cache/berth-test}/lifecycle-<version>/`
 * (its release layout), and `runCreator` runs its `creator` through src/cnb's lifecycle runner (berth's build
 * sandbox, `runLifecyclePhase`), in the build image,
 * as the CNB user, with `/cnb/lifecycle`, `/cnb/buildpacks/<id>/<version>`, `/cnb/order.toml`, `/layers`,
 * `/workspace`, `/platform` and a cache folder mounted, writing the app image to the test registry.
 */
import { execFile } from "node:child_process";
import { chmod, chown, cp, mkdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { creatorArgs, FOLDERS, runLifecyclePhase } from "../../../src/cnb/index.ts";
import { appendLayers } from "../../../src/image/index.ts";
import { loadRoot, selectImage } from "../../../src/oci/image.ts";
import { openSource } from "../../../src/transport/open.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";

const pexec = promisify(execFile);

export const LIFECYCLE_VERSION = "v0.21.0";
/** The Platform API berth implements (src/cnb/api.ts), which the reference is run with. */
const PLATFORM_API = "0.13";

let built: Promise<string> | undefined;

/** The folder holding the reference lifecycle's binaries, built on first use (cached between runs). */
export function referenceLifecycle(): Promise<string> {
  built ??= (async () => {
    const script = resolve(import.meta.dirname, "../../../scripts/reference-lifecycle.sh");
    const { stdout } = await pexec("bash", [script], {
      env: { ...process.env, LIFECYCLE_VERSION },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`building the reference lifecycle failed: ${err.stderr ?? err.message}`);
    });
    return stdout.trim().split("\n").pop()!;
  })();
  return built;
}

/** A folder tree with /bin/bash and the shared libraries it needs, copied from this machine. */
async function bashTree(tree: string): Promise<void> {
  const { stdout } = await pexec("ldd", ["/bin/bash"]);
  const files = ["/bin/bash"];
  for (const line of stdout.split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(/.exec(line);
    if (m) files.push(m[1]!);
  }
  for (const f of files) {
    const to = join(tree, f);
    await mkdir(dirname(to), { recursive: true });
    await cp(await realpath(f), to);
    await chmod(to, 0o755);
  }
}

/** `image` plus bash (the lifecycle launches `direct = false` processes through /bin/bash). */
export async function withBash(work: string, image: string, target: string, home: string): Promise<void> {
  const tree = join(work, "bash-tree");
  await rm(tree, { recursive: true, force: true });
  await bashTree(tree);
  await appendLayers(parseImageArgument(image), [{ source: tree, dest: "/" }], parseImageArgument(target), {
    home,
    env: {},
  });
}

export interface CreatorOptions {
  /** BERTH_HOME for the sandbox's snapshots. */
  home: string;
  /** Folder for this run (cnb tree, layers, platform); emptied first, except `cacheDir`. */
  work: string;
  /** The build image (any transport berth reads). */
  buildImage: string;
  /** The app's files (copied to the workspace). */
  app: string;
  /** Buildpack folders (each with buildpack.toml), placed at /cnb/buildpacks/<id>/<version>. */
  buildpacks: { id: string; version: string; dir: string }[];
  /** order.toml's text. */
  order: string;
  runImage: string;
  /** The app image to write (in the registry). */
  image: string;
  /** Kept between runs for restore; default `<work>/cache`. */
  cacheDir?: string;
  /** /cnb/run.toml's text (the builder's run images, as pack writes them into a builder). */
  runToml?: string;
  /** Files of /platform/env. */
  platformEnv?: Record<string, string>;
  extraArgs?: string[];
  uid?: number;
  gid?: number;
  /** The build image is a builder: use its own /cnb/buildpacks and /cnb/order.toml (only the lifecycle is mounted). */
  builderCnb?: boolean;
  /**
   * With `builderCnb`: mount `order` over the builder's /cnb/order.toml (the creator refuses a builder whose
   * order.toml has order-extensions: "builder has an order for extensions which is not supported").
   */
  replaceOrder?: boolean;
}

export interface CreatorResult {
  exitCode: number;
  output: string;
  /** Host path of the layers folder after the run (group.toml, plan.toml, config/metadata.toml, report.toml). */
  layers: string;
}

/** Run the reference `creator` in berth's sandbox, as the reference's acceptance tests run it in docker. */
export function runCreator(o: CreatorOptions): Promise<CreatorResult> {
  return runPhase(o, [
    "/cnb/lifecycle/creator",
    ...creatorArgs(o.runImage, o.image, ["-log-level", "debug", ...(o.extraArgs ?? [])]),
  ]);
}

/**
 * Run one phase of the reference lifecycle (`/cnb/lifecycle/<phase>` and its arguments) in the build image,
 * set up as for `runCreator`, through src/cnb's lifecycle runner.
 */
export async function runPhase(o: CreatorOptions, args: string[]): Promise<CreatorResult> {
  const lifecycle = await referenceLifecycle();
  const uid = o.uid ?? 1000;
  const gid = o.gid ?? 1000;
  const cnb = join(o.work, "cnb");
  const layers = join(o.work, "layers");
  const workspace = join(o.work, "workspace");
  const platform = join(o.work, "platform");
  const cache = o.cacheDir ?? join(o.work, "cache");
  const upper = join(o.work, "upper");
  for (const d of [cnb, layers, workspace, platform, upper]) await rm(d, { recursive: true, force: true });
  await mkdir(join(cnb, "lifecycle"), { recursive: true });
  for (const bp of o.builderCnb ? [] : o.buildpacks) {
    await cp(bp.dir, join(cnb, "buildpacks", bp.id.replaceAll("/", "_"), bp.version), { recursive: true });
  }
  await writeFile(join(cnb, "order.toml"), o.order);
  if (o.runToml !== undefined) await writeFile(join(cnb, "run.toml"), o.runToml);
  await mkdir(join(platform, "env"), { recursive: true });
  for (const [k, v] of Object.entries(o.platformEnv ?? {})) await writeFile(join(platform, "env", k), v);
  await cp(o.app, workspace, { recursive: true });
  await mkdir(layers, { recursive: true });
  await mkdir(cache, { recursive: true });
  for (const d of [layers, workspace, cache]) await chownTree(d, uid, gid);

  const src = await openSource(parseImageArgument(o.buildImage), { home: o.home, env: {} });
  const image = await selectImage(await loadRoot(src.source, src.root));
  const [command, ...rest] = args;
  // `/cnb/lifecycle/<phase>` by its name; any other command (a shell chaining phases) as it is.
  const phase = command!.replace(/^\/cnb\/lifecycle\//, "");
  try {
    const r = await runLifecyclePhase(
      {
        home: o.home,
        image,
        imageName: o.buildImage,
        upperDir: upper,
        uid,
        gid,
        platformApi: PLATFORM_API,
        mounts: [
          ...(o.builderCnb ? [] : [{ source: cnb, destination: "/cnb", readonly: true }]),
          ...(o.builderCnb && o.replaceOrder
            ? [{ source: join(cnb, "order.toml"), destination: "/cnb/order.toml", readonly: true }]
            : []),
          { source: lifecycle, destination: "/cnb/lifecycle", readonly: true },
          { source: layers, destination: FOLDERS.layers },
          { source: workspace, destination: FOLDERS.app },
          { source: platform, destination: FOLDERS.platform, readonly: true },
          { source: cache, destination: FOLDERS.cache },
        ],
      },
      phase,
      rest,
      // The lifecycle writes the image to the test registry on this machine's loopback.
      "host",
    );
    return { exitCode: r.exitCode, output: r.output, layers };
  } finally {
    await src.close();
    await rm(upper, { recursive: true, force: true });
  }
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await pexec("chown", ["-R", `${uid}:${gid}`, dir]).catch(async () => chown(dir, uid, gid));
}

/** A TOML file of a run's layers folder, as text ("" when missing). */
export async function layersFile(layers: string, rel: string): Promise<string> {
  return readFile(join(layers, rel), "utf8").catch(() => "");
}
