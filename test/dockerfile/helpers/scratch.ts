/** Builds FROM scratch with `DockerfileBuild` in-process (no base image, no runc) and the image read back. */
import { join } from "node:path";
import { DockerfileBuild } from "../../../src/dockerfile/build.ts";
import type { BuildInputs, BuildResult } from "../../../src/dockerfile/inputs.ts";
import { readTar } from "../../../src/layer/index.ts";
import { type Image, loadRoot, selectImage } from "../../../src/oci/image.ts";
import { openSource } from "../../../src/transport/open.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";

/** Build `text` with `context` to `oci:<dir>/out:<tag>` under BERTH_HOME `<dir>/home`; returns the result and image. */
export async function scratchBuild(
  dir: string,
  context: string,
  text: string,
  o: Partial<BuildInputs> & { tag?: string } = {},
): Promise<{ result: BuildResult; image: Image }> {
  const ctx = { home: join(dir, "home"), env: {} };
  const dest = parseImageArgument(`oci:${join(dir, "out")}:${o.tag ?? "latest"}`);
  const result = await new DockerfileBuild(
    { contextDir: context, dockerfile: { text }, destinations: [dest], compression: "none", ...o },
    ctx,
  ).build();
  const opened = await openSource(dest, ctx);
  try {
    return { result, image: await selectImage(await loadRoot(opened.source, opened.root)) };
  } finally {
    await opened.close();
  }
}

/** A layer's entries as `path type mode uid:gid` lines. */
export async function layerEntries(image: Image, index: number): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(await image.layers()[index]!.uncompressed())) {
    const h = e.header;
    out.push(`${h.path} ${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid}`);
    for await (const _ of e.body) {
      // skip the content
    }
  }
  return out;
}

/** Layer `index`'s entries (of the first layer by default) as `path mtime` lines. */
export async function layerTimes(image: Image, index = 0): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(await image.layers()[index]!.uncompressed())) {
    out.push(`${e.header.path} ${e.header.mtime}`);
    for await (const _ of e.body) {
      // skip the content
    }
  }
  return out;
}

/** The content of `path` in layer `index` of `image`. */
export async function fileIn(image: Image, index: number, path: string): Promise<string | undefined> {
  let found: string | undefined;
  for await (const e of readTar(await image.layers()[index]!.uncompressed())) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c as Buffer);
    if (e.header.path === path) found = Buffer.concat(chunks).toString("utf8");
  }
  return found;
}
