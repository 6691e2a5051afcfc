/** WORKDIR (its body; the config-only instructions are in config.ts). */
import { mkdir, stat } from "node:fs/promises";
import { posix } from "node:path";
import { BerthError } from "../../errors.ts";
import { expandWord } from "../expand.ts";
import { resolveOwner } from "../rootfs.ts";
import type { StepContext } from "../step.ts";
import { buildCopyLayer } from "./copy.ts";

/**
 * WORKDIR: the config's working directory, and a layer making the directory (owned by the stage's USER, as
 * buildah and BuildKit make it) when the stage lacks it.
 */
export async function workdirInstruction(c: StepContext): Promise<void> {
  const { ins, vars } = c;
  const w = expandWord(ins.args.trim(), vars, c.escape).value;
  if (w === "") throw new BerthError("DOCKERFILE_SYNTAX", "WORKDIR needs a path");
  const dir = posix.resolve(c.config.WorkingDir || "/", w);
  const config = { ...c.config, WorkingDir: dir };
  const user = c.config.User || undefined;
  await c.cached(
    [`WORKDIR ${dir}`, user],
    async () => {
      const root = await c.view();
      // As BuildKit: a layer for every WORKDIR but `/`, an empty one when the directory exists.
      if (dir === "/") return { config };
      const empty = c.temp("empty-");
      await mkdir(empty);
      const layerPath = c.temp("layer-");
      const desc = await buildCopyLayer({
        root,
        sources: [{ path: "", isDir: true, files: [{ hostPath: empty, rel: "", st: await stat(empty) }] }],
        dest: dir,
        workdir: "/",
        // As buildah and BuildKit do, the directories WORKDIR makes belong to the stage's USER.
        owner: user === undefined ? undefined : await resolveOwner(root, user),
        keepOwner: false,
        chmod: undefined,
        mtime: c.mtime,
        compression: c.compression,
        layerPath,
      });
      return { config, layer: { path: layerPath, ...desc } };
    },
    { config, createdBy: `WORKDIR ${dir}` },
  );
}
