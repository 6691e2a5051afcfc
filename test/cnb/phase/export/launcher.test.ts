/**
 * The launcher layers and the default process rule of the exporter (src/cnb/phase/export/launcher.ts), on a
 * hand-made launcher and layers directory. The whole export is test/cnb/phase/export.test.ts.
 */
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { describe, expect, it } from "vitest";
import type { Process } from "../../../../src/cnb/files/launch.ts";
import type { BuildMetadata } from "../../../../src/cnb/files/metadata.ts";
import { defaultProcessOf, launcherLayers } from "../../../../src/cnb/phase/export/launcher.ts";
import type { AssembledLayer } from "../../../../src/oci/assemble.ts";
import { exportContext, exportInputs } from "../../../helpers/cnb-export.ts";

const proc = (type: string): Process => ({
  type,
  command: ["run"],
  args: [],
  direct: true,
  default: false,
  buildpackId: "acme/a",
});

const md = (types: string[], buildpackDefault?: string): BuildMetadata => ({
  buildpacks: [],
  processes: types.map(proc),
  labels: [],
  slices: [],
  ...(buildpackDefault === undefined ? {} : { buildpackDefaultProcessType: buildpackDefault }),
});

describe("defaultProcessOf", () => {
  it("without --default-process: the buildpacks' default when the build has it, else none", async () => {
    const { inputs, lines } = await exportInputs();
    const x = await exportContext(inputs);
    expect(defaultProcessOf(x, md(["web", "worker"], "worker"))).toBe("worker");
    expect(defaultProcessOf(x, md(["web"], "worker"))).toBeUndefined();
    expect(defaultProcessOf(x, md(["web"]))).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it("--default-process wins when the build has it; one it lacks warns, naming the types, and gives none", async () => {
    const { inputs, lines } = await exportInputs({ defaultProcess: "web" });
    const x = await exportContext(inputs);
    expect(defaultProcessOf(x, md(["web", "worker"], "worker"))).toBe("web");
    expect(lines).toEqual([]);
    inputs.defaultProcess = "cron";
    expect(defaultProcessOf(x, md(["web", "worker"], "worker"))).toBeUndefined();
    expect(lines).toEqual(["WARN default process type 'cron' not present in list [web worker]"]);
  });
});

/** Each entry of a gzip layer blob: `name` → its text, or `-> target` for a link, `[type]` for the rest. */
async function entries(layer: AssembledLayer | undefined): Promise<Record<string, string>> {
  const from = layer?.from;
  if (!from || !("file" in from)) throw new Error("expected a layer written to a file");
  const ex = extract();
  createReadStream(from.file).pipe(createGunzip()).pipe(ex);
  const out: Record<string, string> = {};
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    const h = e.header;
    out[h.name] =
      h.type === "file"
        ? Buffer.concat(chunks).toString("utf8")
        : h.type === "symlink"
          ? `-> ${h.linkname}`
          : `[${h.type}]`;
  }
  return out;
}

describe("launcherLayers", () => {
  it("the launcher, the launch config and a /cnb/process link per type, with their history, diffIDs returned", async () => {
    const { inputs, lines } = await exportInputs();
    await mkdir(join(inputs.layersDir, "config"));
    await writeFile(join(inputs.layersDir, "config", "metadata.toml"), "[[processes]]\n");
    const x = await exportContext(inputs);
    const shas = await launcherLayers(x, [proc("web"), proc("worker")]);
    expect(x.history.map((h) => h.created_by)).toEqual([
      "Buildpacks Application Launcher",
      "Buildpacks Launcher Config",
      "Buildpacks Process Types",
    ]);
    expect(shas).toEqual({
      launcher: { sha: x.layers[0]!.diffId },
      config: { sha: x.layers[1]!.diffId },
      "process-types": { sha: x.layers[2]!.diffId },
    });
    expect(await entries(x.layers[0])).toMatchObject({ "/cnb/lifecycle/launcher": "launcher bytes" });
    expect(await entries(x.layers[1])).toMatchObject({ "/layers/config/metadata.toml": "[[processes]]\n" });
    expect(await entries(x.layers[2])).toMatchObject({
      "/cnb/process/web": "-> /cnb/lifecycle/launcher",
      "/cnb/process/worker": "-> /cnb/lifecycle/launcher",
    });
    expect(lines).toEqual([
      "Adding layer 'buildpacksio/lifecycle:launcher'",
      "Adding layer 'buildpacksio/lifecycle:config'",
      "Adding layer 'buildpacksio/lifecycle:process-types'",
    ]);
  });

  it("no processes: no process-types layer; no config folder: an empty config layer; same launcher, same diffID", async () => {
    const a = await exportContext((await exportInputs()).inputs);
    const b = await exportContext((await exportInputs()).inputs);
    const shas = await launcherLayers(a, []);
    expect(Object.keys(shas)).toEqual(["launcher", "config"]);
    expect(a.layers).toHaveLength(2);
    expect(Object.keys(await entries(a.layers[1])).filter((n) => n.includes("metadata"))).toEqual([]);
    expect((await launcherLayers(b, [])).launcher).toEqual(shas.launcher);
  });
});
