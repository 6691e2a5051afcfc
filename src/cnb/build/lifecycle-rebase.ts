/**
 * `berth rebase --lifecycle builder`: the CNB lifecycle's own `rebaser` in berth's sandbox. pack rebase takes
 * no builder: it runs the lifecycle's rebase as a library, at its newest Platform API. berth runs the rebaser
 * binary of a lifecycle it can name: a builder's (`--builder`), else a lifecycle image (`--lifecycle-image`,
 * by default pack's default lifecycle image `buildpacksio/lifecycle:<version>`, pulled into the store once).
 *
 * The rebaser (lifecycle v0.21, cmd/lifecycle/rebaser.go) reads and writes images in a registry or a Docker
 * daemon only: it has no OCI layout mode. So this works on registry images (`--publish`), with the
 * credentials berth holds for their registries passed as `CNB_REGISTRY_AUTH`; the report the rebaser writes
 * gives the new digest.
 */
import { chown, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import type { NetworkMode } from "../../runtime/index.ts";
import type { TransportContext } from "../../transport/context.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { reportDigest } from "../files/report.ts";
import { type OpenedImage, openImage } from "../image.ts";
import type { PhaseLogger } from "../log.ts";
import { fetchLifecycle } from "../platform/lifecycle.ts";
import { negotiatePlatformApi, runLifecyclePhase } from "../platform/runner.ts";
import { lifecycleAuthEnv, openLifecycleBuilder } from "./lifecycle-run.ts";

export interface LifecycleRebaseOptions {
  /** The app image's registry reference (no transport prefix); the result is written under it. */
  image: string;
  previousImage?: string;
  runImage?: string | undefined;
  force?: boolean;
  /** Run this builder's lifecycle; else `lifecycleImage`'s; else the default lifecycle image's. */
  builder?: string | undefined;
  lifecycleImage?: string | undefined;
  ctx: TransportContext;
  network?: NetworkMode;
  runtime?: string | undefined;
  hostEnv?: Record<string, string | undefined>;
  logger: PhaseLogger;
  signal?: AbortSignal | undefined;
}

export interface LifecycleRebaseResult {
  digest: string;
  platformApi: string;
  lifecycleVersion: string;
  /** report.toml as the rebaser wrote it. */
  report: string;
}

interface Runner {
  opened: OpenedImage;
  version: string;
  platformApi: string;
  user: { uid: number; gid: number };
}

/** The image the rebaser runs in, and the lifecycle it carries. */
async function openRunner(o: LifecycleRebaseOptions, tmp: string): Promise<Runner> {
  if (o.builder) {
    const b = await openLifecycleBuilder(o.builder, o.ctx);
    return { opened: b.opened, version: b.lifecycle.version, platformApi: b.platformApi, user: b.info.user };
  }
  // A store name or a registry reference is read (pulled once) as a lifecycle image, as builder create does.
  const given = o.lifecycleImage;
  const uri = given && parseImageArgument(given, { default: "docker" }).text;
  const l = await fetchLifecycle(uri ? { uri } : undefined, {
    ctx: o.ctx,
    relativeTo: ".",
    tmp,
    logger: o.logger,
  });
  const name = l.source.replace(/^docker:\/\//, "");
  const opened = await openImage(name, o.ctx);
  return {
    opened,
    version: l.descriptor.version,
    platformApi: negotiatePlatformApi(l.descriptor, `lifecycle image ${name}`),
    user: userOf(opened.image),
  };
}

/** The image's numeric `User` (the lifecycle image's), else the CNB default 1000:1000. */
function userOf(image: Image): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(image.config?.config?.User ?? "");
  return m ? { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) } : { uid: 1000, gid: 1000 };
}

export async function rebaseWithLifecycle(o: LifecycleRebaseOptions): Promise<LifecycleRebaseResult> {
  const work = await ownedTempDir(join(o.ctx.home, "tmp"), "lifecycle-rebase-");
  try {
    const r = await openRunner(o, work);
    try {
      o.logger.info(`Using the lifecycle ${r.version}'s rebaser (Platform API ${r.platformApi})`);
      const reportDir = join(work, "report");
      await mkdir(reportDir, { recursive: true });
      await chown(reportDir, r.user.uid, r.user.gid).catch(() => undefined);
      const refs = [
        o.image,
        ...(o.previousImage ? [o.previousImage] : []),
        ...(o.runImage ? [o.runImage] : []),
      ];
      const args = [
        "-report",
        "/berth/report/report.toml",
        ...(o.previousImage ? ["-previous-image", o.previousImage] : []),
        ...(o.runImage ? ["-run-image", o.runImage] : []),
        ...(o.force ? ["-force"] : []),
        o.image,
      ];
      const res = await runLifecyclePhase(
        {
          home: o.ctx.home,
          image: r.opened.image,
          imageName: o.builder ?? o.lifecycleImage ?? "the default lifecycle image",
          runtime: o.runtime || undefined,
          ...(o.hostEnv?.PATH ? { searchPath: o.hostEnv.PATH } : {}),
          upperDir: join(work, "upper"),
          uid: r.user.uid,
          gid: r.user.gid,
          platformApi: r.platformApi,
          mounts: [{ source: reportDir, destination: "/berth/report" }],
          env: [await lifecycleAuthEnv(refs, o.ctx)],
          onOutput: (c) => o.logger.output?.(c, "stderr"),
          signal: o.signal,
        },
        "rebaser",
        args,
        o.network ?? "default",
      );
      if (res.exitCode !== 0) {
        // Its last line says why (shown even when its output is not, with -q).
        const last = res.output.trim().split("\n").pop()?.trim();
        throw new BerthError(
          "CNB_REBASE_FAILED",
          `the lifecycle's rebaser failed on ${o.image} (exit code ${res.exitCode})${last ? `: ${last}` : ""}`,
          { details: { exitCode: res.exitCode } },
        );
      }
      const report = await readFile(join(reportDir, "report.toml"), "utf8");
      const origin = {
        file: "the rebaser's report.toml",
        subject: "report",
        code: "CNB_REBASE_FAILED" as const,
      };
      const digest = reportDigest(report, origin);
      if (!digest)
        throw new BerthError("CNB_REBASE_FAILED", "the lifecycle's rebaser reported no image digest");
      return { digest, platformApi: r.platformApi, lifecycleVersion: r.version, report };
    } finally {
      await r.opened.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
