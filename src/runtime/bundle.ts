/**
 * `writeBundle`: an OCI runtime bundle from an image, for any runtime-spec runtime (`runc run -b DIR id`).
 * `rootfs/` holds the layers applied in order (confined: a layer cannot write outside it) and
 * `config.json` the image config converted by the image-spec rules with Docker's defaults.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, wrapError } from "../errors.ts";
import { applyLayer } from "../layer/index.ts";
import type { Image } from "../oci/image.ts";
import {
  buildSpec,
  imageAnnotations,
  type NetworkMode,
  processArgs,
  processCwd,
  processEnv,
  type RootlessIds,
  type RuntimeSpec,
  specJson,
} from "./spec.ts";
import { resolveUser } from "./user.ts";

export interface BundleOptions {
  /** How to name the image in messages. */
  imageName?: string;
  args?: string[];
  entrypoint?: string[];
  env?: string[];
  cwd?: string | undefined;
  user?: string | undefined;
  /** Default "host" (no network namespace); "none": a new empty one. */
  network?: NetworkMode;
  hostname?: string | undefined;
  /** Not root: apply rootless and write runc's rootless config. */
  rootless?: RootlessIds | undefined;
  /** false: no seccomp filter in config.json; default: Docker's refusals. */
  seccomp?: boolean;
  signal?: AbortSignal | undefined;
}

export interface BundleResult {
  dir: string;
  spec: RuntimeSpec;
  /** Layers applied. */
  layers: number;
}

/** Write a bundle into `dir`, which must be missing or empty. On failure, what was written is removed. */
export async function writeBundle(image: Image, dir: string, o: BundleOptions = {}): Promise<BundleResult> {
  const name = o.imageName ?? image.digest;
  const config = image.imageConfig();
  const args = processArgs(config, { args: o.args, entrypoint: o.entrypoint }, name);
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) {
    throw new BerthError("USAGE", `the bundle directory ${dir} is not empty`);
  }
  const rootfs = join(dir, "rootfs");
  try {
    await mkdir(rootfs, { mode: 0o755 });
    const layers = image.layers();
    for (let i = 0; i < layers.length; i++) {
      o.signal?.throwIfAborted();
      const stream = await layers[i]!.uncompressed();
      try {
        await applyLayer(stream, rootfs, {
          rootless: o.rootless !== undefined,
          signal: o.signal,
        });
        for await (const _ of stream) {
          // drain: the DiffID is checked at the end of the stream
        }
      } catch (err) {
        throw wrapError(
          `applying layer ${i} (${layers[i]!.diffId ?? layers[i]!.descriptor.digest}) of ${name}`,
          err,
        );
      }
    }
    const user = await resolveUser(rootfs, o.user ?? config.config?.User, name);
    const hostname = o.hostname ?? "berth";
    const spec = buildSpec({
      user,
      args,
      env: processEnv(config, user, o.env ?? [], hostname),
      cwd: processCwd(config, o.cwd),
      network: o.network ?? "host",
      hostname,
      annotations: imageAnnotations(config),
      rootless: o.rootless,
      ...(o.seccomp === false ? { seccomp: false } : {}),
    });
    await writeFile(join(dir, "config.json"), specJson(spec));
    return { dir, spec, layers: layers.length };
  } catch (err) {
    await rm(rootfs, { recursive: true, force: true }).catch(() => undefined);
    await rm(join(dir, "config.json"), { force: true }).catch(() => undefined);
    throw err;
  }
}
