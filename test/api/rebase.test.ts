/**
 * The library's rebase (src/api/rebase.ts) against a registry on 127.0.0.1: one app onto a named run image,
 * published or to another name, and many at once with a failure kept to its own entry; the option refusals.
 * The CLI's side: test/cnb/cli/rebase-many.test.ts.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rebase, rebaseMany } from "../../src/api/rebase.ts";
import { makeRebaseFleet, pushApps } from "../cnb/rebase-apps.ts";
import { failureOf } from "../dockerfile/helpers/failure.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

let home: string;
let reg: RegistryHarness;

beforeAll(async () => {
  const dir = await tempDir();
  home = join(dir, "home");
  reg = await startRegistry();
  const fleet = await makeRebaseFleet(dir, reg.host, (args) => berth(args, { home }));
  await pushApps(reg.host, fleet.template, [`${reg.host}/apps/one:1`, `${reg.host}/apps/two:1`]);
  await fleet.newRun();
}, 180_000);
afterAll(() => reg?.stop());

describe("rebase", () => {
  it("moves an app onto its run image's newest version, uploading only a config and a manifest", async () => {
    const r = await rebase(`${reg.host}/apps/one:1`, { home, publish: true });
    expect([r.image, r.runImage.name]).toEqual([`${reg.host}/apps/one:1`, `${reg.host}/base/run:latest`]);
    expect(r.runImage.reference).toMatch(new RegExp(`^${reg.host}/base/run@sha256:[0-9a-f]{64}$`));
    expect(r.layers).toEqual({ run: 2, app: 1 });
    // only the config is uploaded; the new run layer is mounted from base/run, the app's own layers are there
    // already (the sink may mount one of those too, or find it present: which depends on the order its
    // concurrent checks answer in, so only the sum is fixed)
    expect(r.blobs.written).toBe(1);
    expect(r.blobs.mounted).toBeGreaterThanOrEqual(1);
    expect(r.blobs.mounted + r.blobs.present).toBe(3);
    const again = await rebase(`${reg.host}/apps/one:1`, { home, publish: true });
    expect(again.digest).toBe(r.digest);
  });

  it("a run image the app's metadata does not name needs force, as the lifecycle says", async () => {
    const o = { home, publish: true, runImage: `${reg.host}/base/run:2` };
    const f = await failureOf(rebase(`${reg.host}/apps/two:1`, o));
    expect(f.code).toBe("CNB_REBASE_FAILED");
    expect(f.message).toContain(
      `new base image '${reg.host}/base/run:2' not found in existing run image metadata`,
    );
    const forced = await rebase(`${reg.host}/apps/two:1`, { ...o, force: true });
    expect(forced.runImage.name).toBe(`${reg.host}/base/run:2`);
  });

  it("rebaseMany: one entry per image in order, a missing one failing alone", async () => {
    const images = [`${reg.host}/apps/two:1`, `${reg.host}/apps/missing:1`];
    const r = await rebaseMany(images, { home, publish: true });
    expect(r.images.map((e) => [e.image, e.digest !== undefined, e.error?.code])).toEqual([
      [images[0], true, undefined],
      [images[1], false, "IMAGE_NOT_FOUND"],
    ]);
    expect(r.failed).toEqual([images[1]]);
  });

  it("rebaseMany refuses no images, an image named twice and a bad concurrency", async () => {
    expect(await failureOf(rebaseMany([], { home }))).toEqual({
      code: "USAGE",
      message: "rebase needs at least one image",
      hint: "name images as arguments or in a file given with --from-file",
    });
    expect(await failureOf(rebaseMany(["a:1", "a:1"], { home }))).toEqual({
      code: "USAGE",
      message: "a:1 is named twice in the images to rebase",
      hint: "name each image once",
    });
    expect((await failureOf(rebaseMany(["a:1"], { home, concurrency: 0 }))).message).toBe(
      "concurrency 0 must be a whole number of 1 or more",
    );
  });
});
