/**
 * RUN: the command in the runtime's sandbox on the stage's filesystem, with the stage's env (plus the build
 * args in scope), user and working directory; `--mount=type=cache|secret|bind` and `--network`; the changes
 * it leaves become the step's layer. A failing command is an error carrying its exit code and output.
 */
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, rm, rmdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { BerthError } from "../../errors.ts";
import type { Image } from "../../oci/image.ts";
import type { Compression } from "../../oci/mediatype.ts";
import { captureChanges, type NetworkMode, runInSandbox, type SpecMount } from "../../runtime/index.ts";
import { lstatOrUndefined } from "../rootfs.ts";

export interface RunMountSpec {
  type: "cache" | "secret" | "bind" | "tmpfs";
  target: string;
  id?: string;
  source?: string;
  from?: string;
  readonly: boolean;
  required: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** Parse one `--mount=` value (`type=cache,target=/root/.cache,id=x`). */
export function parseMount(text: string): RunMountSpec {
  const kv = new Map<string, string>();
  for (const part of text.split(",")) {
    const i = part.indexOf("=");
    kv.set(i < 0 ? part : part.slice(0, i), i < 0 ? "true" : part.slice(i + 1));
  }
  const type = (kv.get("type") ?? "bind") as RunMountSpec["type"];
  if (!["cache", "secret", "bind", "tmpfs"].includes(type))
    throw new BerthError(
      "DOCKERFILE_UNSUPPORTED",
      `--mount type=${type} is not supported (cache, secret, bind, tmpfs are)`,
    );
  const id = kv.get("id");
  const target =
    kv.get("target") ??
    kv.get("dst") ??
    kv.get("destination") ??
    (type === "secret" && id ? `/run/secrets/${id}` : undefined);
  if (!target) throw new BerthError("DOCKERFILE_SYNTAX", `--mount=${text} needs target=`);
  const m: RunMountSpec = {
    type,
    target,
    readonly:
      kv.has("ro") || kv.has("readonly")
        ? kv.get("ro") !== "false" && kv.get("readonly") !== "false"
        : type === "bind",
    required: kv.get("required") === "true",
  };
  if (kv.get("rw") === "true") m.readonly = false;
  if (id !== undefined) m.id = id;
  const source = kv.get("source") ?? kv.get("src");
  if (source !== undefined) m.source = source;
  if (kv.has("from")) m.from = kv.get("from")!;
  if (kv.has("mode")) m.mode = Number.parseInt(kv.get("mode")!, 8);
  if (kv.has("uid")) m.uid = Number(kv.get("uid"));
  if (kv.has("gid")) m.gid = Number(kv.get("gid"));
  return m;
}

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
  await dropMountPoints(upper, result.root.lowerDirs, o.mountTargets);
  const desc = await captureChanges(upper, o.layerPath, {
    compression: o.compression,
    ...(o.mtime === undefined ? {} : { mtime: o.mtime }),
    ...(result.root.mode === "full"
      ? { lowerDir: result.root.lowerDirs[result.root.lowerDirs.length - 1]! }
      : {}),
  });
  return desc;
}

/** The host directory of a cache mount, shared by every build with the same id (default: the target). */
export async function cacheMountDir(home: string, m: RunMountSpec): Promise<string> {
  const id = m.id ?? m.target;
  const dir = join(
    home,
    "cache",
    "dockerfile",
    "mounts",
    createHash("sha256").update(id).digest("hex").slice(0, 32),
  );
  await mkdir(dir, { recursive: true });
  const st = await lstat(dir);
  if (st.isDirectory() && m.mode !== undefined) {
    const { chmod } = await import("node:fs/promises");
    await chmod(dir, m.mode);
  }
  if (m.uid !== undefined || m.gid !== undefined) {
    const { chown } = await import("node:fs/promises");
    await chown(dir, m.uid ?? 0, m.gid ?? 0);
  }
  return dir;
}
