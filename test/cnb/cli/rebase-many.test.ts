/**
 * `berth rebase` of many images in one process, through the real CLI against a local registry
 * (docker-registry on 127.0.0.1): several images and --from-file, a missing one fails alone (named in the
 * last line, exit non-zero) while the others are rebased, the run image is read once for all, only configs
 * and manifests are uploaded (the run image's layers mounted), and --json gives one entry per image.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeRebaseFleet, pushApps } from "../rebase-apps.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
let newTop: string;

const cli = (args: string[]) => berth(args, { home });
const apps = ["a1", "a2", "a3", "a4", "a5"].map((a) => `apps/${a}:1`);

async function inspect(ref: string): Promise<{ digest: string; layers: { diffId: string }[]; top: string }> {
  const r = await cli(["inspect", "--json", `docker://${ref}`]);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as {
    digest: string;
    layers: { diffId: string }[];
    labels: Record<string, string>;
  };
  const md = JSON.parse(j.labels["io.buildpacks.lifecycle.metadata"]!) as { runImage: { topLayer: string } };
  return { digest: j.digest, layers: j.layers, top: md.runImage.topLayer };
}

beforeAll(async () => {
  dir = await tempDir("berth-rebase-many-");
  home = join(dir, "home");
  reg = await startRegistry();
  const fleet = await makeRebaseFleet(dir, reg.host, cli);
  await pushApps(
    reg.host,
    fleet.template,
    apps.map((a) => `${reg.host}/${a}`),
  );
  await fleet.newRun();
  const run = JSON.parse(
    (await cli(["inspect", "--json", `docker://${reg.host}/base/run:latest`])).stdout,
  ) as {
    layers: { diffId: string }[];
  };
  newTop = run.layers[run.layers.length - 1]!.diffId;
}, 180_000);
afterAll(async () => {
  await reg?.stop();
});

describe("berth rebase IMAGE… --publish", () => {
  it("rebases five images in one call; a missing sixth fails alone, named in the last line", async () => {
    const before = await Promise.all(apps.map((a) => inspect(`${reg.host}/${a}`)));
    expect(new Set(before.map((b) => b.digest)).size).toBe(5);
    expect(before.every((b) => b.top !== newTop)).toBe(true);
    const missing = `${reg.host}/apps/missing:1`;
    await reg.markLog();
    const r = await cli([
      "rebase",
      "--publish",
      "--run-image",
      `${reg.host}/base/run:latest`,
      "--jobs",
      "3",
      ...apps.map((a) => `${reg.host}/${a}`),
      missing,
    ]);
    expect(r.code, r.stderr).toBe(3);
    const lines = r.stderr.trim().split("\n");
    expect(lines[lines.length - 1]).toBe(`berth: 1 of 6 images were not rebased: ${missing}`);
    for (const [k, a] of apps.entries()) {
      expect(r.stderr).toContain(`Rebased ${reg.host}/${a}: ${before[k]!.digest} -> `);
    }
    expect(r.stderr).toContain(`Failed ${missing}: no image docker://${missing}`);
    const rs = await reg.requests();
    const after = await Promise.all(apps.map((a) => inspect(`${reg.host}/${a}`)));
    for (const [k, a] of after.entries()) {
      expect(a.digest).not.toBe(before[k]!.digest);
      expect(a.top).toBe(newTop);
      expect(a.layers.length).toBe(before[k]!.layers.length + 1);
    }
    // The run image is read once for all six.
    expect(rs.filter((q) => q.method === "GET" && q.uri === "/v2/base/run/manifests/latest").length).toBe(1);
    // No layer moves: uploads are configs (one monolithic PUT each) and mounts; no layer is downloaded.
    expect(rs.filter((q) => q.method === "PATCH")).toEqual([]);
    const puts = rs.filter((q) => q.method === "PUT" && q.uri.includes("/blobs/uploads/"));
    expect(puts.length).toBe(5);
    const blobGets = rs.filter((q) => q.method === "GET" && /\/blobs\/sha256:/.test(q.uri));
    // only the apps' and the run image's configs are read (one each)
    expect(blobGets.length).toBeLessThanOrEqual(6);
    const manifestPuts = rs.filter((q) => q.method === "PUT" && q.uri.includes("/manifests/"));
    expect(new Set(manifestPuts.map((q) => /^\/v2\/(.+)\/manifests\//.exec(q.uri)?.[1]))).toEqual(
      new Set(apps.map((a) => a.split(":")[0])),
    );
  }, 180_000);

  it("--from-file and --json: one entry per image with the previous and new digest or the error", async () => {
    const before = await Promise.all(apps.map((a) => inspect(`${reg.host}/${a}`)));
    const list = join(dir, "apps.txt");
    await writeFile(
      list,
      `# the fleet\n${reg.host}/${apps[2]}\n\n  ${reg.host}/${apps[3]}   # indented, with a comment\n${reg.host}/apps/gone:1\n`,
    );
    const r = await cli([
      "rebase",
      "--publish",
      "--json",
      "--force",
      "--run-image",
      `${reg.host}/base/run:1-not-there`,
      `${reg.host}/${apps[0]}`,
      "--from-file",
      list,
    ]);
    // the run image is missing: every image fails the same way (not found, exit 3)
    expect(r.code, r.stderr).toBe(3);
    const failed = JSON.parse(r.stdout) as {
      schemaVersion: number;
      images: { image: string; previousDigest?: string; digest?: string; error?: { code: string } }[];
      failed: string[];
    };
    expect(failed.schemaVersion).toBe(1);
    expect(failed.images.map((e) => e.image)).toEqual([
      `${reg.host}/${apps[0]}`,
      `${reg.host}/${apps[2]}`,
      `${reg.host}/${apps[3]}`,
      `${reg.host}/apps/gone:1`,
    ]);
    expect(failed.images.every((e) => e.error?.code === "IMAGE_NOT_FOUND" && !e.digest)).toBe(true);
    expect(failed.images[0]!.previousDigest).toBe(before[0]!.digest);

    const ok = await cli(["rebase", "--publish", "--json", `${reg.host}/${apps[0]}`, "--from-file", list]);
    expect(ok.code).toBe(3);
    const j = JSON.parse(ok.stdout) as typeof failed;
    expect(Object.keys(j)).toEqual(["schemaVersion", "images", "failed"]);
    expect(j.failed).toEqual([`${reg.host}/apps/gone:1`]);
    const [e0, e2, e3, gone] = j.images;
    expect(Object.keys(e0!)).toEqual(["image", "previousDigest", "digest"]);
    expect(e0!.previousDigest).toBe(before[0]!.digest);
    expect(e2!.previousDigest).toBe(before[2]!.digest);
    expect(e3!.previousDigest).toBe(before[3]!.digest);
    // nothing changed in the run image since: the same digests again (a rebase is reproducible)
    expect(e0!.digest).toBe(before[0]!.digest);
    expect(gone).toEqual({
      image: `${reg.host}/apps/gone:1`,
      error: { code: "IMAGE_NOT_FOUND", message: `no image docker://${reg.host}/apps/gone:1` },
    });
  }, 180_000);

  it("in the store: many images in one call, each keeps its layers", async () => {
    for (const n of ["s1", "s2"]) {
      const c = await cli(["copy", `docker://${reg.host}/apps/template:1`, `${n}:1`]);
      expect(c.code, c.stderr).toBe(0);
    }
    const r = await cli(["rebase", "--json", "s1:1", "s2:1"]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { images: { previousDigest: string; digest: string }[]; failed: [] };
    expect(j.failed).toEqual([]);
    expect(j.images.every((e) => e.digest !== e.previousDigest)).toBe(true);
    const run = await cli(["run", "s2:1"]);
    expect(run.stdout, run.stderr).toBe("hello from the app\n");
  }, 180_000);

  it("refuses flags that take one image, and an image named twice", async () => {
    const a = `${reg.host}/${apps[0]}`;
    const r = await cli(["rebase", "--publish", "--report-output-dir", dir, a, `${reg.host}/${apps[1]}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--report-output-dir takes one image; 2 were given");
    const lc = await cli(["rebase", "--publish", "--lifecycle", "builder", a, `${reg.host}/${apps[1]}`]);
    expect(lc.code).toBe(2);
    expect(lc.stderr).toContain("--lifecycle builder rebases one image; 2 were given");
    const twice = await cli(["rebase", "--publish", a, a]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain(`${a} is named twice`);
    const none = await cli(["rebase", "--from-file", join(dir, "no-such-file")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--from-file");
  }, 60_000);
});
