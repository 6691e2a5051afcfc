/**
 * The rebase phase (src/cnb/phase/rebase.ts) on images assembled from real layer files: the run layers swapped
 * under the app's, metadata and base labels updated, and the lifecycle's checks in its words (label, run image
 * name, rebasable, target, stack id below Platform API 0.12) with `force` turning them into warnings.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type RebaseInputs, Rebaser } from "../../../src/cnb/phase/rebase.ts";
import { writeLayer } from "../../../src/layer/index.ts";
import { type AssembledLayer, assemble } from "../../../src/oci/assemble.ts";
import type { ImageConfig } from "../../../src/oci/config.ts";
import type { Image } from "../../../src/oci/image.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
const layer: Record<string, AssembledLayer> = {};

async function makeLayer(name: string): Promise<AssembledLayer> {
  const file = join(dir, `${name}.tar.gz`);
  const body = Buffer.from(name);
  const d = await writeLayer(file, { compression: "gzip" }, async (w) => {
    await w.add({ path: name, type: "file", mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body);
  });
  return {
    descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size },
    diffId: d.diffId,
    from: { file },
  };
}

const image = (
  cfg: Partial<ImageConfig> & { labels?: Record<string, string>; env?: string[] },
  layers: AssembledLayer[],
) =>
  assemble(
    {
      os: "linux",
      architecture: cfg.architecture ?? "amd64",
      config: { Labels: cfg.labels ?? {}, Env: cfg.env ?? [] },
      rootfs: { type: "layers", diff_ids: [] },
      history: cfg.history ?? layers.map((_, k) => ({ created_by: `layer ${k}` })),
    },
    layers,
  );

let oldRun: Image;
let newRun: Image;
const BASE = { "io.buildpacks.base.distro.name": "debian", "io.buildpacks.base.id": "old" };

function appOn(run: Image, o: { labels?: Record<string, string>; env?: string[]; md?: object } = {}): Image {
  const md = o.md ?? {
    runImage: {
      topLayer: run.config!.rootfs.diff_ids.at(-1),
      reference: "reg.one/run@sha256:old",
      image: "reg.one/run:1",
    },
  };
  return image(
    {
      labels: {
        ...BASE,
        "io.buildpacks.lifecycle.metadata": JSON.stringify(md),
        "app.label": "kept",
        ...o.labels,
      },
      env: o.env ?? ["CNB_PLATFORM_API=0.13"],
      history: [{ created_by: "run base" }, { created_by: "app" }],
    },
    [layer.r1!, layer.app!],
  );
}

function rebase(app: Image, o: Partial<RebaseInputs> = {}) {
  const warnings: string[] = [];
  const run = () =>
    new Rebaser({
      app,
      appName: "my-app",
      runImage: newRun,
      runImageName: "reg.one/run:1",
      runImageReference: "reg.one/run@sha256:new",
      force: false,
      warn: (l) => warnings.push(l),
      ...o,
    }).rebase();
  return { run, warnings };
}

beforeAll(async () => {
  dir = await tempDir("berth-cnb-rebase-");
  for (const n of ["r1", "r2a", "r2b", "app"]) layer[n] = await makeLayer(n);
  oldRun = image({ labels: BASE }, [layer.r1!]);
  newRun = image(
    {
      labels: { "io.buildpacks.base.distro.name": "debian", "io.buildpacks.base.id": "new" },
      history: [{ created_by: "new 1" }, { created_by: "new 2" }],
    },
    [layer.r2a!, layer.r2b!],
  );
});

describe("Rebaser", () => {
  it("the new run layers under the app's; topLayer, reference and base labels follow the new run image", () => {
    const r = rebase(appOn(oldRun)).run();
    const cfg = r.image.config!;
    expect(cfg.rootfs.diff_ids).toEqual([layer.r2a!.diffId, layer.r2b!.diffId, layer.app!.diffId]);
    expect(r.image.manifest.layers.at(-1)?.digest).toBe(layer.app!.descriptor.digest);
    expect([r.appLayers, r.runLayers]).toEqual([1, 2]);
    expect(r.metadata.runImage).toEqual({
      topLayer: layer.r2b!.diffId,
      reference: "reg.one/run@sha256:new",
      image: "reg.one/run:1",
    });
    expect(cfg.config?.Labels).toMatchObject({ "io.buildpacks.base.id": "new", "app.label": "kept" });
    expect(cfg.history?.map((h) => h.created_by)).toEqual(["new 1", "new 2", "app"]);
  });

  it("the run image name compares as the lifecycle compares it: docker:// and a digest ignored, a missing tag is latest", () => {
    expect(() =>
      rebase(appOn(oldRun), { runImageName: `docker://reg.one/run:1@sha256:${"a".repeat(64)}` }).run(),
    ).not.toThrow();
    const untagged = appOn(oldRun, {
      md: { runImage: { topLayer: layer.r1!.diffId, reference: "r", image: "reg.one/run" } },
    });
    expect(() => rebase(untagged, { runImageName: "reg.one/run:latest" }).run()).not.toThrow();
    const other = rebase(appOn(oldRun), { runImageName: "reg.one/other:1" });
    expect(other.run).toThrow(
      expect.objectContaining({
        code: "CNB_REBASE_FAILED",
        message: expect.stringMatching(
          /^rebasing my-app: rebase app image: new base image 'reg\.one\/other:1' not found in existing run image metadata: .*please provide -force to override$/,
        ),
        hint: "rebase anyway with --force",
      }),
    );
  });

  it("force: an unrecorded run image is a warning, and its name replaces the recorded one", () => {
    const { run, warnings } = rebase(appOn(oldRun), { runImageName: "reg.one/other:1", force: true });
    const r = run();
    expect(warnings).toEqual([
      expect.stringMatching(/^Warning: rebase app image: new base image 'reg\.one\/other:1' not found/),
    ]);
    expect(r.metadata.runImage).toEqual({
      topLayer: layer.r2b!.diffId,
      reference: "reg.one/run@sha256:new",
      image: "reg.one/other:1",
    });
    expect(r.metadata.stack).toEqual({ runImage: { image: "reg.one/other:1" } });
  });

  it("not rebasable, or another arch: refused without force, warned with it", () => {
    const notRebasable = appOn(oldRun, { labels: { "io.buildpacks.rebasable": "false" } });
    expect(rebase(notRebasable).run).toThrow(
      "rebasing my-app: app image is not marked as rebasable; please provide -force to override",
    );
    const forced = rebase(notRebasable, { force: true });
    forced.run();
    expect(forced.warnings).toEqual(["Warning: app image is not marked as rebasable"]);
    const armRun = image({ architecture: "arm64", labels: {} }, [layer.r2a!]);
    expect(rebase(appOn(oldRun), { runImage: armRun }).run).toThrow(
      /unable to satisfy target os\/arch constraints; new run image: \{"os":"linux","arch":"arm64"\}/,
    );
  });

  it("below Platform API 0.12 the stack ids must match", () => {
    const old = appOn(oldRun, { env: ["CNB_PLATFORM_API=0.11"], labels: { "io.buildpacks.stack.id": "s1" } });
    expect(rebase(old).run).toThrow("rebasing my-app: stack not defined on new base image");
    const s2 = image({ labels: { "io.buildpacks.stack.id": "s2" } }, [layer.r2a!]);
    expect(rebase(old, { runImage: s2 }).run).toThrow(
      "rebasing my-app: incompatible stack: 's2' is not compatible with 's1'",
    );
  });

  it("an image not built with buildpacks, or whose top layer is gone, is named", () => {
    expect(rebase(image({}, [layer.app!])).run).toThrow(
      "rebasing my-app: it has no io.buildpacks.lifecycle.metadata label with runImage.topLayer: it was not built with buildpacks",
    );
    const gone = appOn(oldRun, {
      md: { runImage: { topLayer: "sha256:feed", reference: "r", image: "reg.one/run:1" } },
    });
    expect(rebase(gone).run).toThrow("rebasing my-app: it has no layer sha256:feed (runImage.topLayer)");
  });
});
