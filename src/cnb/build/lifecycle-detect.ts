/**
 * `berth detect --lifecycle builder`: the builder's lifecycle `detector` in berth's sandbox, on a copy of the
 * app, with the platform env (-e, --env-file) and the builder's order. Its exit code is the platform's
 * (0, 20 no group passed, 21 a buildpack errored, 22–29 the detector's own errors), handed back as it is; on
 * success group.toml and plan.toml are read back (without following links out of the layers folder).
 */
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Platform } from "../../oci/platform.ts";
import type { NetworkMode } from "../../runtime/index.ts";
import type { TransportContext } from "../../transport/context.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { type Group, parseGroup } from "../files/group.ts";
import { type Plan, parsePlan } from "../files/plan.ts";
import type { PhaseLogger } from "../log.ts";
import { BUILDPACK_PHASE_ARGS, FOLDERS, runLifecyclePhase } from "../platform/runner.ts";
import { syncApp, writeRunEnv } from "./context.ts";
import { chownTree, openLifecycleBuilder } from "./lifecycle-run.ts";

export interface LifecycleDetectOptions {
  builder: string;
  platform?: Platform;
  appDir: string;
  ctx: TransportContext;
  /** `-e` and `--env-file`s, as `berth detect` takes them. */
  env?: readonly string[];
  envFiles?: readonly string[];
  network?: NetworkMode;
  runtime?: string | undefined;
  asRoot?: boolean;
  hostEnv?: Record<string, string | undefined>;
  logger: PhaseLogger;
  signal?: AbortSignal | undefined;
}

export interface LifecycleDetectResult {
  /** The detector's exit code. */
  exitCode: number;
  platformApi: string;
  group?: Group;
  plan?: Plan;
}

export async function detectWithLifecycle(o: LifecycleDetectOptions): Promise<LifecycleDetectResult> {
  const b = await openLifecycleBuilder(o.builder, o.ctx, o.platform);
  const work = await ownedTempDir(join(o.ctx.home, "tmp"), "lifecycle-detect-");
  try {
    const owner = b.info.user;
    const workspace = join(work, "workspace");
    const layers = join(work, "layers");
    const platform = join(work, "platform");
    await syncApp({ appDir: resolve(o.appDir), asRoot: o.asRoot ?? false }, workspace, owner);
    await writeRunEnv({ envFiles: o.envFiles ?? [], env: o.env ?? [], hostEnv: o.hostEnv ?? {} }, platform);
    await mkdir(layers, { recursive: true });
    if (o.asRoot) await chownTree(layers, owner.uid, owner.gid);
    o.logger.info(`Using the builder's lifecycle ${b.lifecycle.version} (Platform API ${b.platformApi})`);
    const r = await runLifecyclePhase(
      {
        home: o.ctx.home,
        image: b.opened.image,
        imageName: o.builder,
        runtime: o.runtime || undefined,
        ...(o.hostEnv?.PATH ? { searchPath: o.hostEnv.PATH } : {}),
        upperDir: join(work, "upper"),
        uid: owner.uid,
        gid: owner.gid,
        platformApi: b.platformApi,
        mounts: [
          { source: layers, destination: FOLDERS.layers },
          { source: workspace, destination: FOLDERS.app },
          { source: platform, destination: FOLDERS.platform, readonly: true },
        ],
        onOutput: (c) => o.logger.output?.(c, "stderr"),
        signal: o.signal,
      },
      "detector",
      BUILDPACK_PHASE_ARGS,
      o.network ?? "default",
    );
    if (r.exitCode !== 0) return { exitCode: r.exitCode, platformApi: b.platformApi };
    const tree = new ConfinedTree(layers, {
      owner: "the builder's lifecycle",
      name: "the layers folder",
      seenAs: FOLDERS.layers,
    });
    const read = async (f: string) => (await tree.readText(f)) ?? "";
    return {
      exitCode: 0,
      platformApi: b.platformApi,
      group: parseGroup(await read("group.toml"), `${FOLDERS.layers}/group.toml`),
      plan: parsePlan(await read("plan.toml"), `${FOLDERS.layers}/plan.toml`),
    };
  } finally {
    await b.opened.close();
    await rm(work, { recursive: true, force: true });
  }
}
