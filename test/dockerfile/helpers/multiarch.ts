/**
 * A two-platform base image: an OCI index of linux/amd64 (the host's busybox-static) and linux/arm64 (Debian's
 * arm64 busybox-static, fetched by scripts/foreign-busybox.sh into the test cache), each the corpus base's
 * files plus a `uname` applet, put together with berth's own appendLayers and assembleIndex.
 */
import { execFile } from "node:child_process";
import { copyFile, symlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { appendLayers, mutateImage } from "../../../src/image/index.ts";
import { assembleIndex } from "../../../src/oci/assemble.ts";
import { loadRoot, selectImage } from "../../../src/oci/image.ts";
import { parsePlatform } from "../../../src/oci/platform.ts";
import { writeImage } from "../../../src/transport/copy.ts";
import { openSource } from "../../../src/transport/open.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { makeBaseRootfs } from "./base.ts";

const SCRIPT = resolve(import.meta.dirname, "../../../scripts/foreign-busybox.sh");

/** Debian's busybox-static for `arch` (fetched once into the test cache). */
export async function foreignBusybox(arch: string): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", [SCRIPT, arch]);
  return stdout.trim();
}

/** `oci:DIR/layout:base`, an index of linux/amd64 and linux/arm64 busybox images; returns the argument text. */
export async function twoPlatformBase(dir: string): Promise<string> {
  const ctx = { home: join(dir, "home"), env: {} };
  const layout = join(dir, "layout");
  const busyboxes = { amd64: "/bin/busybox", arm64: await foreignBusybox("arm64") };
  for (const [arch, busybox] of Object.entries(busyboxes)) {
    const rootfs = join(dir, `rootfs-${arch}`);
    await makeBaseRootfs(rootfs);
    await copyFile(busybox, join(rootfs, "bin", "busybox"));
    await symlink("busybox", join(rootfs, "bin", "uname"));
    const platform = parsePlatform(`linux/${arch}`);
    await appendLayers(
      parseImageArgument("scratch", { allowScratch: true }),
      [{ source: rootfs, dest: "/" }],
      parseImageArgument(`oci:${layout}:raw-${arch}`),
      ctx,
      { sourceDateEpoch: 0, platform },
    );
    await mutateImage(
      parseImageArgument(`oci:${layout}:raw-${arch}`),
      parseImageArgument(`oci:${layout}:${arch}`),
      { env: ["PATH=/bin"], platform },
      ctx,
    );
  }
  const opened = await Promise.all(
    Object.keys(busyboxes).map((arch) => openSource(parseImageArgument(`oci:${layout}:${arch}`), ctx)),
  );
  try {
    const images = await Promise.all(opened.map(async (o) => selectImage(await loadRoot(o.source, o.root))));
    await writeImage(assembleIndex(images), undefined, parseImageArgument(`oci:${layout}:base`), ctx, {
      all: true,
    });
  } finally {
    for (const o of opened) await o.close();
  }
  return `oci:${layout}:base`;
}
