/** Export inputs and a context on a scratch folder, for unit tests of the exporter's parts (src/cnb/phase/export/). */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LayerIndex } from "../../src/cnb/cache/fingerprint.ts";
import type { ExportContext, ExportInputs } from "../../src/cnb/phase/export/context.ts";
import { DEFAULT_CREATED, LayerMaker, LIFECYCLE_EPOCH } from "../../src/cnb/phase/export/layer.ts";
import { assemble } from "../../src/oci/assemble.ts";
import { tempDir } from "./temp.ts";

/** Inputs on a fresh folder (layers, app, launcher, index, work), with the log and warnings kept in `lines`. */
export async function exportInputs(
  extra: Partial<ExportInputs> = {},
): Promise<{ inputs: ExportInputs; dir: string; lines: string[] }> {
  const dir = await tempDir("berth-cnb-export-part-");
  const lines: string[] = [];
  for (const d of ["layers", "app", "work"]) await mkdir(join(dir, d));
  await writeFile(join(dir, "launcher"), "launcher bytes");
  const runImage = assemble(
    { os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [] } },
    [],
  );
  const inputs: ExportInputs = {
    layersDir: join(dir, "layers"),
    appDir: join(dir, "app"),
    group: [],
    runImage: { image: runImage, reference: "run@sha256:abc", name: "run" },
    index: new LayerIndex(join(dir, "index")),
    workDir: join(dir, "work"),
    launcher: { kind: "lifecycle", path: join(dir, "launcher"), version: "0.21.0" },
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    platformApi: "0.13",
    log: (l) => lines.push(l),
    warn: (l) => lines.push(`WARN ${l}`),
    ...extra,
  };
  return { inputs, dir, lines };
}

/** A context as the Exporter makes one (src/cnb/phase/export.ts #context), with no cache. */
export async function exportContext(i: ExportInputs): Promise<ExportContext> {
  const tmp = await mkdtemp(join(i.workDir, "export-"));
  return {
    i,
    maker: new LayerMaker(i, tmp),
    layersPath: "/layers",
    appPath: "/workspace",
    created: i.created ?? DEFAULT_CREATED,
    plan: { uid: i.uid, gid: i.gid, mtime: LIFECYCLE_EPOCH },
    planSalt: `${i.uid}:${i.gid}:${LIFECYCLE_EPOCH}`,
    tmp,
    cacheMeta: undefined,
    layers: [],
    history: [],
    cacheFiles: [],
  };
}
