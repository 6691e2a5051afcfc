/** A base image in an OCI layout (no registry needed) and a helper to write a build context. */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { appendLayers, mutateImage } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { makeBaseRootfs } from "./base.ts";

/** `oci:DIR:base` with busybox-static; returns the image argument text. */
export async function localBase(dir: string): Promise<string> {
  const ctx = { home: join(dir, "home"), env: {} };
  await makeBaseRootfs(join(dir, "rootfs"));
  await appendLayers(
    parseImageArgument("scratch", { allowScratch: true }),
    [{ source: join(dir, "rootfs"), dest: "/" }],
    parseImageArgument(`oci:${dir}/layout:raw`),
    ctx,
    { sourceDateEpoch: 0 },
  );
  await mutateImage(
    parseImageArgument(`oci:${dir}/layout:raw`),
    parseImageArgument(`oci:${dir}/layout:base`),
    { env: ["PATH=/bin"] },
    ctx,
  );
  return `oci:${dir}/layout:base`;
}

export async function writeContext(
  dir: string,
  files: Record<string, string | { content: string; mode: number }>,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [path, spec] of Object.entries(files)) {
    const p = join(dir, path);
    await mkdir(dirname(p), { recursive: true });
    const { content, mode } = typeof spec === "string" ? { content: spec, mode: 0o644 } : spec;
    await writeFile(p, content);
    await chmod(p, mode);
  }
  return dir;
}
