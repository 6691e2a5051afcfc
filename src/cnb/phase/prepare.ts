/**
 * Setting up a lifecycle run: the host directories (workspace copy, layers, platform env) owned by the
 * builder's CNB user, the executor (runtime sandbox in the build image, or this machine), the base
 * environment and the target data. Shared by `berth detect` and `berth build`.
 */
import { chown, cp, mkdir, readdir, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { Image } from "../../oci/image.ts";
import type { NetworkMode, RuntimeContext } from "../../runtime/index.ts";
import { Env } from "../buildpack/env.ts";
import { completeTarget, type TargetData, targetOfImage } from "../platform/target.ts";
import { type CnbPaths, type Executor, hostExecutor, sandboxExecutor } from "./executor.ts";

export type Isolation = "sandbox" | "host";

export interface PrepareOptions {
  isolation: Isolation;
  /** The builder image (its config gives Env, CNB user and target). */
  image: Image;
  imageName: string;
  user: { uid: number; gid: number };
  paths: CnbPaths;
  /** Sandbox only: the runtime and a scratch folder for the root's changes. */
  runtime?: RuntimeContext;
  upperDir?: string;
  /** Default "default": a private namespace with outbound access; "host": the host's; "none". */
  network?: NetworkMode;
  /** Host isolation: the environment berth runs with (the base env is filtered from it). */
  hostEnv?: Record<string, string | undefined>;
}

export interface Prepared {
  executor: Executor;
  env: Env;
  target: TargetData;
}

function isRoot(): boolean {
  return userInfo().uid === 0;
}

/** chown -R when root (buildpacks run as the CNB user and write to these). */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  if (!isRoot()) return;
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid).catch(() => undefined);
  }
}

/** Copy the app into the workspace folder, owned by the CNB user (as pack copies it into the container). */
export async function copyApp(
  src: string,
  workspace: string,
  user: { uid: number; gid: number },
  filter?: (path: string) => boolean,
): Promise<void> {
  await mkdir(workspace, { recursive: true });
  await cp(src, workspace, { recursive: true, verbatimSymlinks: true, ...(filter ? { filter } : {}) });
  await chownTree(workspace, user.uid, user.gid);
}

/** The layers and platform folders: layers owned by the CNB user, platform env files written. */
export async function prepareDirs(
  paths: CnbPaths,
  user: { uid: number; gid: number },
  platformEnv: ReadonlyMap<string, string>,
): Promise<void> {
  await mkdir(paths.layers, { recursive: true });
  if (isRoot()) await chown(paths.layers, user.uid, user.gid);
  await mkdir(join(paths.platform, "env"), { recursive: true });
  for (const [k, v] of platformEnv) await writeFile(join(paths.platform, "env", k), v, { mode: 0o644 });
  await mkdir(paths.buildpacks, { recursive: true });
  await mkdir(join(paths.buildConfig, "env"), { recursive: true });
}

export async function prepareExecutor(o: PrepareOptions): Promise<Prepared> {
  let executor: Executor;
  let env: Env;
  if (o.isolation === "sandbox") {
    if (!o.runtime || !o.upperDir)
      throw new Error("prepareExecutor: the sandbox needs a runtime context and an upper dir");
    executor = await sandboxExecutor({
      runtime: o.runtime,
      image: o.image,
      imageName: o.imageName,
      paths: o.paths,
      owner: o.user,
      upperDir: o.upperDir,
      ...(o.network ? { network: o.network } : {}),
    });
    // The lifecycle's own env inside the build image: the image's Env, filtered.
    env = Env.forBuild(o.image.config?.config?.Env ?? []);
  } else {
    // As berth's own user: on a CI runner that already runs in a builder image that is the CNB user; on a
    // workstation, switching to the builder's uid could not reach berth's private scratch folders.
    executor = hostExecutor({ paths: o.paths });
    env = Env.forBuild(o.hostEnv ?? {});
  }
  const target = await completeTarget(targetOfImage(o.image), (p) => executor.readRootFile(p));
  return { executor, env, target };
}
