/**
 * An image of one executable, as ko and jib make them: on `scratch`, a runtime layer (the shared libraries the
 * executable loads, as the host's loader lists them, each file's contents at the path listed; a CA bundle;
 * /etc/passwd and /etc/group with root and the user; /tmp) and the executable's own layer, run as the user;
 * on any other base (a build image, to run the executable as a build step), the executable's layer alone.
 * Every file's mtime and the image's created time are SOURCE_DATE_EPOCH's (default 0): the same files give the
 * same digest.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BerthError } from "../errors.ts";
import { buildLayer, type LayerSource } from "../layer/index.ts";
import type { CopyResult } from "../oci/copy.ts";
import type { AddedLayer } from "../oci/mutate.ts";
import type { Platform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { addedLayer, editImage, epochToRfc3339 } from "./append.ts";
import { applyChanges, type ConfigChanges } from "./mutate.ts";

const pexec = promisify(execFile);

export interface ExecutableImageOptions {
  /** The host file to put in the image. */
  executable: string;
  /** Its path in the image. */
  dest: string;
  /** The image's platform (the executable's). */
  platform: Platform;
  /** On scratch: the CA bundle to put at /etc/ssl/certs/ca-certificates.crt. */
  caBundle?: string | undefined;
  /** On scratch: the user (uid = gid) the image runs as, named in /etc/passwd. */
  user?: { id: number; name: string } | undefined;
  labels?: Record<string, string> | undefined;
  sourceDateEpoch?: number | undefined;
}

const CA_PATH = "/etc/ssl/certs/ca-certificates.crt";

/**
 * Where berth goes in its image by default: alone in its folder, so an image volume mounted with the subPath
 * `usr/local/bin` shows it as `MOUNT/berth` (deploy/tekton, deploy/shipwright: /berth/berth).
 */
export const SELF_PATH = "/usr/local/bin/berth";

/**
 * The shared libraries `executable` loads, as `ldd` (the host's loader) lists them: the path listed (where the
 * loader looks in the image) and the host file holding it (links resolved). None for a static executable.
 */
export async function sharedLibraries(executable: string): Promise<LayerSource[]> {
  let stdout: string;
  try {
    ({ stdout } = await pexec("ldd", [executable]));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    if (/not a dynamic executable/.test(`${e.stdout ?? ""}${e.stderr ?? ""}`)) return [];
    throw new BerthError("USAGE", `cannot list the shared libraries of ${executable} with ldd`, {
      cause: err,
      hint: "install ldd (Debian's libc-bin) or build the image on a base that has a C runtime (--base)",
    });
  }
  const found: LayerSource[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^\s*(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) found.push({ source: await realpath(m[1]!), dest: m[1]! });
  }
  return found;
}

/** /etc/passwd, /etc/group and /tmp for a scratch image, written under `dir` (modes set: not the umask's). */
async function baseFiles(dir: string, user: { id: number; name: string }): Promise<string> {
  const etc = join(dir, "etc");
  await mkdir(etc, { recursive: true });
  await mkdir(join(dir, "tmp"), { recursive: true });
  const files: [string, string][] = [
    [
      "passwd",
      `root:x:0:0:root:/root:/sbin/nologin\n${user.name}:x:${user.id}:${user.id}:${user.name}:/tmp:/sbin/nologin\n`,
    ],
    ["group", `root:x:0:\n${user.name}:x:${user.id}:\n`],
  ];
  for (const [name, text] of files) {
    await writeFile(join(etc, name), text);
    await chmod(join(etc, name), 0o644);
  }
  await chmod(etc, 0o755);
  await chmod(join(dir, "tmp"), 0o1777);
  return dir;
}

async function layer(
  sources: LayerSource[],
  path: string,
  epoch: number,
  comment: string,
): Promise<AddedLayer> {
  const built = await buildLayer(sources, path, { compression: "gzip", mtime: epoch, uid: 0, gid: 0 });
  return addedLayer(path, built, { created_by: `berth image self (${built.entries} entries)`, comment });
}

/** The image's execution parameters: berth as the entrypoint; on scratch, the user, /tmp and the CA bundle. */
function changesOf(o: ExecutableImageOptions, scratch: boolean): ConfigChanges {
  const changes: ConfigChanges = { entrypoint: [o.dest], cmd: ["--help"], labels: o.labels ?? {} };
  if (scratch) {
    const id = o.user?.id ?? 1000;
    changes.user = `${id}:${id}`;
    changes.workdir = "/tmp";
    changes.env = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"];
    if (o.caBundle !== undefined) changes.env.push(`SSL_CERT_FILE=${CA_PATH}`);
  }
  return changes;
}

/** Write the executable's image to `target`: on `base` (or scratch, with its runtime layer). */
export function executableImage(
  base: ImageArgument,
  target: ImageArgument,
  ctx: TransportContext,
  o: ExecutableImageOptions,
): Promise<CopyResult> {
  const epoch = o.sourceDateEpoch ?? 0;
  const scratch = base.transport === "scratch";
  return editImage(base, target, ctx, o.platform, async (_image, tmp) => {
    const layers: AddedLayer[] = [];
    if (scratch) {
      const runtime = [
        { source: await baseFiles(join(tmp, "base"), o.user ?? { id: 1000, name: "nonroot" }), dest: "/" },
        ...(await sharedLibraries(o.executable)),
      ];
      if (o.caBundle !== undefined) runtime.push({ source: await realpath(o.caBundle), dest: CA_PATH });
      layers.push(
        await layer(runtime, join(tmp, "runtime"), epoch, "runtime: C libraries, CA bundle, users"),
      );
    }
    layers.push(await layer([{ source: o.executable, dest: o.dest }], join(tmp, "exe"), epoch, o.dest));
    return {
      layers,
      created: epochToRfc3339(epoch),
      platform: o.platform,
      config: (c) => applyChanges(c, changesOf(o, scratch)),
    };
  });
}
