/**
 * RUN: the command in the runtime's sandbox on the stage's filesystem, with the stage's env (plus the build
 * args in scope), user and working directory, the mounts `mounts.ts` prepares and `--network`; the changes
 * it leaves become the step's layer. /etc/hosts, /etc/resolv.conf and /etc/hostname are always there and never
 * in the layer. A failing command is an error carrying its exit code and output.
 */
import { mkdir, readdir, rm, rmdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { BerthError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import type { Compression } from "../../oci/mediatype.ts";
import { captureChanges, type NetworkMode, runInSandbox, type SpecMount } from "../../runtime/index.ts";
import { lstatOrUndefined } from "../rootfs.ts";

export interface RunStepOptions {
  home: string;
  image: Image;
  args: string[];
  env: string[];
  user: string | undefined;
  cwd: string;
  network: NetworkMode;
  mounts: SpecMount[];
  /** Image paths of mount targets, removed from the changes when the command's root lacked them. */
  mountTargets: string[];
  upperDir: string;
  layerPath: string;
  mtime: number | undefined;
  compression: Compression;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  signal?: AbortSignal;
  /** For messages: `Dockerfile:12`. */
  where: string;
}

/** The files every RUN gets (bound over, or on mount points made for them and removed afterwards). */
const ETC_FILES = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];

/** Remove mount points the runtime made in the upper dir, when no lower layer has them. */
async function dropMountPoints(upper: string, lowers: string[], targets: string[]): Promise<void> {
  for (const t of targets) {
    for (let p = posix.normalize(t).replace(/^\/+/, ""); p !== "." && p !== ""; p = posix.dirname(p)) {
      let inLower = false;
      for (const l of lowers) if (await lstatOrUndefined(join(l, p))) inLower = true;
      if (inLower) break;
      const host = join(upper, p);
      const st = await lstatOrUndefined(host);
      if (!st) continue;
      if (st.isDirectory()) {
        if ((await readdir(host)).length > 0) break;
        await rmdir(host);
      } else if (st.isFile() && st.size === 0) await rm(host);
      else break;
    }
  }
}

export async function runStep(o: RunStepOptions) {
  await mkdir(o.upperDir, { recursive: true });
  const result = await runInSandbox({
    home: o.home,
    image: o.image,
    upperDir: o.upperDir,
    args: o.args,
    env: o.env,
    ...(o.user ? { user: o.user } : {}),
    cwd: o.cwd,
    network: o.network,
    mounts: o.mounts,
    etcAlways: true,
    ...(o.onStdout ? { onStdout: o.onStdout } : {}),
    ...(o.onStderr ? { onStderr: o.onStderr } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  if (result.exitCode !== 0) {
    const output = `${result.stdoutTail}${result.stderrTail}`.trim();
    throw new BerthError(
      "DOCKERFILE_RUN_FAILED",
      `${o.where}: RUN ${JSON.stringify(result.command)} exited with code ${result.exitCode}${result.signal ? ` (${result.signal})` : ""}${output ? `; its output ended with:\n${output}` : ""}`,
      {
        details: {
          exitCode: result.exitCode,
          signal: result.signal,
          stdout: result.stdoutTail,
          stderr: result.stderrTail,
          command: result.command,
        },
      },
    );
  }
  const upper = result.root.upperDir;
  await dropMountPoints(upper, result.root.lowerDirs, [...o.mountTargets, ...ETC_FILES]);
  const desc = await captureChanges(upper, o.layerPath, {
    compression: o.compression,
    ...(o.mtime === undefined ? {} : { mtime: o.mtime }),
    ...(result.root.mode === "full"
      ? { lowerDir: result.root.lowerDirs[result.root.lowerDirs.length - 1]! }
      : {}),
  });
  return desc;
}
